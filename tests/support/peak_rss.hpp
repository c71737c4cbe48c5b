// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <filesystem>
#include <string>

namespace clsync::test {

/// The clsync binary a test runs to bound its peak RSS: CLSYNC_BINARY, but in a sanitized build
/// the Release clsync of CMake's CLSYNC_RELEASE_BUILD (the sanitizer's shadow memory and runtime
/// put a sanitized `clsync --version` at 62 MiB, 9 MiB plain). Without one the calling test
/// fails rather than not checking its bound.
std::string rss_binary();

/// The start of a shell command that runs rss_binary() (append its arguments) under GNU time,
/// which writes the peak RSS of that clsync alone to `rss_file`. Not wait4's ru_maxrss of a
/// child of the harness: Linux keeps the high-water mark of the address space a process execs
/// away from, and a forked or posix_spawned child starts in the harness's, so that figure is
/// at least the harness's own peak (610 MiB for a sanitized one). time starts small.
std::string peak_rss_command(const std::filesystem::path& rss_file);

/// What time wrote to `rss_file`: the peak RSS in KiB (its last line).
long read_peak_rss_kib(const std::filesystem::path& rss_file);

/// How a run under peak_rss_command() ended.
struct PeakRssRun {
  int status = -1;       ///< exit code, or 128 + the signal
  long peak_rss_kib = 0; ///< clsync's own
  double seconds = 0;    ///< wall clock
};

/// Runs `rss_binary() ARGS` through /bin/sh under GNU time (ARGS may end in redirections),
/// waits for it, and reads its peak RSS from `rss_file`.
PeakRssRun run_with_peak_rss(const std::string& args, const std::filesystem::path& rss_file);

} // namespace clsync::test
