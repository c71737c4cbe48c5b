// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Disk and I/O faults (suite `faults_disk`, issue 11 item 2) against the real binary: a full
// tmpfs (bytes, then inodes) filled at the moment a copy is under way, EIO injected by strace
// into fsync, write and renameat2, a destination remounted read-only mid-copy and a source
// volume unmounted (lazily) mid-copy. After each: a clear error naming what failed, exit 1 or
// 3, the source intact, no torn copy, and a rerun without the fault that converges and leaves
// nothing of clsync's behind. CI samples the strace call numbers; CLSYNC_TEST_FULL=1 sweeps all.
#include "tests/integration/faults_fixture.hpp"
#include "tests/support/chunk_tree.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <set>
#include <sstream>
#include <sys/statvfs.h>

namespace fs = std::filesystem;
using namespace clsync::test;
using namespace clsync::test::faults;

namespace faults_disk_cases {

/// Source node n1 (a plain directory) holding two chunks; destination node n2 whose volume is
/// `dst` (a tmpfs of the case). Replication 1: draining n1 moves both chunks to n2.
struct MoveCase {
  fs::path dir;
  FaultCluster c;
  std::map<std::string, std::string> before; ///< key → tree digest of its only replica

  MoveCase(const fs::path& d, const fs::path& dst, std::uint64_t file_size, int files = 2)
      : dir(d), c(d, 1, {{"n1", {d / "n1"}}, {"n2", {dst}}})
  {
    for (int i = 0; i < files; ++i) {
      put_fault_file(d / "n1" / k_key_a / ("c" + std::to_string(i) + ".col"), file_size, 10 + i);
    }
    put_fault_file(d / "n1" / k_key_b / "c.col", file_size, 3);
    for (const auto& [key, by_node] : replica_digests(c)) {
      before[key] = by_node.at("n1");
    }
    REQUIRE(before.size() == 2);
  }
  std::string drain() const { return c.args() + "move-replicas --from-node n1 --concurrency 1"; }

  /// No replica lost or changed: every chunk on n1 or n2 (or both), each copy exact.
  void check_intact(const std::string& when) const
  {
    auto now = replica_digests(c);
    for (const auto& key_digest : before) {
      const auto& key = key_digest.first; // named, not bound: doctest's lambdas
      const auto& digest = key_digest.second; // capture them (clang 14)
      CHECK_MESSAGE(!now[key].empty(), when << ": " << key << " has no replica");
      for (const auto& node_d : now[key]) {
        const auto& node = node_d.first; // named, not bound: doctest's lambdas
        const auto& d = node_d.second; // capture them (clang 14)
        CHECK_MESSAGE(d == digest, when << ": the replica of " << key << " on " << node
                                        << " differs from the source");
      }
    }
    CHECK(now.size() == before.size());
  }

  /// No temp directory is left on any volume.
  void check_no_temp(const std::string& when) const
  {
    for (const auto& l : clsync_leftovers(c)) {
      CHECK_MESSAGE(l.find(".clsync-tmp-") == std::string::npos, when << ": " << l);
    }
  }

