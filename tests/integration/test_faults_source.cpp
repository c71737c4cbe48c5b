// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Sources that change during a transfer (suite `faults_source`, issue 11 item 4): the real
// binary is paused (CLSYNC_TEST_PAUSE_AT) just after it read the first block of a chunk's first
// file, the source is changed — the file grows, shrinks, is replaced, a later file vanishes, a
// directory is swapped for a symlink — and the run goes on. The change must be seen: the task
// is retried (and then copies the new state exactly) or reported; the target never keeps a
// torn copy. Covered on the move path (move-replicas), a repository command (backup) and
// sync-online.
#include "tests/integration/faults_fixture.hpp"
#include "tests/support/chunk_tree.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace clsync::test;
using namespace clsync::test::faults;

namespace faults_source_cases {

const std::string k_src_key = "Level1/20200601/0/T";

/// The chunk every case changes: c0.col (2 MiB, read first), c1.col, sub/c2.col.
void build_changing_chunk(const fs::path& volume)
{
  put_fault_file(volume / k_src_key / "c0.col", 2 << 20, 1);
  put_fault_file(volume / k_src_key / "c1.col", 512 << 10, 2);
  put_fault_file(volume / k_src_key / "sub" / "c2.col", 256 << 10, 3);
}

/// One way of changing the chunk at `chunk` while its first file is being read.
struct SourceChange {
  const char* name;
  std::function<void(const fs::path& chunk, const fs::path& outside)> apply;
  bool reported; ///< true: always reported (a symlink); false: copied anew where a task retries
};

void append_bytes(const fs::path& file, std::size_t n)
{
  REQUIRE(run_command("head -c " + std::to_string(n) + " /dev/urandom >> " + fault_quote(file.string())) ==
          0);
}

const std::vector<SourceChange>& source_changes()
{
  static const std::vector<SourceChange> all = {
      {"grows",
       [](const fs::path& c, const fs::path&) { append_bytes(c / "c0.col", 300 << 10); }, false},
      {"shrinks", [](const fs::path& c, const fs::path&) { fs::resize_file(c / "c0.col", 1 << 20); },
       false},
      {"is replaced",
       [](const fs::path& c, const fs::path&) {
         put_fault_file(c / "c0.new", 2 << 20, 99);
         fs::rename(c / "c0.new", c / "c0.col");
       },
       false},
      {"loses a file not read yet", [](const fs::path& c, const fs::path&) { fs::remove(c / "c1.col"); },
       false},
      {"has a directory swapped for a symlink",
       [](const fs::path& c, const fs::path& outside) {
         fs::create_directories(outside);
         put_fault_file(outside / "secret.col", 4096, 7);
         fs::rename(c / "sub", outside / "sub");
         fs::create_directory_symlink(outside / "sub", c / "sub");
       },
       true},
  };
  return all;
}

/// Undoes the symlink swap so that the chunk can be moved again.
void restore_swapped_dir(const fs::path& chunk, const fs::path& outside)
{
  if (fs::is_symlink(chunk / "sub")) {
    fs::remove(chunk / "sub");
    fs::rename(outside / "sub", chunk / "sub");
  }
}

} // namespace faults_source_cases

using namespace faults_source_cases;

