// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Compiled with CLSYNC_SANITIZED_BUILD and CLSYNC_RSS_BINARY of its own (tests/CMakeLists.txt),
// so that naming another Release build recompiles this file alone.
#include "tests/support/sanitizer_build.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <unistd.h>

namespace clsync::test {

std::string rss_binary()
{
#if defined(CLSYNC_SANITIZED_BUILD)
#if defined(CLSYNC_RSS_BINARY)
  const std::string release = CLSYNC_RSS_BINARY;
  REQUIRE_MESSAGE(::access(release.c_str(), X_OK) == 0,
                  "the Release clsync that bounds peak RSS in a sanitized build, " << release
                  << ", is not an executable: build it (scripts/sanitize.sh does)");
  REQUIRE_MESSAGE(std::filesystem::canonical(release) !=
                      std::filesystem::canonical(CLSYNC_BINARY),
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

} // namespace clsync::test
