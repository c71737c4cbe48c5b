// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Disk and I/O faults under sync-online (suite `faults_disk`, issue 11 item 2): B's volume
// filling up or failing a write mid-copy, EIO from each renameat2 while B's chunks are replaced
// in place, B's volume remounted read-only mid-round, and A's volume unmounted (lazily)
// mid-copy. After each: a clear error naming what failed, exit 1 or 3, A untouched, every chunk
// on B whole (A's old content or its new, never a mix), and a rerun without the fault that
// makes B equal to A and leaves nothing of clsync's behind.
#include "tests/integration/faults_fixture.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <set>

namespace fs = std::filesystem;
using namespace clsync::test;
using namespace clsync::test::faults;

namespace faults_sync_cases {

/// A (one local node a1) and B (b1 on `b_volume`, b2 on a directory, replication 2), two chunks
/// on A, and the sync of A into B with its own state directory.
struct SyncCase {
  fs::path dir;
  FaultCluster a;
  FaultCluster b;
  std::map<std::string, std::string> first;  ///< key -> digest of A's chunk before change_a()
  std::map<std::string, std::string> second; ///< after it (empty until then)

  SyncCase(const fs::path& d, const fs::path& b_volume)
      : dir(d), a(d / "a", 1, {{"a1", {d / "a" / "v1"}}}),
        b(d / "b", 2, {{"b1", {b_volume}}, {"b2", {d / "b" / "v2"}}})
  {
    put_fault_file(a_chunk(k_key_a) / "c0.col", 1 << 20, 21);
    put_fault_file(a_chunk(k_key_a) / "c1.col", 1 << 20, 22);
    put_fault_file(a_chunk(k_key_b) / "c0.col", 1 << 20, 23);
    first = a_digests();
  }
  fs::path a_chunk(const std::string& key) const { return dir / "a" / "v1" / key; }
  std::map<std::string, std::string> a_digests() const
  {
    return {{k_key_a, fault_tree_digest(a_chunk(k_key_a))},
            {k_key_b, fault_tree_digest(a_chunk(k_key_b))}};
  }
  std::string sync(const std::string& more = "") const
  {
    return "--state-dir " + fault_quote((dir / "state").string()) + " sync-online --from " +
           fault_quote(a.yaml.string()) + " --to " + fault_quote(b.yaml.string()) + more;
  }
  /// Rewrites one file of each chunk on A (a new size and content), so that the next round
  /// replaces both of B's chunks in place.
  void change_a()
  {
    put_fault_file(a_chunk(k_key_a) / "c1.col", (1 << 20) + 4096, 31);
    put_fault_file(a_chunk(k_key_b) / "c0.col", (1 << 20) + 4096, 32);
    second = a_digests();
  }

  /// A is as the test left it, and every replica on B is one of A's versions, whole. A temp is
  /// left only by a run that said its new copy is committed (an exchange or the trash of the old
  /// version failed after the set's intents were marked committed: recovery takes it forward),
  /// and it is whole too: the new version before its exchange, the old one after.
  void check_whole(const std::string& when, const std::string& said = "") const
  {
    CHECK_MESSAGE(a_digests() == (second.empty() ? first : second), when << ": A changed");
    for (const auto& key_nodes : replica_digests(b)) {
      const auto& key = key_nodes.first; // named, not bound: doctest's lambdas
      const auto& nodes = key_nodes.second; // capture them (clang 14)
      for (const auto& node_d : nodes) {
        const auto& d = node_d.second;
        const bool known = d == first.at(key) || (!second.empty() && d == second.at(key));
        CHECK_MESSAGE(known, when << ": B's replica of " << key << " on " << node_d.first
                                  << " is neither of A's versions");
      }
    }
    const bool committed = contains(said, "the new copy is committed; the next run completes");
    for (const auto& l : clsync_leftovers(b)) {
      if (l.find(".clsync-tmp-") == std::string::npos) {
        continue;
      }
      bool whole = false;
      for (const auto* version : {&first, &second}) {
        for (const auto& key_d : *version) {
          whole = whole || fault_tree_digest(l) == key_d.second;
        }
      }
      CHECK_MESSAGE(committed, when << ": left " << l << " but did not say it is committed");
      CHECK_MESSAGE(whole, when << ": " << l << " is neither of A's versions");
    }
  }

  /// The round again without the fault: exit 0, B's two replicas of each chunk equal to A's,
  /// nothing of clsync's left on B.
  void check_rerun_converges(const std::string& when) const
  {
    Outcome r = run_clsync_all(sync());
    INFO(when, ": the rerun said:\n", r.out);
    CHECK(r.code == 0);
    const auto want = a_digests();
    auto now = replica_digests(b);
    for (const auto& key_digest : want) {
      const auto& key = key_digest.first; // named, not bound: doctest's lambdas
      CHECK(now[key].size() == 2);
      for (const auto& node_d : now[key]) {
        CHECK_MESSAGE(node_d.second == key_digest.second,
                      when << ": " << key << " on " << node_d.first << " after the rerun");
      }
    }
    CHECK(clsync_leftovers(b).empty());
  }
};

} // namespace faults_sync_cases

using namespace faults_sync_cases;

