// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once
// push's object transfer: workers sending the objects a push plan names from SRC to DEST.

#include "core/context.hpp"
#include "core/repo/push.hpp"
#include "core/repo/repository.hpp"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace clsync::core::repo::detail {

/// One object to send: its content hash, the SHA-256 of the object file and its size.
struct ObjectJob {
  std::string hash;
  std::string sha256;
  std::uint64_t size = 0;
};

/// Workers for `jobs` objects of `bytes` in all: --parallel, never more than the objects and,
/// when an end is ssh:// (`remote`), one more per k_bytes_per_session only: each worker
/// beyond the first opens its own SSH session, one at a time, holding an object meanwhile.
std::size_t push_workers(int parallel, std::size_t jobs, std::uint64_t bytes, bool remote);

/// Sends `jobs` (resuming partials at DEST, hashes checked on arrival by DEST's writer);
/// counts into `result` and records each failure there. Returns the hashes that arrived.
std::set<std::string> send_objects(Context& ctx, const Repository& src, const Repository& dest,
                                   const PushOptions& options, PushResult& result,
                                   const std::vector<ObjectJob>& jobs, std::uint64_t total_bytes);

} // namespace clsync::core::repo::detail