TEST_SUITE("faults_source")
{
  TEST_CASE("move: a source changed mid-copy is reported, never torn; the rerun copies the new "
            "state")
  {
    // A move checks the source against the plan's fingerprint on every attempt, so a change
    // fails the task ("plan again") instead of moving what the operator did not review; the
    // next run plans from the new state.
    for (const auto& change : source_changes()) {
      const std::string what = change.name;
      CAPTURE(what);
      fs::path d = scratch_dir(std::string("fs-move-") + std::to_string(&change - &source_changes()[0]));
      FaultCluster c(d, 1, {{"n1", {d / "n1"}}, {"n2", {d / "n2"}}});
      build_changing_chunk(d / "n1");
      const fs::path chunk = d / "n1" / k_src_key;
      const std::string drain = c.args() + "move-replicas --from-node n1 --concurrency 1";
      {
        PausedRun run(drain, "mid_copy", d / "pause");
        REQUIRE(run.reached());
        change.apply(chunk, d / "outside");
        const std::string changed = fault_tree_digest(chunk);
        const std::string outside_before = fault_tree_digest(d / "outside");
        Outcome o = run.finish();
        INFO("clsync said:\n", o.out);
        CHECK(o.code == 1);
        CHECK(contains(o.out, k_src_key));
        CHECK(contains(o.out, change.reported ? "symbolic link" : "changed"));
        // Kept where it was, as it now is; nothing was read through a symlink; no copy.
        auto on_disk = replica_digests(c);
        CHECK(on_disk[k_src_key].size() == 1);
        CHECK(on_disk[k_src_key].count("n1") == 1);
        CHECK(fault_tree_digest(chunk) == changed);
        CHECK(fault_tree_digest(d / "outside") == outside_before);
        CHECK_FALSE(fs::exists(d / "n2" / k_src_key));
        CHECK(clsync_leftovers(c).empty());
      }
      restore_swapped_dir(chunk, d / "outside");
      const std::string expected = fault_tree_digest(chunk);
      Outcome r = run_clsync_all(drain);
      INFO("the rerun said:\n", r.out);
      CHECK(r.code == 0);
      auto on_disk = replica_digests(c);
      CHECK(on_disk[k_src_key].size() == 1);
      CHECK(on_disk[k_src_key]["n2"] == expected);
      CHECK(clsync_leftovers(c).empty());
    }
  }

  TEST_CASE("sync-online: a source changed mid-copy is copied anew, or reported; never torn")
  {
    for (const auto& change : source_changes()) {
      const std::string what = change.name;
      CAPTURE(what);
      fs::path d = scratch_dir(std::string("fs-sync-") + std::to_string(&change - &source_changes()[0]));
      FaultCluster a(d / "a", 1, {{"a1", {d / "a" / "v1"}}});
      FaultCluster b(d / "b", 1, {{"b1", {d / "b" / "v1"}}});
      build_changing_chunk(d / "a" / "v1");
      const fs::path chunk = d / "a" / "v1" / k_src_key;
      const std::string sync = "--state-dir " + fault_quote((d / "state").string()) + " sync-online --from " +
                               fault_quote(a.yaml.string()) + " --to " + fault_quote(b.yaml.string());
      std::string expected;
      {
        PausedRun run(sync, "mid_copy", d / "pause");
        REQUIRE(run.reached());
        change.apply(chunk, d / "outside");
        expected = fault_tree_digest(chunk);
        const std::string outside_before = fault_tree_digest(d / "outside");
        Outcome o = run.finish();
        INFO("clsync said:\n", o.out);
        if (change.reported) {
          CHECK((o.code == 1 || o.code == 3));
          CHECK(contains(o.out, k_src_key));
          CHECK_FALSE(fs::exists(d / "b" / "v1" / k_src_key));
          CHECK(fault_tree_digest(d / "outside") == outside_before);
        } else {
          CHECK(o.code == 0);
          CHECK(fault_tree_digest(d / "b" / "v1" / k_src_key) == expected);
        }
        CHECK(fault_tree_digest(chunk) == expected); // the source is never touched
        CHECK(clsync_leftovers(b).empty());
      }
      if (change.reported) {
        restore_swapped_dir(chunk, d / "outside");
        expected = fault_tree_digest(chunk);
        Outcome r = run_clsync_all(sync);
        INFO("the rerun said:\n", r.out);
        CHECK(r.code == 0);
        CHECK(fault_tree_digest(d / "b" / "v1" / k_src_key) == expected);
        CHECK(clsync_leftovers(b).empty());
      }
    }
  }
}
