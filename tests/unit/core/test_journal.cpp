// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/run/journal.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace clsync;
using namespace clsync::core;

namespace {

TaskRecord task(const std::string& id, const std::string& state, std::uint64_t bytes = 1000000)
{
  TaskRecord t;
  t.id = id;
  t.chunk = "Level1/20200601/3/pt";
  t.source = {"P1-dn1", "/v1"};
  t.destination = {"P3-dn1", "/v3"};
  t.bytes = bytes;
  t.state = state;
  return t;
}

} // namespace

TEST_SUITE("core::journal")
{
  TEST_CASE("run ids sort by time and are safe in file names")
  {
    auto id = new_run_id();
    CHECK(std::regex_match(id, std::regex(R"(\d{8}T\d{9}Z-[0-9a-f]{6})")));
    CHECK(new_run_id() != new_run_id());
  }

  TEST_CASE("a finished run reads back with its tasks, bytes and rates")
  {
    auto dir = test::scratch_dir("journal-finished");
    {
      Journal j(dir, "demo", "20240601T120000Z-000001", "rebalance-nodes");
      j.record(task("t1", "queued"));
      j.record(task("t2", "queued", 500));
      j.record(task("t1", "running"));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      j.record(task("t1", "finished"));
      auto failed = task("t2", "failed", 500);
      failed.error = "node P3-dn1: disk full";
      j.record(task("t2", "running", 500));
      j.record(failed);
      j.finish("partial", 1000000, 1, 1);
    }
    auto runs = read_runs(dir, "demo", 0);
    REQUIRE(runs.size() == 1);
    const auto& r = runs[0];
    CHECK(r.id == "20240601T120000Z-000001");
    CHECK(r.command == "rebalance-nodes");
    CHECK(r.cluster == "demo");
    CHECK(r.result == "partial");
    CHECK(!r.finish.empty());
    CHECK(r.bytes == 1000000);
    CHECK(r.tasks_finished == 1);
    CHECK(r.tasks_failed == 1);
    REQUIRE(r.tasks.size() == 2);
    CHECK(r.tasks[0].state == "finished");
    CHECK(!r.tasks[0].start.empty());
    CHECK(!r.tasks[0].finish.empty());
    CHECK(r.tasks[0].mb_per_s > 0);
    CHECK(r.tasks[0].source.node == "P1-dn1");
    CHECK(r.tasks[0].destination.volume == "/v3");
    CHECK(r.tasks[1].state == "failed");
    CHECK(r.tasks[1].error == "node P3-dn1: disk full");
    CHECK(r.mb_per_s > 0);
  }

  TEST_CASE("a run refused as a whole keeps its error in the footer")
  {
    auto dir = test::scratch_dir("journal-refused");
    {
      Journal j(dir, "demo-b", "20240601T120000Z-000002", "sync-online");
      j.finish("failed", 0, 0, 0, "node B2: connection refused");
    }
    {
      Journal j(dir, "demo-b", "20240601T120001Z-000003", "sync-online");
      j.finish("ok", 0, 0, 0);
    }
    auto runs = read_runs(dir, "demo-b", 0);
    REQUIRE(runs.size() == 2);
    CHECK(runs[0].result == "ok");
    CHECK(runs[0].error.empty());
    CHECK(runs[1].result == "failed");
    CHECK(runs[1].command == "sync-online");
    CHECK(runs[1].error == "node B2: connection refused");
  }

  TEST_CASE("a run killed mid-way leaves a readable journal marked interrupted")
  {
    auto dir = test::scratch_dir("journal-killed");
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      Journal j(dir, "demo", "20240601T120000Z-00000a", "move-replicas");
      j.record(task("t1", "queued"));
      j.record(task("t1", "running"));
      j.record(task("t1", "finished"));
      j.record(task("t2", "queued"));
      j.record(task("t2", "running"));
      ::kill(::getpid(), SIGKILL);
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    auto runs = read_runs(dir, "demo", 0);
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].result == "interrupted");
    CHECK(runs[0].finish.empty());
    CHECK(runs[0].tasks_finished == 1);
    CHECK(runs[0].bytes == 1000000);
    REQUIRE(runs[0].tasks.size() == 2);
    CHECK(runs[0].tasks[1].state == "running");
  }

  TEST_CASE("a torn last line is ignored and runs come newest first, limited")
  {
    auto dir = test::scratch_dir("journal-torn");
    for (const char* id :
         {"20240601T120000Z-000001", "20240602T120000Z-000002", "20240603T120000Z-000003"}) {
      Journal j(dir, "demo", id, "repair");
      j.record(task("t1", "queued"));
      j.finish("ok", 0, 0, 0);
    }
    {
      std::ofstream f(dir / "demo" / "runs" / "20240603T120000Z-000003.ndjson", std::ios::app);
      f << R"({"type":"task","id":"t9","sta)";
    }
    auto runs = read_runs(dir, "demo", 2);
    REQUIRE(runs.size() == 2);
    CHECK(runs[0].id == "20240603T120000Z-000003");
    CHECK(runs[1].id == "20240602T120000Z-000002");
    CHECK(runs[0].tasks.size() == 1);
    CHECK(runs[0].result == "ok");
    CHECK(read_runs(dir, "other", 0).empty());
  }

  TEST_CASE("an unwritable state directory is an error naming the path")
  {
    auto dir = test::scratch_dir("journal-ro");
    test::write_file(dir / "file", "x");
    CHECK_THROWS_WITH_AS(Journal(dir / "file", "demo", "r", "repair"),
                         doctest::Contains("task journal"), Error);
  }

  TEST_CASE("a corrupt line is skipped with a warning naming file and line, the rest is read")
  {
    auto dir = test::scratch_dir("journal-corrupt");
    const std::string id = "20240604T120000Z-000004";
    {
      Journal j(dir, "demo", id, "repair");
      j.record(task("t1", "queued"));
      j.record(task("t1", "running"));
    }
    const auto file = dir / "demo" / "runs" / (id + ".ndjson");
    {
      std::ofstream f(file, std::ios::app);
      f << R"({"type":"task","id":"t1","state":"finished","bytes":"lots"})" << '\n';
      f << "\x01 not json\n";
      f << R"({"type":"task","id":"t2","state":"running","source":{"node":7}})" << '\n';
    }
    {
      // The writer appends after what is there; the run goes on.
      std::ofstream f(file, std::ios::app);
      f << R"({"type":"task","id":"t1","state":"finished","bytes":1000000,"t_ms":2})" << '\n';
    }
    auto run = read_run_file(file);
    REQUIRE(run.warnings.size() == 3);
    CHECK(run.warnings[0].rfind(file.string() + ":4: ", 0) == 0);
    CHECK(run.warnings[1].rfind(file.string() + ":5: not a JSON object", 0) == 0);
    CHECK(run.warnings[2].rfind(file.string() + ":6: ", 0) == 0);
    for (const auto& w : run.warnings) {
      CHECK(w.find("; skipped") != std::string::npos);
    }
    // The bad lines changed nothing: t1 is finished by line 7 only, t2 never appeared.
    REQUIRE(run.tasks.size() == 1);
    CHECK(run.tasks[0].state == "finished");
    CHECK(run.tasks[0].bytes == 1000000);
  }

  TEST_CASE("a number out of its field's range is a skipped line naming file and line, never "
            "a wrapped or converted number")
  {
    // Hand-edited or damaged numbers: -1 bytes (get<uint64_t> wrapped it to 2^64-1), 1e300 as
    // a time (a float converted to int64_t: undefined), 2^64 as a count (a float too).
    auto dir = test::scratch_dir("journal-numbers");
    const std::string id = "20240601T120000Z-0000b1";
    {
      Journal j(dir, "demo", id, "repair");
      j.record(task("t1", "queued"));
    }
    const auto file = dir / "demo" / "runs" / (id + ".ndjson");
    {
      std::ofstream f(file, std::ios::app);
      f << R"({"type":"task","id":"t1","state":"finished","bytes":-1})" << '\n';
      f << R"({"type":"task","id":"t1","state":"running","bytes":10,"t_ms":1e300})" << '\n';
      f << R"({"type":"end","result":"ok","bytes":5,"tasks_finished":18446744073709551616})"
        << '\n';
    }
    auto run = read_run_file(file);
    REQUIRE(run.warnings.size() == 3);
    CHECK(run.warnings[0].rfind(file.string() + ":3: field 'bytes' holds -1", 0) == 0);
    CHECK(run.warnings[1].rfind(file.string() + ":4: field 't_ms' holds 1e+300", 0) == 0);
    CHECK(run.warnings[2].rfind(file.string() + ":5: field 'tasks_finished'", 0) == 0);
    for (const auto& w : run.warnings) {
      CHECK(w.find("; skipped") != std::string::npos);
    }
    REQUIRE(run.tasks.size() == 1);
    CHECK(run.tasks[0].state == "queued");
    CHECK(run.tasks[0].bytes == 1000000);
    CHECK(run.result == "interrupted"); // the footer was not read
    CHECK(run.bytes == 0);
  }

  TEST_CASE("a journal whose first line cannot be written refuses the run, naming the errno")
  {
    auto dir = test::scratch_dir("journal-full");
    const std::string id = "20240605T120000Z-000005";
    std::filesystem::create_directories(dir / "demo" / "runs");
    // /dev/full fails every write with ENOSPC, as a full state directory does.
    std::filesystem::create_symlink("/dev/full", dir / "demo" / "runs" / (id + ".ndjson"));
    CHECK_THROWS_WITH_AS(Journal(dir, "demo", id, "repair"),
                         doctest::Contains("No space left on device"), Error);
  }
}