  /// The drain run again without a fault: exit 0, both chunks on n2 only, unchanged, no leftover.
  void check_rerun_converges(const std::string& when) const
  {
    Outcome r = run_clsync_all(drain());
    INFO(when, ": the rerun said:\n", r.out);
    CHECK(r.code == 0);
    auto now = replica_digests(c);
    for (const auto& [key, digest] : before) {
      CHECK(now[key].size() == 1);
      CHECK(now[key]["n2"] == digest);
    }
    auto left = clsync_leftovers(c);
    CHECK_MESSAGE(left.empty(), when << ": left behind: " << (left.empty() ? "" : left.front()));
  }
};

/// The EIO sweep of one system call over a drain of n1 onto a tmpfs n2: every sampled call
/// fails once; the run must then fail (or not need the call), lose nothing, leave no temp,
/// and a rerun must converge. Returns how many injections hit the destination's files.
int sweep_drain_eio(const std::string& name, const std::string& syscall, int sample)
{
  fs::path base = scratch_dir(name);
  std::vector<TracedCall> calls;
  {
    FaultTmpfs t(base / "probe-dst", "size=64m");
    MoveCase probe(base / "probe", t.path(), 192 << 10);
    calls = trace_calls(base / "probe.log", syscall, probe.drain());
  }
  REQUIRE(calls.size() >= 4);
  // The calls on the copy's own files first (sampled), then a spread over all the others.
  std::vector<int> on_copy;
  for (const auto& c : calls) {
    if (contains(c.text, "/.clsync-tmp-")) {
      on_copy.push_back(c.n);
    }
  }
  std::set<int> points;
  for (int i : sample_points(static_cast<int>(on_copy.size()), sample)) {
    points.insert(on_copy[static_cast<std::size_t>(i - 1)]);
  }
  for (int n : sample_points(static_cast<int>(calls.size()), sample)) {
    points.insert(n);
  }
  MESSAGE(syscall << ": " << calls.size() << " calls, " << on_copy.size() << " on the copy, "
                  << points.size() << " injected");
  int on_destination = 0;
  int injected_runs = 0;
  for (int n : points) {
    const fs::path d = base / ("n" + std::to_string(n));
    FaultTmpfs t(d / "dst", "size=64m");
    MoveCase m(d, t.path(), 192 << 10);
    bool injected = false;
    Outcome o = run_with_eio(d / "strace.log", syscall, n, m.drain(), injected);
    const std::string call = injected_call(d / "strace.log");
    const std::string what = syscall + " call " + std::to_string(n) + " of about " +
                             std::to_string(calls.size()) + " (" + call + ")";
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
    // A failed write or fsync of the copy's files: that copy is lost, never committed.
    if (contains(call, "/.clsync-tmp-")) {
      ++on_destination;
      CHECK(o.code != 0);
      CHECK(contains(o.out, t.path().string()));
    }
    m.check_intact("after " + what);
    m.check_no_temp("after " + what);
    m.check_rerun_converges("after " + what);
  }
  MESSAGE(syscall << ": " << injected_runs << " runs injected, " << on_destination
                  << " on the copy's files");
  CHECK(injected_runs >= static_cast<int>(points.size()) / 2);
  return on_destination;
}

} // namespace faults_disk_cases

using namespace faults_disk_cases;

