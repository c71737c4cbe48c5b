// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Directory reads that fail half way: the real binary under strace, with getdents64 failing
// with EIO at each call in turn. Every such failure must be reported naming the directory —
// readdir's null at an error is never taken for the end of a directory (a partial chunk).
#include "tests/support/chunk_tree.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>
#include <string>

namespace fs = std::filesystem;
using namespace clsync;

namespace {

std::string quote(const std::string& s)
{
  std::string out = "'";
  for (char c : s) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

/// Runs strace. A sanitizer build's LeakSanitizer cannot work under ptrace (it stops the
/// threads with it) and would end every traced run with a report: it is off for these runs.
const std::string kStraceCommand = "ASAN_OPTIONS=detect_leaks=0 strace";

/// How many getdents64 calls `command` makes (strace's own count, every thread).
int count_getdents(const fs::path& dir, const std::string& command)
{
  fs::path log = dir / "strace.log";
  int rc = test::run_command(kStraceCommand + " -f -qq -e trace=getdents64 -o " +
                             quote(log.string()) + " " + command + " >/dev/null 2>&1");
  REQUIRE_MESSAGE(rc != 127, "strace is missing (scripts/install-deps.sh installs it)");
  std::istringstream in(test::read_file(log));
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    n += line.find("getdents64(") != std::string::npos ? 1 : 0;
  }
  return n;
}

} // namespace

TEST_SUITE("readdir_faults")
{
  TEST_CASE("status --verify reports an EIO from any getdents64 call, naming the directory")
  {
    fs::path d = test::scratch_dir("readdir-eio");
    fs::path vol = d / "n1";
    // One chunk with a subdirectory and an empty directory: a single scan thread, and every
    // getdents64 call of the run belongs to a directory of the volume.
    test::put_file(vol / "Level1/1/0/S/a.col", "a.col", "aaaa");
    test::put_file(vol / "Level1/1/0/S/sub/b.col", "sub/b.col", "bbbb");
    fs::create_directories(vol / "Level1/1/0/S/empty");
    test::write_file(d / "cluster.yaml", "cluster: t1\n"
                                         "replication: 1\n"
                                         "nodes:\n"
                                         "  - name: n1\n"
                                         "    host: local\n"
                                         "    volumes: [" +
                                             vol.string() +
                                             "]\n"
                                             "databases:\n"
                                             "  Level1:\n"
                                             "    levels: [date, hash]\n");
    const std::string status = std::string(CLSYNC_BINARY) + " -c " +
                               quote((d / "cluster.yaml").string()) + " status --verify";
    std::string clean;
    REQUIRE(test::run_command(status + " 2>&1", &clean) == 0);
    CHECK(clean.find("Input/output error") == std::string::npos);

    const int calls = count_getdents(d, status);
    // The volume root, Level1, Level1/1, Level1/1/0, the chunk, sub, empty: two calls each
    // (entries, then the end), so the end of every directory fails in turn too.
    REQUIRE(calls >= 14);
    for (int n = 1; n <= calls; ++n) {
      std::string out;
      test::run_command(
          kStraceCommand +
              " -f -qq -o /dev/null -e trace=getdents64 -e inject=getdents64:error=EIO:when=" +
              std::to_string(n) + " " + status + " 2>&1",
          &out);
      INFO("getdents64 call ", n, " of ", calls, " failed; clsync said:\n", out);
      CHECK(out.find("Input/output error") != std::string::npos);
      CHECK(out.find(vol.string()) != std::string::npos);
    }
  }

  TEST_CASE("repair under an EIO at any getdents64 call: a copy is whole or absent, never partial")
  {
    fs::path d = test::scratch_dir("readdir-eio-copy");
    fs::path chunk = d / "n1/Level1/1/0/S";
    test::put_file(chunk / "a.col", "a.col", "aaaa");
    test::put_file(chunk / "sub/b.col", "sub/b.col", "bbbb");
    fs::create_directories(chunk / "empty");
    fs::create_directories(d / "n2");
    test::write_file(d / "cluster.yaml", "cluster: t1\n"
                                         "replication: 2\n"
                                         "nodes:\n"
                                         "  - name: n1\n"
                                         "    host: local\n"
                                         "    volumes: [" +
                                             (d / "n1").string() +
                                             "]\n"
                                             "  - name: n2\n"
                                             "    host: local\n"
                                             "    volumes: [" +
                                             (d / "n2").string() +
                                             "]\n"
                                             "databases:\n"
                                             "  Level1:\n"
                                             "    levels: [date, hash]\n");
    const std::string repair = std::string(CLSYNC_BINARY) + " -c " +
                               quote((d / "cluster.yaml").string()) + " --state-dir " +
                               quote((d / "state").string()) + " repair";
    fs::path copy = d / "n2/Level1/1/0/S";
    const int calls = count_getdents(d, repair);
    REQUIRE(fs::exists(copy / "empty"));
    fs::remove_all(d / "n2/Level1");
    int read_failures = 0;
    for (int n = 1; n <= calls; ++n) {
      std::string out;
      test::run_command(
          kStraceCommand +
              " -f -qq -o /dev/null -e trace=getdents64 -e inject=getdents64:error=EIO:when=" +
              std::to_string(n) + " " + repair + " 2>&1",
          &out);
      INFO("getdents64 call ", n, " of ", calls, " failed; clsync said:\n", out);
      read_failures += out.find("cannot read directory " + chunk.string()) != std::string::npos;
      if (fs::exists(copy)) {
        CHECK(test::read_file(copy / "a.col") == "aaaa");
        CHECK(test::read_file(copy / "sub/b.col") == "bbbb");
        CHECK(fs::is_directory(copy / "empty"));
        fs::remove_all(d / "n2/Level1");
      }
      CHECK_FALSE(test::has_entry_starting(d / "n2", ".clsync-tmp"));
    }
    // The reads of the source chunk itself failed, and said so naming its directory.
    CHECK(read_failures >= 2);
  }
}
