// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "tests/integration/transport_suite.hpp"
#include "tests/support/chunk_tree.hpp"
#include "tests/support/scratch.hpp"
#include "transport/digest.hpp"
#include "transport/sha256.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

/// Helpers shared by the contract cases (transport_suite_*.cpp).
namespace clsync::test::contract {

namespace fs = std::filesystem;
using transport::FailureKind;

/// Runs `f`, which must throw a TransportError of `kind`; returns its message.
template <typename F>
std::string expect_failure(F&& f, FailureKind kind)
{
  try {
    f();
  } catch (const transport::TransportError& e) {
    std::string why = std::string("expected ") + transport::to_string(kind) + ", got " +
                      transport::to_string(e.kind()) + ": " + e.what();
    CHECK_MESSAGE(e.kind() == kind, why);
    return e.what();
  }
  std::string why = std::string("expected a TransportError of kind ") + transport::to_string(kind);
  FAIL(why);
  return "";
}

/// Forwards a chunk stream to another sink and remembers what passed.
class RecordingSink : public transport::ChunkSink {
public:
  struct Seen {
    transport::FileEntry entry;
    std::uint64_t data_bytes = 0;
    std::string sha256;
    std::uint64_t hole_bytes = 0;
  };
  explicit RecordingSink(transport::ChunkSink* next = nullptr) : m_next(next) {}
  void begin_file(const transport::FileEntry& f) override
  {
    seen.push_back({f, 0, "", 0});
    if (m_next) {
      m_next->begin_file(f);
    }
  }
  void file_data(std::span<const char> d) override
  {
    seen.back().data_bytes += d.size();
    if (m_next) {
      m_next->file_data(d);
    }
  }
  void file_hole(std::uint64_t length) override
  {
    seen.back().hole_bytes += length;
    if (m_next) {
      m_next->file_hole(length);
    }
  }
  void end_file(const std::string& sha) override
  {
    seen.back().sha256 = sha;
    if (m_next) {
      m_next->end_file(sha);
    }
  }
  void directory(const transport::ChunkDir& d) override
  {
    dirs.push_back(d);
    if (m_next) {
      m_next->directory(d);
    }
  }
  std::vector<Seen> seen;
  std::vector<transport::ChunkDir> dirs;

private:
  transport::ChunkSink* m_next;
};

/// Sends small in-memory files to a writer of `node` and finishes it (files in the given
/// order, which must be sorted); returns the writer's digest.
transport::ChunkDigest write_small(transport::Node& node,
                                   const std::string& volume,
                                   const std::string& task,
                                   const std::vector<std::pair<std::string, std::string>>& files,
                                   std::int64_t mtime_ns = 1'600'000'000'000'000'000);

/// Every directory under `dir` (and `dir` itself as ""), with modes (test's own view).
std::vector<transport::ChunkDir> expected_dirs(const fs::path& dir);

/// The content hash the node should report for files on disk under `dir` (test's own view).
std::string expected_content_hash(const fs::path& dir, const std::vector<std::string>& rels);

/// A ScanSpec for the databases used by the cases: Level1 and Level2 with levels [date, hash].
transport::ScanSpec test_spec(bool with_files = false, bool with_hashes = false);

/// The replica of `key` on `volume` in a scan, or nullptr.
const transport::ReplicaScan* find_replica(const transport::NodeScan& scan,
                                           const std::string& volume,
                                           const std::string& key);

/// Builds a small chunk of three files at `<volume>/<key>`; returns their entries.
std::vector<transport::FileEntry> make_small_chunk(const fs::path& volume,
                                                   const std::string& key,
                                                   const std::string& salt = "",
                                                   std::int64_t mtime_ns = 1'591'000'000'000'000'001);

/// The chunk of exact_copy at `chunk`: nested and empty directories with modes, owners and old
/// mtimes, a hard link pair, a private file owned by 4321, a 256 MiB sparse file.
void make_exact_chunk(const fs::path& chunk);

/// Every entry below `src` exists in `copy` with the same type, mode, owner, mtime, size,
/// bytes and link count, the copy has nothing more, and holes are kept.
void check_identical(const fs::path& src, const fs::path& copy);

inline const std::string k_key = "Level1/20200601/3/Snapshot";

} // namespace clsync::test::contract
