// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Crash sweep of the moving commands on local volumes (suite `crash_move`): rebalance-nodes,
// rebalance-disks (same filesystem, and a second disk on its own tmpfs), move-replicas and
// repair, each SIGKILLed at every fault point a clean run reaches (a daily-rotating sample in
// CI, all of them with CLSYNC_TEST_FULL=1) and at its renames, fsyncs and unlinks under strace.
// After each kill the volumes are walked here: no chunk has fewer intact replicas than before;
// a rerun reaches the intended layout with every replica's content unchanged and no leftovers.
#include "tests/integration/crash_sweep.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <cerrno>
#include <cstring>
#include <sys/mount.h>

namespace fs = std::filesystem;
using namespace clsync;
using clsync::test::CrashCase;
using clsync::test::ReplicaMap;

namespace {

std::string move_sweep_join(const std::vector<std::string>& v)
{
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < 8; ++i) {
    s += (i ? "; " : "") + v[i];
  }
  return v.size() > 8 ? s + "; …" : s;
}

/// Replicas per node (each chunk counted once per node), and the largest count of one chunk.
std::map<std::string, int> move_sweep_per_node(const ReplicaMap& m)
{
  std::map<std::string, int> per;
  for (const auto& [key, reps] : m) {
    std::set<std::string> nodes;
    for (const auto& r : reps) {
      nodes.insert(r.node);
    }
    for (const auto& n : nodes) {
      ++per[n];
    }
  }
  return per;
}

/// Cluster A of a SweepCluster, its volumes listed by path (not by clsync's topology loader).
struct ClusterACrash : CrashCase {
  test::SweepCluster c;
  std::string tail;
  std::vector<test::VolumesOfNode>& vols;
  ReplicaMap before;
  ReplicaMap original; ///< as the demo made it: the content every replica must keep

  ClusterACrash(const std::string& name, std::string args)
      : c(name), tail(std::move(args)), vols(c.a_vols)
  {
    original = test::walk_replicas(vols);
    REQUIRE(original.size() == 30);
  }
  void snapshot_before() { before = test::walk_replicas(vols); }
  std::string command() override
  {
    return c.a_args() + tail;
  }
  std::vector<fs::path> roots() const
  {
    std::vector<fs::path> r;
    for (const auto& n : vols) {
      r.insert(r.end(), n.volumes.begin(), n.volumes.end());
    }
    return r;
  }
  void check_after_kill(const std::string& label) override
  {
    const auto problems = test::replica_losses(before, test::walk_replicas(vols));
    CHECK_MESSAGE(problems.empty(), label, ": ", move_sweep_join(problems));
  }
  /// Every chunk on exactly `replicas` distinct nodes, one copy each, the demo's content.
  ReplicaMap check_intact(const std::string& label, int replicas = 2)
  {
    const auto now = test::walk_replicas(vols);
    const auto problems = test::replica_losses(original, now);
    CHECK_MESSAGE(problems.empty(), label, ": ", move_sweep_join(problems));
    CHECK_MESSAGE(now.size() == 30, label);
    int wrong = 0;
    for (const auto& [key, reps] : now) {
      wrong += static_cast<int>(reps.size()) != replicas ? 1 : 0;
    }
    CHECK_MESSAGE(wrong == 0, label, ": ", wrong, " chunk(s) without exactly ", replicas,
                  " replicas");
    const auto left = test::crash_leftovers(roots());
    CHECK_MESSAGE(left.empty(), label, ": left ", move_sweep_join(left));
    return now;
  }
};

struct RebalanceNodesCrash : ClusterACrash {
  explicit RebalanceNodesCrash(const std::string& n)
      : ClusterACrash(n, "rebalance-nodes --by count --concurrency 2")
  {
    snapshot_before();
  }
  void check_converged(const std::string& label) override
  {
    auto per = move_sweep_per_node(check_intact(label));
    CHECK_MESSAGE(per["P1-dn1"] + per["P2-dn1"] == 40, label);
    CHECK_MESSAGE(per["P3-dn1"] == 20, label);
  }
};

