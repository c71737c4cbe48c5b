// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace clsync::transport {

/// fsync(2) of every descriptor of `fds`, one after the other for now (posix_io.cpp says why
/// the overlapping version was turned back); callers that sync many descriptors at once go
/// through here, the one place to overlap them again. Returns (index, errno) of the first
/// failure, or (npos, 0). Never retries a failed fsync (a second one may report success with the
/// data lost).
std::pair<std::size_t, int> sync_fds_parallel(const std::vector<int>& fds);

} // namespace clsync::transport