TEST_SUITE("faults_disk")
{
  TEST_CASE("move: the destination fills up mid-copy (ENOSPC): clear error, temp gone, rerun "
            "converges")
  {
    fs::path d = scratch_dir("fd-enospc-move");
    FaultTmpfs t(d / "dst", "size=16m");
    MoveCase m(d, t.path(), 2 << 20);
    {
      PausedRun run(m.drain(), "mid_copy", d / "pause");
      REQUIRE(run.reached());
      fill_leaving(t.path(), 256 << 10); // another writer takes the space the plan counted on
      Outcome o = run.finish();
      check_failed(o, {"No space left on device", t.path().string()});
    }
    m.check_intact("after ENOSPC");
    m.check_no_temp("after ENOSPC");
    fs::remove(t.path() / "filler");
    m.check_rerun_converges("after ENOSPC");
  }

  TEST_CASE("move: the destination runs out of inodes while space remains")
  {
    fs::path d = scratch_dir("fd-inodes-move");
    // Room for the root, the lease, an intent, the temp and a few of the 40 files.
    FaultTmpfs t(d / "dst", "size=64m,nr_inodes=24");
    MoveCase m(d, t.path(), 4 << 10, 40);
    Outcome o = run_clsync_all(m.drain());
    check_failed(o, {"No space left on device", t.path().string()});
    m.check_intact("out of inodes");
    m.check_no_temp("out of inodes");
    t.remount("nr_inodes=4096");
    m.check_rerun_converges("out of inodes");
  }

  TEST_CASE("move: EIO from fsync/fdatasync at sampled calls of the run: never lost")
  {
    sweep_drain_eio("fd-eio-fsync", "fsync,fdatasync", 6);
  }

  TEST_CASE("move: EIO from the fsync that makes a commit durable: the copy is taken back out")
  {
    // The fsync of the chunk's parent after the rename into place fails (strace -P: only that
    // directory's calls; the first is the parents' creation, the second the commit's). The
    // placement is not durable, so it is undone; a second fsync is never taken as success.
    fs::path d = scratch_dir("fd-eio-commit");
    FaultTmpfs t(d / "dst", "size=64m");
    MoveCase m(d, t.path(), 192 << 10);
    const fs::path parent = t.path() / fs::path(k_key_a).parent_path();
    Outcome o = run_clsync_all(m.drain(), "",
                               "strace -f -qq -o " + fault_quote((d / "strace.log").string()) +
                                   " -P " + fault_quote(parent.string()) +
                                   " -e trace=fsync -e inject=fsync:error=EIO:when=2");
    REQUIRE(contains(read_file(d / "strace.log"), "(INJECTED)"));
    check_failed(o, {"Input/output error", "cannot sync the parent of " + (t.path() / k_key_a).string()});
    CHECK(o.code == 3); // the other chunk moved
    CHECK_FALSE(fs::exists(t.path() / k_key_a));
    CHECK(fs::exists(d / "n1" / k_key_a));
    m.check_intact("after the commit's fsync failed");
    m.check_rerun_converges("after the commit's fsync failed");
  }

  TEST_CASE("move: EIO from write at sampled calls of the run: never lost")
  {
    sweep_drain_eio("fd-eio-write", "write", 5);
  }

  TEST_CASE("move: EIO from the copy's first write, first fsync, first read: the copy is lost, "
            "the task fails")
  {
    // strace attaches at the mid_copy pause, so its call numbers count from the copy on.
    for (const char* syscall : {"write", "fsync", "pread64"}) {
      const std::string name = syscall;
      CAPTURE(name);
      fs::path d = scratch_dir("fd-eio-copy-" + name);
      FaultTmpfs t(d / "dst", "size=64m");
      MoveCase m(d, t.path(), 192 << 10);
      Outcome o;
      {
        PausedRun run(m.drain(), "mid_copy", d / "pause");
        REQUIRE(run.reached());
        attach_eio(run.pid(), d / "strace.log", name, 1);
        o = run.finish();
      }
      const std::string call = injected_call(d / "strace.log");
      INFO("injected: ", call);
      REQUIRE(!call.empty());
      const bool on_source = name == "pread64";
      CHECK(contains(call, on_source ? (d / "n1").string() : t.path().string() + "/.clsync-tmp-"));
      check_failed(o, {"Input/output error", on_source ? (d / "n1").string() : t.path().string()});
      CHECK(o.code == 3); // the other chunk moved
      m.check_intact("after EIO on the copy's first " + name);
      m.check_no_temp("after EIO on the copy's first " + name);
      m.check_rerun_converges("after EIO on the copy's first " + name);
    }
  }

  TEST_CASE("move: EIO from renameat2 (intents, commit, trash) at each call")
  {
    sweep_drain_eio("fd-eio-rename", "renameat2", 6);
  }

  TEST_CASE("move: the destination is remounted read-only mid-task")
  {
    fs::path d = scratch_dir("fd-ro-move");
    FaultTmpfs t(d / "dst", "size=64m");
    MoveCase m(d, t.path(), 2 << 20);
    run_into_read_only(m.drain(), t, d / "pause");
    m.check_intact("after a read-only remount");
    // The intent (and lease) could not be removed from a read-only volume: the rerun's
    // recovery removes them.
    t.remount("rw");
    m.check_rerun_converges("after a read-only remount");
  }

  TEST_CASE("move: the source volume is unmounted (lazily) mid-copy, then mounted again")
  {
    fs::path d = scratch_dir("fd-umount-src");
    FaultTmpfs t(d / "dst", "size=64m");
    MoveCase m(d, t.path(), 2 << 20);
    DetachableVolume n1(d / "n1", d / "disk");
    {
      PausedRun run(m.drain(), "mid_copy", d / "pause");
      REQUIRE(run.reached());
      n1.detach();
      Outcome o = run.finish();
      check_failed(o, {"n1"});
    }
    // Nothing of the destination holds a torn copy; no temp is left there.
    for (const auto& key_nodes : chunks_on_disk(m.c)) {
      const auto& key = key_nodes.first; // named, not bound: doctest's lambdas
      const auto& nodes = key_nodes.second; // capture them (clang 14)
      CHECK_MESSAGE(!nodes.count("n2"), key << " was committed from a vanished source");
    }
    m.check_no_temp("after the source vanished");
    n1.attach();
    m.check_intact("after the source came back");
    m.check_rerun_converges("after the source came back");
  }

  TEST_CASE("push: EIO from an fsync of the partial object: the partial is dropped, never resumed")
  {
    // A partial whose fsync failed may be lost on disk while the page cache still shows it; the
    // next fsync succeeds. Resuming from it would commit a file that is not durable. Two
    // fsyncs of a partial: the one when it is complete, and (for a prefix that a killed push
    // left) the one that makes the prefix durable before it is built on. A new partial is empty
    // and not synced when opened.
    for (const bool killed_prefix : {false, true}) {
      CAPTURE(killed_prefix);
      fs::path d = scratch_dir(std::string("fd-push-fsync-") + (killed_prefix ? "prefix" : "new"));
      FaultCluster c(d, 1, {{"n1", {d / "n1"}}});
      put_fault_file(d / "n1" / k_key_a / "a.col", 3 << 20, 4);
      const fs::path src = d / "src";
      const fs::path dst = d / "dst";
      REQUIRE(run_clsync_all(c.args() + "backup --to " + fault_quote(src.string())).code == 0);
      fs::path object;
      for (const auto& e : fs::recursive_directory_iterator(src / "objects")) {
        if (e.is_regular_file() && e.path().extension() == ".zst") {
          object = e.path().lexically_relative(src);
        }
      }
      REQUIRE(!object.empty());
      const fs::path partial = dst / (object.string() + ".partial");
      const std::string push = "push " + fault_quote(src.string()) + " " + fault_quote(dst.string());
      if (killed_prefix) {
        // A push killed after its first block: the object's first bytes under the partial name.
        REQUIRE(run_clsync_all(push, "CLSYNC_TEST_CRASH_AT=push_mid_object").code == 128 + 9);
        REQUIRE(fs::exists(partial));
        REQUIRE(fs::file_size(partial) > 0);
      }
      Outcome o = run_clsync_all(push, "",
                                 "strace -f -qq -o " + fault_quote((d / "strace.log").string()) +
                                     " -P " + fault_quote(partial.string()) +
                                     " -e trace=fsync -e inject=fsync:error=EIO:when=1");
      REQUIRE(contains(read_file(d / "strace.log"), "(INJECTED)"));
      check_failed(o, {"Input/output error", object.filename().string()});
      CHECK_FALSE(fs::exists(partial));
      CHECK_FALSE(fs::exists(dst / object));
      const bool snapshot_sent = fs::exists(dst / "snapshots") && !fs::is_empty(dst / "snapshots");
      CHECK_FALSE(snapshot_sent);
      Outcome r = run_clsync_all(push);
      INFO("the rerun said:\n", r.out);
      CHECK(r.code == 0);
      CHECK_FALSE(contains(r.out, "resumed"));
      REQUIRE(fs::exists(dst / object));
      CHECK(sha256_of_file(dst / object) == sha256_of_file(src / object));
      CHECK(run_clsync_all("verify --read-data " + fault_quote(dst.string())).code == 0);
      FaultCluster none(d / "none", 1, {});
      CHECK(clsync_leftovers(none, {dst}).empty());
    }
  }

  TEST_CASE("backup: the repository fills up mid-object: no partial, no torn snapshot; rerun converges")
  {
    fs::path d = scratch_dir("fd-backup-enospc");
    FaultTmpfs t(d / "repo", "size=3m");
    FaultCluster c(d, 1, {{"n1", {d / "n1"}}});
    put_fault_file(d / "n1" / k_key_a / "a.col", 1 << 20, 5);
    put_fault_file(d / "n1" / k_key_b / "b.col", 4 << 20, 6); // does not fit, incompressible
    const std::string before = fault_tree_digest(d / "n1");
    const std::string backup = c.args() + "backup --to " + fault_quote(t.path().string());
    Outcome o = run_clsync_all(backup);
    check_failed(o, {"No space left on device", k_key_b});
    // A snapshot of what did fit may be written (exit 3); it never names a missing object.
    CHECK(run_clsync_all("verify --read-data " + fault_quote(t.path().string())).code == 0);
    CHECK(clsync_leftovers(c, {t.path()}).empty());
    CHECK(fault_tree_digest(d / "n1") == before);
    t.remount("size=64m");
    Outcome r = run_clsync_all(backup);
    INFO("the rerun said:\n", r.out);
    CHECK(r.code == 0);
    CHECK(run_clsync_all("verify --read-data " + fault_quote(t.path().string())).code == 0);
    CHECK(clsync_leftovers(c, {t.path()}).empty());
    CHECK(fault_tree_digest(d / "n1") == before);
  }
}
