// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

/// Internal to `clsync demo`: writes the replicas of the demo's chunks, fast and in bounded
/// memory.
namespace clsync::core {

class Events;

/// One chunk to write: the same bytes and mtimes under every root.
struct DemoChunkJob {
  std::string key;                          ///< relative chunk path
  std::uint64_t bytes = 0;                  ///< total over its column files
  std::vector<std::filesystem::path> roots; ///< volumes that get a replica
  timespec mtime{};                         ///< of every file and of the chunk directory
};

/// Deterministic 64-bit hash of a seed and strings (FNV-1a, then a splitmix64 finaliser).
std::uint64_t demo_hash(std::uint64_t seed, const std::string& a, const std::string& b = {});

/// Writes every job's files, `<Column>.col` per column of `columns`, with pseudo-random column
/// data seeded by (seed, key, column). Uses `threads` workers, each with one block buffer that
/// feeds all replicas of a file. Files are created with O_EXCL. Throws std::system_error naming
/// the path on any I/O failure (the first one; other workers stop). Stops starting chunks once
/// `*stop` is true and then throws Interrupted.
void write_demo_chunks(const std::vector<DemoChunkJob>& jobs,
                       const std::vector<std::string>& columns,
                       std::uint64_t seed,
                       unsigned threads,
                       Events* events,
                       const std::atomic<bool>* stop = nullptr);

} // namespace clsync::core
