// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Disk faults under `rebalance-disks` (suite `faults_rebalance_disks`, issue 11 item 2): onto
// another filesystem (the node copies the chunk itself) the destination tmpfs fills up, or the
// copy's first write or fsync fails with EIO; on one filesystem (a rename) the fsync that makes
// the rename durable fails. After each: exit 1 or 3 naming the error and the volume, no temp
// left, every chunk exactly once and unchanged, and a rerun without the fault that converges.
#include "tests/integration/faults_fixture.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

namespace fs = std::filesystem;
using namespace clsync::test;
using namespace clsync::test::faults;

namespace faults_rebalance_disks_cases {

/// Four 1 MiB chunks on volume `a` of node n1, none on its volume `b`: rebalance-disks moves
/// some of them to `b`.
struct DisksCase {
  fs::path dir;
  FaultCluster c;
  std::map<std::string, std::string> before; ///< key → digest of its only replica

  DisksCase(const fs::path& d, const fs::path& a, const fs::path& b)
      : dir(d), c(d, 1, {{"n1", {a, b}}})
  {
    for (int i = 1; i <= 4; ++i) {
      put_fault_file(a / ("Level1/2020060" + std::to_string(i) + "/0/T") / "a.col", 1 << 20,
                     30 + i);
    }
    for (const auto& [key, by_node] : replica_digests(c)) {
      before[key] = by_node.at("n1");
    }
    REQUIRE(before.size() == 4);
  }
  std::string rebalance() const { return c.args() + "rebalance-disks --node n1 --concurrency 1"; }

  /// Every chunk once, unchanged, and no temp on any volume.
  void check_intact(const std::string& when) const
  {
    const auto on_disk = chunks_on_disk(c);
    for (const auto& key_digest : before) {
      const auto& key = key_digest.first; // named, not bound: doctest's lambdas
      const auto& digest = key_digest.second; // capture them (clang 14)
      const auto it = on_disk.find(key);
      REQUIRE_MESSAGE(it != on_disk.end(), when << ": " << key << " is gone");
      int copies = 0;
      for (const auto& v : c.node("n1").volumes) {
        if (fs::exists(v / key)) {
          ++copies;
          CHECK_MESSAGE(fault_tree_digest(v / key) == digest, when << ": " << key << " changed");
        }
      }
      CHECK_MESSAGE(copies == 1, when << ": " << key << " has " << copies << " copies");
    }
    for (const auto& l : clsync_leftovers(c)) {
      CHECK_MESSAGE(l.find(".clsync-tmp-") == std::string::npos, when << ": " << l);
    }
  }

  /// The run again without the fault: exit 0, some chunks on b, nothing left behind.
  void check_rerun_converges(const std::string& when) const
  {
    Outcome r = run_clsync_all(rebalance());
    INFO(when, ": the rerun said:\n", r.out);
    CHECK(r.code == 0);
    check_intact(when + ", rerun");
    int on_b = 0;
    for (const auto& [key, digest] : before) {
      on_b += fs::exists(c.node("n1").volumes[1] / key) ? 1 : 0;
    }
    CHECK(on_b >= 1);
    const auto left = clsync_leftovers(c);
    CHECK_MESSAGE(left.empty(), when << ": left behind: " << (left.empty() ? "" : left.front()));
  }
};

} // namespace faults_rebalance_disks_cases

using namespace faults_rebalance_disks_cases;

