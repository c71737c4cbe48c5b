// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/types.hpp"

#include <cstdint>
#include <span>
#include <string>

/// The three digests of a chunk (SPEC §3). Each is the lowercase hex SHA-256 of a canonical,
/// versioned text encoding of the chunk's regular files, taken in byte-wise ascending order of
/// their relative paths (memcmp order; hard-linked names each count as a file). The encodings
/// below are a contract: the agent, backups and stored caches compare digests made by different
/// builds, so an encoding never changes — a new one gets a new version tag.
///
/// Notation: `\0` is a NUL byte, `\n` a newline, numbers are ASCII without leading zeros or '+'.
/// Paths cannot hold NUL, so every record is unambiguous.
///
/// - Quick fingerprint, `clsync-fp1`:
///     "clsync-fp1\n" then per file  <path> \0 <size decimal> \0 <mtime ns decimal, may be
///     negative> \0 <mode & 07777 in octal> \n
///   It changes when a name, size, mtime or permission bit changes (rsync's quick check).
/// - Layout hash, `clsync-layout1`:
///     "clsync-layout1\n" then per file  <path> \0 <size decimal> \n
///   Two replicas that a database wrote independently (different mtimes) compare equal.
/// - Content hash, `clsync-content1`:
///     "clsync-content1\n" then per file  <path> \0 <size decimal> \0 <sha256 hex lowercase> \n
///   where the sha256 is that of the file's bytes.
///
/// An empty chunk (no regular files) hashes just its tag line.
namespace clsync::transport {

inline constexpr const char* k_fingerprint_tag = "clsync-fp1";
inline constexpr const char* k_layout_tag = "clsync-layout1";
inline constexpr const char* k_content_tag = "clsync-content1";

/// A file with the SHA-256 of its bytes, as the content hash needs it.
struct HashedFile {
  std::string path;
  std::uint64_t size = 0;
  std::string sha256;  ///< hex
};

/// Quick fingerprint over (path, size, mtime_ns, mode); the input may be in any order.
std::string quick_fingerprint(std::span<const FileEntry> files);

/// Layout hash over (path, size); the input may be in any order.
std::string layout_hash(std::span<const FileEntry> files);

/// Content hash over (path, size, sha256); the input may be in any order.
std::string content_hash(std::span<const HashedFile> files);

} // namespace clsync::transport
