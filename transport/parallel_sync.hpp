// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace clsync::transport {

/// fsync(2) of every descriptor of `fds`, overlapped: the calling thread and up to 7 helper
/// threads of its own (kept for the caller's lifetime) each sync a fixed share, so one journal
/// commit and merged cache flushes serve many of them; the call returns when all are done.
/// Each descriptor still gets its own fsync. Returns (index, errno) of the failure with the
/// lowest index, or (npos, 0). Never retries a failed fsync (a second one may report success
/// with the data lost).
std::pair<std::size_t, int> sync_fds_parallel(const std::vector<int>& fds);

} // namespace clsync::transport
