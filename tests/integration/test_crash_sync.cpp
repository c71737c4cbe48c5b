// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Crash sweep of sync-online (suite `crash_sync`): cluster B already holds 20 of A's 30 chunks, 5 of
// which A has since changed; a round that adds 10 more and replaces the 5 is SIGKILLed at every
// fault point it reaches (sampled in CI, all with CLSYNC_TEST_FULL=1) and at its syscalls under
// strace. Walked from outside clsync after each kill: none of B's chunks has fewer replicas than
// before, and every replica is B's old content or A's current one (never torn); a rerun leaves
// B equal to A with no leftovers.
#include "tests/integration/crash_sweep.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <set>

#include <algorithm>
#include <fstream>

namespace fs = std::filesystem;
using namespace clsync;
using clsync::test::CrashCase;
using clsync::test::ReplicaMap;

namespace {

std::string sync_sweep_join(const std::vector<std::string>& v)
{
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < 8; ++i) {
    s += (i ? "; " : "") + v[i];
  }
  return v.size() > 8 ? s + "; …" : s;
}

/// Appends a few bytes to the first regular file of a changed chunk, on every one of A's replicas
/// `chunks`, then gives that file the first replica's mtime everywhere: A's replicas stay exact
/// copies of each other. (Appended one after the other, their mtimes differed whenever a clock
/// tick fell between the appends; sync then rightly copied the replica it read, which was not
/// always the one the check took as "A's content".)
void sync_sweep_change(const std::vector<fs::path>& chunks)
{
  REQUIRE(!chunks.empty());
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(chunks[0])) {
    if (e.is_regular_file()) {
      files.push_back(e.path().lexically_relative(chunks[0]));
    }
  }
  REQUIRE(!files.empty());
  std::sort(files.begin(), files.end());
  for (const auto& chunk : chunks) {
    std::ofstream(chunk / files[0], std::ios::app) << "changed by crash_sync";
  }
  const auto mtime = fs::last_write_time(chunks[0] / files[0]);
  for (const auto& chunk : chunks) {
    fs::last_write_time(chunk / files[0], mtime);
  }
}

struct SyncCrash : CrashCase {
  test::SweepCluster c;
  std::vector<test::VolumesOfNode>&a_vols, &b_vols;
  ReplicaMap b_before;
  std::map<std::string, std::string> a_now; ///< chunk → A's content (the sync's target)

  explicit SyncCrash(const std::string& name) : c(name), a_vols(c.a_vols), b_vols(c.b_vols)
  {
    REQUIRE(test::run_clsync(round("'date<=2020.06.02'") + " >/dev/null 2>&1") == 0);
    int changed = 0;
    for (const auto& [key, reps] : test::walk_replicas(b_vols)) {
      if (changed < 5 && key.rfind("Level1/", 0) == 0) {
        ++changed;
        std::vector<fs::path> replicas;
        for (const auto& n : a_vols) {
          if (fs::exists(n.volumes[0] / key)) {
            replicas.push_back(n.volumes[0] / key);
          }
        }
        sync_sweep_change(replicas);
      }
    }
    REQUIRE(changed == 5);
    b_before = test::walk_replicas(b_vols);
    REQUIRE(b_before.size() == 20);
    for (const auto& key_reps : test::walk_replicas(a_vols)) {
      const auto& key = key_reps.first; // named, not bound: doctest's lambdas
      const auto& reps = key_reps.second; // capture them (clang 14)
      // The premise of every check below: A's replicas of a chunk are one content, whichever
      // of them sync reads.
      for (const auto& r : reps) {
        REQUIRE_MESSAGE(r.digest == reps.at(0).digest, key, " on ", r.node, " differs from ",
                        reps.at(0).node, " in A itself");
      }
      a_now[key] = reps.at(0).digest;
    }
    REQUIRE(a_now.size() == 30);
  }
  std::string round(const std::string& where)
  {
    return "--state-dir '" + c.state.string() + "' sync-online --from '" + c.a_yaml.string() +
           "' --to '" + c.b_yaml.string() + "' --concurrency 2 --db Level1 --where " + where;
  }
  std::string command() override { return round("'date<=2020.06.03'"); }
  void check_after_kill(const std::string& label) override
  {
    const auto now = test::walk_replicas(b_vols);
    const auto problems = test::replica_losses(b_before, now, a_now);
    CHECK_MESSAGE(problems.empty(), label, ": ", sync_sweep_join(problems));
    for (const auto& key_reps : now) {
      const auto& key = key_reps.first; // named, not bound: doctest's lambdas
      const auto& reps = key_reps.second; // capture them (clang 14)
      if (!b_before.count(key)) {
        for (const auto& r : reps) {
          CHECK_MESSAGE(r.digest == a_now[key], label, ": new ", key, " on ", r.node, " torn");
        }
      }
    }
  }
  void check_converged(const std::string& label) override
  {
    const auto now = test::walk_replicas(b_vols);
    CHECK_MESSAGE(now.size() == 30, label);
    for (const auto& key_reps : now) {
      const auto& key = key_reps.first; // named, not bound: doctest's lambdas
      const auto& reps = key_reps.second; // capture them (clang 14)
      std::set<std::string> nodes;
      for (const auto& r : reps) {
        CHECK_MESSAGE(r.digest == a_now[key], label, ": ", key, " on ", r.node, " differs from A");
        nodes.insert(r.node);
      }
      CHECK_MESSAGE(nodes.size() == 2, label, ": ", key, " on ", nodes.size(), " node(s)");
    }
    std::vector<fs::path> roots;
    for (const auto& n : b_vols) {
      roots.push_back(n.volumes[0]);
    }
    const auto left = test::crash_leftovers(roots);
    CHECK_MESSAGE(left.empty(), label, ": left ", sync_sweep_join(left));
  }
};

} // namespace

TEST_SUITE("crash_sync")
{
  TEST_CASE("sync-online killed at every step: B never loses a replica nor keeps a torn one")
  {
    auto make = [](const std::string& name) -> std::unique_ptr<CrashCase> {
      return std::make_unique<SyncCrash>(name);
    };
    test::sweep_fault_points("sync-online/local", make, 6);
    test::sweep_syscalls("sync-online/local/syscalls", make,
                         {"renameat2", "renameat", "rename", "fsync", "unlinkat"}, 2);
  }
}
