// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/types.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

/// Helpers that build real chunk trees on disk for tests, and a real tmpfs mount.
namespace clsync::test {

/// Writes `content` to `path` (parents created) and sets its mode and mtime (ns); returns the
/// FileEntry a node should report for it, with `rel` as its path.
transport::FileEntry put_file(const std::filesystem::path& path,
                              const std::string& rel,
                              const std::string& content,
                              std::uint32_t mode = 0644,
                              std::int64_t mtime_ns = 1'591'000'000'123'456'789);

/// Writes `size` deterministic pseudo-random bytes (from `seed`) to `path` in 1 MiB blocks,
/// never holding the whole file; returns its SHA-256 hex.
std::string fill_file(const std::filesystem::path& path, std::uint64_t size, std::uint64_t seed);

/// Sets a path's mtime (ns) without following symlinks.
void set_mtime(const std::filesystem::path& path, std::int64_t mtime_ns);

/// The mtime of `path` in ns (not following symlinks).
std::int64_t mtime_of(const std::filesystem::path& path);

/// SHA-256 hex of a file's bytes, streamed.
std::string sha256_of_file(const std::filesystem::path& path);

/// True when `dir` holds an entry whose name starts with `prefix`.
bool has_entry_starting(const std::filesystem::path& dir, const std::string& prefix);

/// A tmpfs mounted at `path` (created) for the lifetime of the object; unmounted (lazily) on
/// destruction. The constructor FAILS the current test (doctest REQUIRE) when mount(8) fails:
/// tests run as root, and a test that cannot build its filesystem must not pass.
class TmpfsMount {
public:
  TmpfsMount(const std::filesystem::path& path, const std::string& size);
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  const std::filesystem::path& path() const { return m_path; }

private:
  std::filesystem::path m_path;
};

/// A bind mount of `source` at `target` for the lifetime of the object (REQUIRE on failure).
class BindMount {
public:
  BindMount(const std::filesystem::path& source, const std::filesystem::path& target);
  ~BindMount();
  BindMount(const BindMount&) = delete;
  BindMount& operator=(const BindMount&) = delete;

private:
  std::filesystem::path m_path;
};

} // namespace clsync::test