TEST_SUITE("faults_disk")
{
  TEST_CASE("sync-online: the target fills up, or its first write fails with EIO, mid-copy")
  {
    for (const std::string fault : {"ENOSPC", "EIO"}) {
      CAPTURE(fault);
      fs::path d = scratch_dir("fd-sync-" + fault);
      FaultTmpfs t(d / "b-vol", "size=16m");
      FaultCluster a(d / "a", 1, {{"a1", {d / "a" / "v1"}}});
      FaultCluster b(d / "b", 1, {{"b1", {t.path()}}});
      put_fault_file(d / "a" / "v1" / k_key_a / "a.col", 2 << 20, 7);
      put_fault_file(d / "a" / "v1" / k_key_b / "b.col", 2 << 20, 8);
      const std::string source = fault_tree_digest(d / "a" / "v1");
      const std::string sync = "--state-dir " + fault_quote((d / "state").string()) +
                               " sync-online --from " + fault_quote(a.yaml.string()) + " --to " +
                               fault_quote(b.yaml.string());
      {
        PausedRun run(sync, "mid_copy", d / "pause");
        REQUIRE(run.reached());
        if (fault == "ENOSPC") {
          fill_leaving(t.path(), 256 << 10);
        } else {
          attach_eio(run.pid(), d / "strace.log", "write", 1);
        }
        Outcome o = run.finish();
        check_failed(o, {fault == "ENOSPC" ? "No space left on device" : "Input/output error",
                         t.path().string()});
      }
      // Whatever B holds is whole; A is untouched; no temp is left.
      for (const std::string& key : {k_key_a, k_key_b}) {
        if (fs::exists(t.path() / key)) {
          CHECK(fault_tree_digest(t.path() / key) == fault_tree_digest(d / "a" / "v1" / key));
        }
      }
      CHECK(fault_tree_digest(d / "a" / "v1") == source);
      for (const auto& l : clsync_leftovers(b)) {
        CHECK_MESSAGE(l.find(".clsync-tmp-") == std::string::npos, l);
      }
      fs::remove(t.path() / "filler");
      Outcome r = run_clsync_all(sync);
      INFO("the rerun said:\n", r.out);
      CHECK(r.code == 0);
      for (const std::string& key : {k_key_a, k_key_b}) {
        REQUIRE(fs::exists(t.path() / key));
        CHECK(fault_tree_digest(t.path() / key) == fault_tree_digest(d / "a" / "v1" / key));
      }
      CHECK(clsync_leftovers(b).empty());
    }
  }

  TEST_CASE("sync-online: EIO from each renameat2 while B's chunks are replaced in place")
  {
    // The exchange of each replica, its intents and the trash of the old version: whichever
    // call fails, B's replicas are whole (old or new) and a rerun finishes the set. One task at
    // a time: strace counts a call's arrivals per thread, so the probe's numbers hold.
    const fs::path base = scratch_dir("fd-sync-rename");
    std::vector<TracedCall> calls;
    {
      SyncCase probe(base / "probe", base / "probe" / "b" / "v1");
      REQUIRE(run_clsync_all(probe.sync()).code == 0);
      probe.change_a();
      calls = trace_calls(base / "probe.log", "renameat2", probe.sync(" --parallel 1"));
    }
    REQUIRE(calls.size() >= 4);
    int injected_runs = 0;
    const auto points = sample_points(static_cast<int>(calls.size()), 5);
    for (int n : points) {
      const fs::path d = base / ("n" + std::to_string(n));
      SyncCase c(d, d / "b" / "v1");
      REQUIRE(run_clsync_all(c.sync()).code == 0);
      c.change_a();
      bool injected = false;
      Outcome o = run_with_eio(d / "strace.log", "renameat2", n, c.sync(" --parallel 1"), injected);
      const std::string what = "renameat2 call " + std::to_string(n) + " of " +
                               std::to_string(calls.size()) + " (" +
                               injected_call(d / "strace.log") + ")";
      CAPTURE(what);
      INFO("clsync said:\n", o.out);
      if (!injected) {
        continue; // this run made fewer calls than the probe (threads, timing)
      }
      ++injected_runs;
      CHECK((o.code == 0 || o.code == 1 || o.code == 3));
      if (o.code != 0) {
        CHECK(contains(o.out, "Input/output error"));
      }
      c.check_whole("after " + what, o.out);
      c.check_rerun_converges("after " + what);
    }
    MESSAGE("sync-online renameat2: " << calls.size() << " calls, " << points.size()
                                      << " swept, " << injected_runs << " injected");
    CHECK(injected_runs >= static_cast<int>(points.size()) / 2);
  }

  TEST_CASE("sync-online: B's volume is remounted read-only mid-round")
  {
    // One task at a time, so that no other has a file open when the first pauses.
    const fs::path d = scratch_dir("fd-sync-ro");
    FaultTmpfs t(d / "b-vol", "size=64m");
    SyncCase c(d, t.path());
    REQUIRE(run_clsync_all(c.sync()).code == 0);
    c.change_a();
    run_into_read_only(c.sync(" --parallel 1"), t, d / "pause");
    c.check_whole("after a read-only remount");
    // The intents could not be removed from a read-only volume: the rerun's recovery does.
    t.remount("rw");
    c.check_rerun_converges("after a read-only remount");
  }

  TEST_CASE("sync-online: A's volume is unmounted (lazily) mid-copy, then mounted again")
  {
    const fs::path d = scratch_dir("fd-sync-umount");
    SyncCase c(d, d / "b" / "v1");
    DetachableVolume a1(d / "a" / "v1", d / "disk");
    {
      PausedRun run(c.sync(" --delete"), "mid_copy", d / "pause");
      REQUIRE(run.reached());
      a1.detach();
      Outcome o = run.finish();
      check_failed(o, {"a1"});
    }
    // Whatever B holds came whole from A, and --delete removed nothing in a failed round.
    a1.attach();
    c.check_whole("after A's volume vanished");
    c.check_rerun_converges("after A's volume came back");
  }
}
