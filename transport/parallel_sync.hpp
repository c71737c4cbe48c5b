// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace clsync::transport {

/// fsync(2) of every descriptor of `fds`, up to 8 at once: each its own fsync, but the waits
/// overlap, so a journalling filesystem commits once for many of them and the block layer
/// merges their cache flushes (one after the other, 30 small files paid 30 commits and
/// flushes in a row). Returns (index, errno) of a failure, or (npos, 0). Never retries a failed
/// fsync (a second one may report success with the data lost).
std::pair<std::size_t, int> sync_fds_parallel(const std::vector<int>& fds);

} // namespace clsync::transport
