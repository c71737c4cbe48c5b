// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Compiled with CLSYNC_SANITIZED_BUILD and CLSYNC_RSS_BINARY of its own (tests/CMakeLists.txt),
// so that naming another Release build recompiles this file alone.
#include "tests/support/peak_rss.hpp"

#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace clsync::test {

namespace fs = std::filesystem;

std::string rss_binary()
{
#if defined(CLSYNC_SANITIZED_BUILD)
#if defined(CLSYNC_RSS_BINARY)
  const std::string release = CLSYNC_RSS_BINARY;
  REQUIRE_MESSAGE(::access(release.c_str(), X_OK) == 0,
                  "the Release clsync that bounds peak RSS in a sanitized build, " << release
                  << ", is not an executable: build it (scripts/sanitize.sh does)");
  REQUIRE_MESSAGE(fs::canonical(release) != fs::canonical(CLSYNC_BINARY),
                  "CLSYNC_RELEASE_BUILD is this sanitized build itself");
  return release;
#else
  FAIL("a sanitized build bounds peak RSS with a Release clsync: configure it with "
       "-DCLSYNC_RELEASE_BUILD=<a Release build directory> (scripts/sanitize.sh does)");
  return {};
#endif
#else
  return CLSYNC_BINARY;
#endif
}

std::string peak_rss_command(const fs::path& rss_file)
{
  REQUIRE_MESSAGE(::access("/usr/bin/time", X_OK) == 0,
                  "/usr/bin/time (GNU time, scripts/install-deps.sh) measures peak RSS");
  return "/usr/bin/time -f %M -o '" + rss_file.string() + "' " + rss_binary();
}

long read_peak_rss_kib(const fs::path& rss_file)
{
  // Before the figure time writes "Command exited with non-zero status N" when it did.
  const std::string text = read_file(rss_file);
  std::istringstream lines(text);
  std::string last;
  for (std::string line; std::getline(lines, line);) {
    last = line.empty() ? last : line;
  }
  long kib = 0;
  try {
    kib = std::stol(last);
  } catch (const std::exception&) {
    FAIL("no peak RSS in " << rss_file << ": " << text);
  }
  return kib;
}

PeakRssRun run_with_peak_rss(const std::string& args, const fs::path& rss_file)
{
  const std::string cmd = "exec " + peak_rss_command(rss_file) + " " + args;
  std::string sh = "/bin/sh", dash_c = "-c";
  char* argv[] = {sh.data(), dash_c.data(), const_cast<char*>(cmd.c_str()), nullptr};
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = 0;
  REQUIRE(::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  PeakRssRun r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.peak_rss_kib = read_peak_rss_kib(rss_file);
  return r;
}

} // namespace clsync::test
