// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Disk faults under `restore` (suite `faults_restore`, issue 11 item 2): the target volume (a
// small tmpfs) fills up mid-object, or the copy's first write or fsync fails with EIO (strace
// attached at the mid_copy pause). After each: exit 1 or 3 with the error and the volume named,
// no temp left, whatever the target holds whole, the repository untouched, and a rerun without
// the fault that restores everything exactly.
#include "tests/integration/faults_fixture.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

namespace fs = std::filesystem;
using namespace clsync::test;
using namespace clsync::test::faults;

namespace faults_restore_cases {

const std::vector<std::string> k_restore_keys = {"Level1/20200601/0/T", "Level1/20200602/0/T"};

/// A source cluster backed up into `repo`, and a target cluster whose one volume is a 16 MiB
/// tmpfs: restoring puts both 2 MiB chunks there.
struct RestoreCase {
  fs::path dir;
  FaultCluster source;
  FaultTmpfs vol;
  FaultCluster target;
  fs::path repo;
  std::string repo_before;

  explicit RestoreCase(const fs::path& d)
      : dir(d), source(d / "s", 1, {{"s1", {d / "s" / "v1"}}}), vol(d / "t-vol", "size=16m"),
        target(d / "t", 1, {{"t1", {vol.path()}}}), repo(d / "repo")
  {
    for (std::size_t i = 0; i < k_restore_keys.size(); ++i) {
      put_fault_file(d / "s" / "v1" / k_restore_keys[i] / "a.col", 2 << 20, 20 + i);
    }
    Outcome b = run_clsync_all(source.args() + "backup --to " + fault_quote(repo.string()));
    INFO(b.out);
    REQUIRE(b.code == 0);
    repo_before = fault_tree_digest(repo);
  }
  std::string restore() const
  {
    return target.args() + "restore --from " + fault_quote(repo.string()) + " --concurrency 1";
  }
  fs::path on_target(const std::string& key) const { return vol.path() / key; }
  fs::path on_source(const std::string& key) const { return dir / "s" / "v1" / key; }

  /// After the failed run: what the target holds is whole, no temp is left, the repository and
  /// the source are as they were.
  void check_after_failure() const
  {
    for (const auto& key : k_restore_keys) {
      if (fs::exists(on_target(key))) {
        CHECK_MESSAGE(fault_tree_digest(on_target(key)) == fault_tree_digest(on_source(key)),
                      key << " is on the target, torn");
      }
    }
    for (const auto& l : clsync_leftovers(target)) {
      CHECK_MESSAGE(l.find(".clsync-tmp-") == std::string::npos, l);
    }
    CHECK(fault_tree_digest(repo) == repo_before);
    CHECK(run_clsync_all("verify --read-data " + fault_quote(repo.string())).code == 0);
  }

  /// The restore again without the fault: exit 0, every chunk exact, nothing left behind.
  void check_rerun_converges() const
  {
    Outcome r = run_clsync_all(restore());
    INFO("the rerun said:\n", r.out);
    CHECK(r.code == 0);
    for (const auto& key : k_restore_keys) {
      REQUIRE(fs::exists(on_target(key)));
      CHECK(fault_tree_digest(on_target(key)) == fault_tree_digest(on_source(key)));
    }
    const auto left = clsync_leftovers(target, {repo});
    CHECK_MESSAGE(left.empty(), (left.empty() ? "" : left.front()));
    CHECK(fault_tree_digest(repo) == repo_before);
  }
};

} // namespace faults_restore_cases

using namespace faults_restore_cases;

TEST_SUITE("faults_restore")
{
  TEST_CASE("restore: the target fills up mid-object, or its first write or fsync fails (EIO)")
  {
    for (const std::string fault : {"ENOSPC", "write", "fsync"}) {
      CAPTURE(fault);
      RestoreCase rc(scratch_dir("fr-" + fault));
      Outcome o;
      std::string call;
      {
        PausedRun run(rc.restore(), "mid_copy", rc.dir / "pause");
        REQUIRE(run.reached());
        if (fault == "ENOSPC") {
          fill_leaving(rc.vol.path(), 256 << 10);
        } else {
          attach_eio(run.pid(), rc.dir / "strace.log", fault, 1);
        }
        o = run.finish();
      }
      if (fault != "ENOSPC") {
        call = injected_call(rc.dir / "strace.log");
        INFO("injected: ", call);
        REQUIRE(contains(call, rc.vol.path().string() + "/.clsync-tmp-"));
      }
      check_failed(o, {fault == "ENOSPC" ? "No space left on device" : "Input/output error",
                       rc.vol.path().string()});
      CHECK_MESSAGE((contains(o.out, k_restore_keys[0]) || contains(o.out, k_restore_keys[1])),
                    "the message names no chunk:\n" << o.out);
      rc.check_after_failure();
      fs::remove(rc.vol.path() / "filler");
      rc.check_rerun_converges();
    }
  }
}
