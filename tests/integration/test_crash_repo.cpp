// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Crash sweep of the repository commands (suite `crash_repo`): backup, push and restore, each
// SIGKILLed at every fault point a clean run reaches (sampled in CI, all with CLSYNC_TEST_FULL=1)
// and at syscalls under strace. Checked from outside clsync after every kill: the repository's
// snapshots name only objects that are there with their recorded size and SHA-256 (sha256sum);
// the cluster's replicas are untouched (backup) or complete where they have their final name
// (restore); a rerun converges with no `.clsync-*` or `.partial` left.
#include "tests/integration/crash_sweep.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>

namespace fs = std::filesystem;
using namespace clsync;
using clsync::test::CrashCase;
using clsync::test::ReplicaMap;

namespace {

std::string repo_sweep_join(const std::vector<std::string>& v)
{
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < 8; ++i) {
    s += (i ? "; " : "") + v[i];
  }
  return v.size() > 8 ? s + "; …" : s;
}

/// The path of every fsync `command` (clsync's arguments) makes, under strace.
std::vector<std::string> fsynced_paths(const fs::path& dir, const std::string& command)
{
  const fs::path trace = dir / "fsyncs.txt";
  REQUIRE(test::run_shell("strace -f -qq -o '" + trace.string() + "' -y -e trace=fsync " +
                          CLSYNC_BINARY + " " + command + " >/dev/null 2>&1") == 0);
  std::vector<std::string> paths;
  std::ifstream calls(trace);
  const std::regex call(R"(^\d+\s+fsync\(\d+<([^>]*)>)");
  for (std::string line; std::getline(calls, line);) {
    std::smatch m;
    if (std::regex_search(line, m, call)) { // "<... fsync resumed>": counted at its first half
      paths.push_back(m[1]);
    }
  }
  return paths;
}

int count_containing(const std::vector<std::string>& paths, const std::string& part)
{
  return static_cast<int>(std::count_if(paths.begin(), paths.end(), [&](const std::string& p) {
    return p.find(part) != std::string::npos;
  }));
}

/// Backs cluster A's 30 chunks up into a fresh local repository.
struct BackupCrash : CrashCase {
  test::SweepCluster c;
  fs::path repo;
  ReplicaMap before;
  explicit BackupCrash(const std::string& name) : c(name), repo(c.dir / "new-repo")
  {
    before = test::walk_replicas(c.a_vols);
    REQUIRE(before.size() == 30);
  }
  std::string command() override
  {
    return c.a_args() + "backup --concurrency 2 --to '" + repo.string() + "'";
  }
  void check_cluster(const std::string& label)
  {
    const auto problems = test::replica_losses(before, test::walk_replicas(c.a_vols));
    CHECK_MESSAGE(problems.empty(), label, ": ", repo_sweep_join(problems));
  }
  void check_after_kill(const std::string& label) override
  {
    check_cluster(label);
    const auto problems = test::repository_problems(repo);
    CHECK_MESSAGE(problems.empty(), label, ": ", repo_sweep_join(problems));
  }
  void check_converged(const std::string& label) override
  {
    check_cluster(label);
    std::size_t named = 0;
    const auto problems = test::repository_problems(repo, &named);
    CHECK_MESSAGE(problems.empty(), label, ": ", repo_sweep_join(problems));
    CHECK_MESSAGE(!test::snapshot_ids(repo).empty(), label);
    CHECK_MESSAGE(named == 30, label);
    auto roots = c.volumes();
    roots.push_back(repo);
    const auto left = test::crash_leftovers(roots);
    CHECK_MESSAGE(left.empty(), label, ": left ", repo_sweep_join(left));
  }
};

/// Pushes the 30-object repository to a fresh local one.
struct PushCrash : CrashCase {
  test::SweepCluster c;
  fs::path src, dest;
  explicit PushCrash(const std::string& name) : c(name, true), src(c.dir / "repo"), dest(c.dir / "dest")
  {
    std::size_t named = 0;
    REQUIRE(test::repository_problems(src, &named).empty());
    REQUIRE(named == 30);
  }
  std::string command() override
  {
    return "push --parallel 2 '" + src.string() + "' '" + dest.string() + "'";
  }
  void check_after_kill(const std::string& label) override
  {
    const auto problems = test::repository_problems(dest);
    CHECK_MESSAGE(problems.empty(), label, ": ", repo_sweep_join(problems));
  }
  void check_converged(const std::string& label) override
  {
    std::size_t named = 0;
    const auto problems = test::repository_problems(dest, &named);
    CHECK_MESSAGE(problems.empty(), label, ": ", repo_sweep_join(problems));
    CHECK_MESSAGE(test::snapshot_ids(dest) == test::snapshot_ids(src), label);
    CHECK_MESSAGE(named == 30, label);
    const auto left = test::crash_leftovers({src, dest});
    CHECK_MESSAGE(left.empty(), label, ": left ", repo_sweep_join(left));
  }
};