/// Drains P1-dn1: its 30 replicas all go to P3-dn1 (P2-dn1 holds the other replica of each).
struct MoveReplicasCrash : ClusterACrash {
  explicit MoveReplicasCrash(const std::string& n)
      : ClusterACrash(n, "move-replicas --from-node P1-dn1 --concurrency 2")
  {
    snapshot_before();
  }
  void check_converged(const std::string& label) override
  {
    auto per = move_sweep_per_node(check_intact(label));
    CHECK_MESSAGE(per["P1-dn1"] == 0, label);
    CHECK_MESSAGE(per["P3-dn1"] == 30, label);
  }
};

/// The drain above, killed while the trash remover works (core/run/trash_remover.hpp): what the
/// kill leaves on P1-dn1 must be what recovery finishes: every trash beside the intent that
/// names its chunk and, killed between a trash and its intent, an intent alone.
struct RemoverCrash : MoveReplicasCrash {
  bool trash_expected;
  RemoverCrash(const std::string& n, bool trash) : MoveReplicasCrash(n), trash_expected(trash) {}
  void check_after_kill(const std::string& label) override
  {
    MoveReplicasCrash::check_after_kill(label);
    std::set<std::string> trash, intents;
    for (const auto& v : vols[0].volumes) {
      for (const auto& e : fs::directory_iterator(v)) {
        const std::string name = e.path().filename().string();
        const std::string t = ".clsync-trash-", i = ".clsync-intent-";
        if (name.rfind(t, 0) == 0) {
          trash.insert(v.string() + "/" + name.substr(t.size()));
        } else if (name.rfind(i, 0) == 0) {
          intents.insert(v.string() + "/" + name.substr(i.size()));
        }
      }
    }
    for (const auto& t : trash) {
      CHECK_MESSAGE(intents.count(t), label, ": the trash of ", t, " without its intent");
    }
    if (trash_expected) {
      CHECK_MESSAGE(!trash.empty(), label, ": no trash left by the kill");
    } else {
      CHECK_MESSAGE(intents.size() > trash.size(), label, ": no intent without its trash");
    }
  }
};

/// 8 chunks lost their P2-dn1 replica; repair copies them back to 2.
struct RepairCrash : ClusterACrash {
  explicit RepairCrash(const std::string& n) : ClusterACrash(n, "repair --concurrency 2")
  {
    int i = 0;
    for (const auto& [key, reps] : original) {
      if (i++ % 4 == 0) {
        fs::remove_all(vols[1].volumes[0] / key);
      }
    }
    snapshot_before();
  }
  void check_converged(const std::string& label) override { check_intact(label); }
};

/// P1-dn1 gains a second disk (ssd1), on the same filesystem or on its own tmpfs.
struct RebalanceDisksCrash : ClusterACrash {
  fs::path second;
  bool mounted = false;
  bool renames = false; ///< one filesystem: every move is a rename
  RebalanceDisksCrash(const std::string& n, bool own_filesystem)
      : ClusterACrash(n, "rebalance-disks --node P1-dn1 --concurrency 2"), renames(!own_filesystem)
  {
    second = c.dir / "a" / "P1-dn1" / "ssd1";
    fs::create_directories(second);
    if (own_filesystem) {
      REQUIRE_MESSAGE(::mount("tmpfs", second.c_str(), "tmpfs", 0, "size=128m") == 0,
                      "mounting a tmpfs failed (tests run as root): ", std::strerror(errno));
      mounted = true;
    }
    second /= "chunkData";
    fs::create_directories(second);
    vols[0].volumes.push_back(second);
    test::write_file(c.a_yaml, test::sweep_topology("demo-a", vols));
    snapshot_before();
  }
  ~RebalanceDisksCrash() override
  {
    if (mounted) {
      ::umount2(second.parent_path().c_str(), MNT_DETACH);
    }
  }
  /// A rename (batched or not) never leaves a chunk in two places: no chunk has more replicas
  /// than before, and none fewer.
  void check_after_kill(const std::string& label) override
  {
    ClusterACrash::check_after_kill(label);
    if (!renames) {
      return;
    }
    std::vector<std::string> doubled;
    for (const auto& [key, reps] : test::walk_replicas(vols)) {
      auto it = before.find(key);
      if (it == before.end() || reps.size() > it->second.size()) {
        doubled.push_back(key + " has " + std::to_string(reps.size()) + " replicas");
      }
    }
    CHECK_MESSAGE(doubled.empty(), label, ": ", move_sweep_join(doubled));
  }
  void check_converged(const std::string& label) override
  {
    check_intact(label);
    const auto first = test::walk_replicas({{"P1-dn1", {vols[0].volumes[0]}}});
    const auto other = test::walk_replicas({{"P1-dn1", {second}}});
    CHECK_MESSAGE(first.size() == 15, label);
    CHECK_MESSAGE(other.size() == 15, label);
  }
};

