// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Compiled with CLSYNC_SANITIZED_BUILD and CLSYNC_RSS_BINARY of its own (tests/CMakeLists.txt),
// so that naming another Release build recompiles this file alone.
#include "tests/support/peak_rss.hpp"

#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

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
  const auto end = text.find_last_not_of('\n');
  REQUIRE_MESSAGE(end != std::string::npos, "no peak RSS in " << rss_file);
  const auto begin = text.find_last_of('\n', end);
  const std::string last = text.substr(begin == std::string::npos ? 0 : begin + 1,
                                       end + 1 - (begin == std::string::npos ? 0 : begin + 1));
  long kib = 0;
  try {
    kib = std::stol(last);
  } catch (const std::exception&) {
    FAIL("no peak RSS in " << rss_file << ": " << text);
  }
  return kib;
}

} // namespace clsync::test