TEST_SUITE("faults_rebalance_disks")
{
  TEST_CASE("rebalance-disks onto another filesystem: it fills up, or the copy's first write or "
            "fsync fails (EIO)")
  {
    for (const std::string fault : {"ENOSPC", "write", "fsync"}) {
      CAPTURE(fault);
      const fs::path d = scratch_dir("frd-" + fault);
      FaultTmpfs a(d / "va", "size=16m");
      FaultTmpfs b(d / "vb", "size=16m");
      DisksCase m(d, a.path(), b.path());
      Outcome o;
      {
        // After the first task's intents, before its copy starts.
        PausedRun run(m.rebalance(), "after_intent", d / "pause");
        REQUIRE(run.reached());
        if (fault == "ENOSPC") {
          fill_leaving(b.path(), 256 << 10);
        } else {
          attach_eio(run.pid(), d / "strace.log", fault, 1);
        }
        o = run.finish();
      }
      if (fault != "ENOSPC") {
        const std::string call = injected_call(d / "strace.log");
        INFO("injected: ", call);
        REQUIRE(contains(call, b.path().string() + "/.clsync-tmp-"));
      }
      check_failed(o, {fault == "ENOSPC" ? "No space left on device" : "Input/output error",
                       b.path().string()});
      m.check_intact("after " + fault);
      fs::remove(b.path() / "filler");
      m.check_rerun_converges("after " + fault);
    }
  }

  TEST_CASE("rebalance-disks on one filesystem: EIO from the fsync after the rename: renamed back")
  {
    // Both volumes on one tmpfs: the moves are one rename batch (rename_chunks). strace -P keeps
    // only the calls on the destination's parent directories; the first fsync there after the
    // renames fails. The renames are not durable, so they are undone and their tasks fail: never
    // counted as moved.
    const fs::path d = scratch_dir("frd-rename-fsync");
    FaultTmpfs t(d / "fs", "size=32m");
    DisksCase m(d, t.path() / "a", t.path() / "b");
    std::string filter;
    for (const auto& [key, digest] : m.before) {
      fs::create_directories(t.path() / "b" / fs::path(key).parent_path());
      filter += " -P " + fault_quote((t.path() / "b" / fs::path(key).parent_path()).string());
    }
    Outcome o = run_clsync_all(m.rebalance(), "",
                               "strace -f -qq -y -o " + fault_quote((d / "strace.log").string()) +
                                   filter + " -e trace=fsync -e inject=fsync:error=EIO:when=1");
    const std::string call = injected_call(d / "strace.log");
    INFO("injected: ", call);
    REQUIRE(!call.empty());
    std::string failed;  // the chunk whose rename's fsync failed
    for (const auto& [key, digest] : m.before) {
      if (contains(call, (t.path() / "b" / fs::path(key).parent_path()).string() + ">")) {
        failed = key;
      }
    }
    REQUIRE(!failed.empty());
    check_failed(o, {"Input/output error", "cannot sync the parent of", "renamed back", failed});
    // The failed move is undone: its chunk is back on a, not on b as if it had moved.
    CHECK(fs::exists(t.path() / "a" / failed));
    CHECK_FALSE(fs::exists(t.path() / "b" / failed));
    m.check_intact("after the rename's fsync failed");
    m.check_rerun_converges("after the rename's fsync failed");
  }

  TEST_CASE("rebalance-disks on one filesystem: EIO from the fsync after a chunk moved with its "
            "parent: renamed back")
  {
    // Each chunk's parent (Level1/<date>/0) holds only the chunk and b has no such directory,
    // so the chunk moves with its parent, and what makes that durable is the fsync of the date
    // directory above it on b (made here, so strace -P can name it). The first of those fsyncs
    // fails: the batch's renames are undone, parents and all.
    const fs::path d = scratch_dir("frd-parent-fsync");
    FaultTmpfs t(d / "fs", "size=32m");
    DisksCase m(d, t.path() / "a", t.path() / "b");
    std::string filter;
    for (const auto& [key, digest] : m.before) {
      const fs::path up = t.path() / "b" / fs::path(key).parent_path().parent_path();
      fs::create_directories(up);
      filter += " -P " + fault_quote(up.string());
    }
    Outcome o = run_clsync_all(m.rebalance(), "",
                               "strace -f -qq -y -o " + fault_quote((d / "strace.log").string()) +
                                   filter + " -e trace=fsync -e inject=fsync:error=EIO:when=1");
    const std::string call = injected_call(d / "strace.log");
    INFO("injected: ", call);
    REQUIRE(!call.empty());
    check_failed(o, {"Input/output error", "cannot sync the parent of", "renamed back"});
    // Every rename of the batch is undone: nothing arrived on b.
    for (const auto& [key, digest] : m.before) {
      CHECK_FALSE(fs::exists(t.path() / "b" / key));
      CHECK_FALSE(fs::exists(t.path() / "b" / fs::path(key).parent_path()));
    }
    m.check_intact("after the parent's fsync failed");
    m.check_rerun_converges("after the parent's fsync failed");
  }
}