/// Sites per command in CI (a site: a fresh copy, the killed run, the rerun, three walks).
constexpr std::size_t k_move_ci_budget = 4;
const std::vector<std::string> k_move_syscalls = {"renameat2", "renameat", "rename",
                                                  "fsync",     "unlinkat", "rmdir"};

template <class Case, class... Extra>
std::function<std::unique_ptr<CrashCase>(const std::string&)> move_maker(Extra... extra)
{
  return [=](const std::string& name) -> std::unique_ptr<CrashCase> {
    return std::make_unique<Case>(name, extra...);
  };
}

/// Calls of each syscall in an `strace -f -o` file, and the intent publications among the
/// renameat calls (a `.clsync-part-intent-*` renamed to its final name).
std::map<std::string, int> move_sweep_count_calls(const fs::path& trace)
{
  std::map<std::string, int> n;
  std::ifstream in(trace);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string pid, call;
    ls >> pid >> call;
    if (call.find('(') == std::string::npos) {
      continue;  // "<... resumed>"
    }
    call = call.substr(0, call.find('('));
    ++n[call];
    if (call == "renameat" && line.find(".clsync-part-intent-") != std::string::npos) {
      ++n["intent"];
    }
  }
  return n;
}

} // namespace

TEST_SUITE("crash_move")
{
  TEST_CASE("rebalance-nodes killed at every step: never below 2 replicas, rerun converges")
  {
    test::sweep_fault_points("rebalance-nodes/local", move_maker<RebalanceNodesCrash>(),
                             k_move_ci_budget);
    test::sweep_syscalls("rebalance-nodes/local/syscalls", move_maker<RebalanceNodesCrash>(),
                         k_move_syscalls, 2);
  }

  TEST_CASE("rebalance-disks on one filesystem killed at every step (renames)")
  {
    test::sweep_fault_points("rebalance-disks/same-fs", move_maker<RebalanceDisksCrash>(false),
                             k_move_ci_budget);
    test::sweep_syscalls("rebalance-disks/same-fs/syscalls",
                         move_maker<RebalanceDisksCrash>(false), k_move_syscalls, 2);
    // The 15 renames are one batch (core/run/rename_batch.hpp): killed between two of them
    // (first, last and a middle one of the batch), each chunk is at its source or its target.
    test::sweep_syscalls("rebalance-disks/same-fs/batch", move_maker<RebalanceDisksCrash>(false),
                         {"renameat2"}, 3);
    CHECK(test::kill_at_site("rebalance-disks/same-fs", move_maker<RebalanceDisksCrash>(false),
                             {"rename_batch_after_renames", 1}));
  }

  TEST_CASE("rebalance-disks onto another filesystem killed at every step (copies)")
  {
    test::sweep_fault_points("rebalance-disks/other-fs", move_maker<RebalanceDisksCrash>(true),
                             k_move_ci_budget);
  }

  TEST_CASE("killed after a trash: the rerun removes the dead run's holds on nodes it does not "
            "lease, finishes the move and leaves no duplicate")
  {
    // Found by the sweep: the re-count had held P2-dn1's replica, which rebalance-disks does
    // not lease; recovery skipped that hold, so the rerun could not count the replica, put the
    // trashed source back (a duplicate on P1-dn1) and the hold stayed for an hour. A drain of
    // P1-dn1 to P3-dn1 holds P2-dn1 the same way.
    CHECK(test::kill_at_site("rebalance-disks/other-fs", move_maker<RebalanceDisksCrash>(true),
                             {"after_trash", 1}));
    CHECK(test::kill_at_site("move-replicas/local", move_maker<MoveReplicasCrash>(),
                             {"after_trash", 1}));
  }

  TEST_CASE("killed while the trash remover works: the rerun removes the finished tasks' trash "
            "and intents")
  {
    // A finished task's trash and the intent on its volume (trash_removal), that intent alone
    // after its trash went (trash_removed): the first and a later job of the run.
    for (int nth : {1, 12}) {
      CHECK(test::kill_at_site("move-replicas/local/remover", move_maker<RemoverCrash>(true),
                               {"trash_removal", nth}));
      CHECK(test::kill_at_site("move-replicas/local/remover", move_maker<RemoverCrash>(false),
                               {"trash_removed", nth}));
    }
  }

  TEST_CASE("move-replicas drain killed at every step: the drained node empties on rerun")
  {
    test::sweep_fault_points("move-replicas/local", move_maker<MoveReplicasCrash>(),
                             k_move_ci_budget);
    test::sweep_syscalls("move-replicas/local/syscalls", move_maker<MoveReplicasCrash>(),
                         k_move_syscalls, 2);
  }

  TEST_CASE("repair killed at every step: the lost replicas come back on rerun")
  {
    test::sweep_fault_points("repair/local", move_maker<RepairCrash>(), k_move_ci_budget);
  }

  TEST_CASE("a local move: a chunk's fsyncs overlap on helper threads, and the holds of this "
            "machine's run skip the volume root's fsyncs")
  {
    // 30 chunks drained from P1-dn1 to P3-dn1, two tasks at a time. Before: each chunk's temp
    // was synced by its task's thread alone (2 threads in all), and each of a move's three
    // removal holds synced its volume root when placed and when released (13 root fsyncs a
    // chunk); the holder runs on this machine, so a crash that could lose them ends it too.
    MoveReplicasCrash c("fsync-placement");
    const fs::path trace = c.c.dir / "fsyncs.txt";
    const int rc = test::run_shell("strace -f -qq -o '" + trace.string() +
                                   "' -y -e trace=fsync " + CLSYNC_BINARY + " " + c.command() +
                                   " >/dev/null 2>&1");
    REQUIRE(rc == 0);
    c.check_converged("fsync placement");
    std::set<std::string> temp_threads;
    int temp = 0, roots = 0, hold_records = 0;
    std::ifstream calls(trace);
    const std::regex call(R"(^(\d+)\s+fsync\(\d+<([^>]*)>)");
    for (std::string line; std::getline(calls, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, call)) {
        continue;  // "<... fsync resumed>": counted at its first half
      }
      const std::string path = m[2];
      if (path.find("/.clsync-tmp-") != std::string::npos) {
        ++temp;
        temp_threads.insert(m[1]);
      } else if (path.find("/.clsync-part-intent-hold") != std::string::npos) {
        ++hold_records;
      } else if (path.size() >= 10 && path.compare(path.size() - 10, 10, "/chunkData") == 0) {
        ++roots;
      }
    }
    INFO("temp fsyncs ", temp, " on ", temp_threads.size(), " threads; root fsyncs ", roots,
         "; hold records ", hold_records);
    CHECK(temp >= 30 * 3);              // every file and directory of each chunk, still
    CHECK(temp_threads.size() > 2);     // helpers of the two workers
    CHECK(hold_records == 30 * 3);      // a hold's record is still synced before it is linked
    CHECK(roots <= 30 * 8);             // 13 a chunk before
  }

  TEST_CASE("a local move walks each chunk's files fewer times: the writer trusts what it "
            "wrote, the survivor's early hash is one read, the re-count fingerprints only what "
            "it counts")
  {
    // 30 chunks drained from P1-dn1 to P3-dn1. A walk of a chunk (walk_chunk) begins with an
    // openat of "." in the chunk's directory and stats every entry. Before: 15 walks a chunk
    // (the writer's after its fsyncs, a fingerprint before the survivor's early hash, the
    // re-count's locate_chunk fingerprinting every replica of every node, ...), 10 now; the
    // inventory scan's walks (2 a chunk) are in both. Measured: 453 walks and 15,050 newfstatat
    // before, 303 and 10,569 now.
    MoveReplicasCrash c("walks");
    const fs::path trace = c.c.dir / "walks.txt";
    const int rc = test::run_shell("strace -f -qq -o '" + trace.string() +
                                   "' -e trace=openat,newfstatat -e status=successful " +
                                   CLSYNC_BINARY + " " + c.command() + " >/dev/null 2>&1");
    REQUIRE(rc == 0);
    c.check_converged("walks");
    int walks = 0, stats = 0;
    std::ifstream calls(trace);
    for (std::string line; std::getline(calls, line);) {
      walks += line.find(" openat(") != std::string::npos &&
                       line.find(", \".\", O_RDONLY") != std::string::npos
                   ? 1
                   : 0;
      stats += line.find(" newfstatat(") != std::string::npos ? 1 : 0;
    }
    INFO("walks ", walks, ", newfstatat ", stats, " for 30 chunks");
    CHECK(walks > 30 * 5);   // the scan, both fingerprints of the source, the read, the trash...
    CHECK(walks <= 30 * 11); // 15 a chunk before
    CHECK(stats > 0);
    CHECK(stats < 12'500);   // each walk stats every file
  }

  TEST_CASE("rebalance-disks on one filesystem: one intent per batch, each directory synced once")
  {
    // Before batching, each rename wrote and removed two intents of its own and synced its
    // parents: 8 or more fsyncs and 2 intent publications per chunk.
    RebalanceDisksCrash c("rename-batch-syscalls", false);
    const fs::path trace = c.c.dir / "calls.txt";
    const int rc = test::run_shell("strace -f -qq -o '" + trace.string() +
                                   "' -y -e trace=fsync,fdatasync,renameat,renameat2 " +
                                   CLSYNC_BINARY + " " + c.command() + " >/dev/null 2>&1");
    REQUIRE(rc == 0);
    c.check_converged("rename batch");
    const auto n = move_sweep_count_calls(trace);
    INFO("fsync ", n.count("fsync") ? n.at("fsync") : 0, ", renameat2 ",
         n.count("renameat2") ? n.at("renameat2") : 0, ", intents ",
         n.count("intent") ? n.at("intent") : 0);
    CHECK(n.count("renameat2") == 1);
    CHECK(n.at("renameat2") >= 15);    // the chunks' renames
    CHECK(n.count("intent") == 1);
    CHECK(n.at("intent") == 2);        // one record at each volume's root for the batch
    CHECK(n.at("fsync") < 4 * 15);     // each touched directory once, intents per batch
    // Each chunk's parent (<db>/<date>/<hash>) holds only it: the chunk moves with its parent,
    // so the batch syncs the shared date directories above, and no directory of a chunk's own
    // (33 fsyncs in all before, 15 of them such directories; 18 now).
    std::ifstream calls(trace);
    const std::regex own_dir(R"(fsync\(\d+<.*/Level1[^/]*/\d{8}/[^/>]+>\))");
    int own = 0;
    for (std::string line; std::getline(calls, line);) {
      own += std::regex_search(line, own_dir) ? 1 : 0;
    }
    CHECK(own == 0);
  }
}