/// Restores the repository's 30 chunks onto the empty cluster B (2 replicas each).
struct RestoreCrash : CrashCase {
  test::SweepCluster c;
  fs::path repo;
  std::map<std::string, std::string> a_digest; ///< chunk → the content every replica must have
  explicit RestoreCrash(const std::string& name) : c(name, true), repo(c.dir / "repo")
  {
    for (const auto& [key, reps] : test::walk_replicas(c.a_vols)) {
      a_digest[key] = reps.at(0).digest;
    }
    REQUIRE(a_digest.size() == 30);
  }
  std::string command() override
  {
    return "-c '" + c.b_yaml.string() + "' --state-dir '" + c.state.string() +
           "' restore --concurrency 2 --from '" + repo.string() + "'";
  }
  /// Every chunk B holds under its final name is complete and equal to A's.
  std::map<std::string, int> check_complete(const std::string& label)
  {
    std::map<std::string, int> nodes_of;
    for (const auto& key_reps : test::walk_replicas(c.b_vols)) {
      const auto& key = key_reps.first; // named, not bound: doctest's lambdas
      const auto& reps = key_reps.second; // capture them (clang 14)
      std::set<std::string> nodes;
      for (const auto& r : reps) {
        CHECK_MESSAGE(r.digest == a_digest[key], label, ": ", key, " on ", r.node,
                      " is not A's content");
        nodes.insert(r.node);
      }
      nodes_of[key] = static_cast<int>(nodes.size());
    }
    return nodes_of;
  }
  void check_after_kill(const std::string& label) override { check_complete(label); }
  void check_converged(const std::string& label) override
  {
    const auto nodes_of = check_complete(label);
    CHECK_MESSAGE(nodes_of.size() == 30, label);
    for (const auto& key_n : nodes_of) {
      const auto& key = key_n.first; // named, not bound: doctest's lambdas
      const auto& n = key_n.second; // capture them (clang 14)
      CHECK_MESSAGE(n == 2, label, ": ", key, " on ", n, " node(s)");
    }
    auto roots = c.volumes();
    roots.push_back(repo);
    const auto left = test::crash_leftovers(roots);
    CHECK_MESSAGE(left.empty(), label, ": left ", repo_sweep_join(left));
  }
};

constexpr std::size_t k_repo_ci_budget = 4;
const std::vector<std::string> k_repo_syscalls = {"renameat2", "renameat", "rename", "fsync",
                                                  "unlinkat"};

template <class Case>
std::function<std::unique_ptr<CrashCase>(const std::string&)> repo_maker()
{
  return [](const std::string& name) -> std::unique_ptr<CrashCase> {
    return std::make_unique<Case>(name);
  };
}

} // namespace

TEST_SUITE("crash_repo")
{
  TEST_CASE("backup killed at every step: snapshots name only complete objects; rerun converges")
  {
    test::sweep_fault_points("backup/local", repo_maker<BackupCrash>(), k_repo_ci_budget);
    test::sweep_syscalls("backup/local/syscalls", repo_maker<BackupCrash>(), k_repo_syscalls, 2);
  }

  TEST_CASE("backup syncs each object's content and name once, and object records not at all")
  {
    // Before: 9 fsyncs an object (the temp's directory at its commit, a new objects/<aa> when
    // made and again after the rename, the object record, its directory and new parents). The
    // rename's directories are what make an object's name durable before a snapshot names it;
    // a record is a cache that a crash may lose (the chunk is read again).
    BackupCrash b("backup-fsyncs");
    const auto paths = fsynced_paths(b.c.dir, b.command());
    b.check_converged("backup under strace");
    std::size_t objects = 0;
    for (const auto& e : fs::recursive_directory_iterator(b.repo / "objects")) {
      objects += e.is_regular_file() ? 1 : 0;
    }
    REQUIRE(objects == 30);
    const int object_files = count_containing(paths, ".tar.zst");
    const int records = count_containing(paths, "/cache/objects");
    INFO("fsyncs ", paths.size(), " for ", objects, " objects; of object files ", object_files,
         "; of object records ", records);
    CHECK(object_files == 30); // every object's content, once
    CHECK(records == 0);
    CHECK(paths.size() <= 30 * 5 + 20); // 9 an object before; 20 for snapshot, markers, leases
  }

  TEST_CASE("push syncs each object's partial once, when it is complete")
  {
    // Before: also when it was opened, though a new partial is empty (nothing to make
    // durable); a partial that a killed push left is still synced before it is built on.
    PushCrash p("push-fsyncs");
    const auto paths = fsynced_paths(p.c.dir, p.command());
    p.check_converged("push under strace");
    INFO("fsyncs ", paths.size());
    CHECK(count_containing(paths, ".partial") == 30);
  }

  TEST_CASE("push killed at every step: DEST's snapshots name only complete objects")
  {
    test::sweep_fault_points("push/local", repo_maker<PushCrash>(), k_repo_ci_budget);
    test::sweep_syscalls("push/local/syscalls", repo_maker<PushCrash>(), k_repo_syscalls, 2);
  }

  TEST_CASE("restore killed at every step: no torn replica under a final name; rerun converges")
  {
    test::sweep_fault_points("restore/local", repo_maker<RestoreCrash>(), k_repo_ci_budget);
    test::sweep_syscalls("restore/local/syscalls", repo_maker<RestoreCrash>(), k_repo_syscalls,
                         2);
  }
}
