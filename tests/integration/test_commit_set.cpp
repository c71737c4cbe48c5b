// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Commit sets (suite `commit_set`): `restore --force` of a chunk whose 2 replicas on cluster B
// both differ from the snapshot writes one commit set (core/run/fan_out_task.hpp). Whatever
// happens to it — SIGKILL at each step, a destination filling up while preparing, a destination
// failing after the commit point — B's replicas end all old or all new, never mixed, with the
// replica count intact and no temp, trash or intent left once a later run recovered.
#include "core/run/journal.hpp"
#include "tests/integration/commit_set_fixture.hpp"
#include "tests/support/chunk_tree.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <exception>
#include <fstream>
#include <functional>
#include <optional>
#include <sys/mount.h>
#include <thread>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using clsync::test::ClusterB;
using clsync::test::DemoCopy;
using clsync::test::k_killed;

namespace {


using Scene = test::CommitSetScene;

/// Runs clsync with `args --json`; its output is shown when the exit code is not `expect`.
int run_rc(const std::string& args, int expect, const std::string& env = "")
{
  return test::run_expect(args, expect, env);
}

/// Runs `args` in a thread paused at `point`, calls `in_gap` there, and returns the exit code
/// (its stdout in `output`).
int run_paused(Scene& s,
               const std::string& args,
               const std::string& point,
               const std::function<void()>& in_gap,
               std::string& output)
{
  const fs::path gate = s.a.dir / "gate";
  fs::create_directories(gate);
  int rc = -1;
  std::string out;
  std::thread run([&] {
    rc = test::run_clsync(args + " --json", &out,
                          "CLSYNC_TEST_PAUSE_AT=" + point + ":" + gate.string());
  });
  bool reached = false;
  for (int i = 0; i < 2400 && !reached; ++i) {
    reached = fs::exists(gate / (point + ".reached"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK_MESSAGE(reached, "the run never reached ", point);
  std::exception_ptr failed;
  try {
    if (reached) {
      in_gap();
    }
  } catch (...) {
    failed = std::current_exception(); // let the run go on and end before failing the test
  }
  test::write_file(gate / (point + ".go"), "");
  run.join();
  if (failed) {
    std::rethrow_exception(failed);
  }
  output = out;
  return rc;
}

/// Fills the filesystem holding `dir` to the last block.
void fill_up(const fs::path& file)
{
  std::ofstream out(file, std::ios::binary);
  const std::string block(64 * 1024, 'x');
  while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) {
    out.flush();
    if (!out) {
      break;
    }
  }
}

struct CrashPoint {
  const char* point;
  bool committed; ///< killed past the commit point: recovery finishes (all new)
};

const CrashPoint k_points[] = {
    {"after_intent", false},           {"mid_copy", false},
    {"fanout_after_prepare", false},   {"fanout_after_mark_1", false},
    {"fanout_after_mark_2", true},     {"fanout_after_exchange_1", true},
    {"fanout_after_exchange_2", true}, {"fanout_before_cleanup", true},
    {"before_intent_removal", true},
};

} // namespace

TEST_SUITE("commit_set")
{
  TEST_CASE("restore --force killed at every step: recovery leaves all old or all new")
  {
    Scene s("cs-kill");
    s.restore_and_change();
    for (const auto& [point, committed] : k_points) {
      const std::string point_name = point;
      CAPTURE(point_name);
      REQUIRE(run_rc(s.base + " --force", k_killed, std::string("CLSYNC_TEST_CRASH_AT=") + point) ==
              k_killed);
      const auto killed = s.replica_hashes();
      CHECK(killed.size() == 2); // never a replica fewer, whatever the moment
      if (point_name == "fanout_after_exchange_1") {
        // The moment the set is mixed on disk: what recovery has to finish.
        REQUIRE(killed.size() == 2);
        CHECK(killed[0] != killed[1]);
      }
      // A rerun without --force: its recovery decides the set, and it replaces nothing itself.
      run_rc(s.base, committed ? 0 : 3);
      s.check_all(committed ? s.new_hash : s.old_hash, "after recovery");
      if (committed) {
        s.change(); // the next point starts from two old replicas again
      }
    }
  }

  TEST_CASE("a destination filling up while preparing: nothing replaced, exit 3")
  {
    Scene s("cs-full");
    test::TmpfsMount small(s.b.volume(0), "2m");
    s.restore_and_change("B1");
    const fs::path filler = fs::path(s.b.volume(0)) / "filler";
    std::string out;
    const int rc = run_paused(
        s, s.base + " --force", "after_intent", [&] { fill_up(filler); }, out);
    CHECK_MESSAGE(rc == 3, out);
    CHECK_MESSAGE(out.find("every destination keeps its old version") != std::string::npos, out);
    s.check_all(s.old_hash, "after a full destination");
    fs::remove(filler);
    run_rc(s.base + " --force", 0);
    s.check_all(s.new_hash, "after --force with room");
  }

  TEST_CASE("the second destination failing after the commit point: the next run finishes it")
  {
    Scene s("cs-late");
    s.restore_and_change();
    fs::path second;
    std::optional<test::BindMount> bind;
    std::string out;
    const int rc = run_paused(
        s, s.base + " --force", "fanout_after_mark_2",
        [&] {
          const auto parts = s.participant_volumes();
          REQUIRE(parts.size() == 2);
          second = parts[1];
          // Read-only from here: the second exchange fails (EROFS), the first one went through.
          bind.emplace(second, second);
          REQUIRE(::mount(nullptr, second.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY,
                          nullptr) == 0);
        },
        out);
    CHECK_MESSAGE(rc == 3, out);
    CHECK_MESSAGE(out.find("committed") != std::string::npos, out);
    const auto mixed = s.replica_hashes();
    REQUIRE(mixed.size() == 2);
    CHECK(mixed[0] != mixed[1]);
    REQUIRE(::mount(nullptr, second.c_str(), nullptr, MS_REMOUNT | MS_BIND, nullptr) == 0);
    run_rc(s.base, 0);
    s.check_all(s.new_hash, "after the next run");
  }
}
