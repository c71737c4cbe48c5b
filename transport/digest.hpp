// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/types.hpp"

#include <cstdint>
#include <span>
#include <string>

/// The three digests of a chunk (SPEC §3). Each is the lowercase hex SHA-256 of a canonical,
/// versioned text encoding of the chunk's entries, taken in byte-wise ascending order of
/// their relative paths (memcmp order; hard-linked names each count as a file). The encodings
/// below are a contract: the agent, backups and stored caches compare digests made by different
/// builds, so an encoding never changes — a new one gets a new version tag.
///
/// Notation: `\0` is a NUL byte, `\n` a newline, numbers are ASCII without leading zeros or '+',
/// modes are `mode & 07777` in octal. Paths cannot hold NUL, so every record is unambiguous.
/// Directories are the chunk's directories (ChunkDir), the chunk's own directory with the
/// empty path "" (so it sorts first); a path is never both a file and a directory.
///
/// - Quick fingerprint, `clsync-fp1` (files only, SPEC §3):
///     "clsync-fp1\n" then per file  <path> \0 <size decimal> \0 <mtime ns decimal, may be
///     negative> \0 <mode> \n
///   It changes when a name, size, mtime or permission bit changes (rsync's quick check).
/// - Layout hash, `clsync-layout2`:
///     "clsync-layout2\n" then per entry, files and directories merged in path order:
///       file       "f" \0 <path> \0 <size decimal> \0 <mode> \n
///       directory  "d" \0 <path> \0 <mode> \n
///   Two replicas that a database wrote independently (different mtimes) compare equal; a
///   missing empty directory or a changed mode makes them differ.
/// - Content hash, `clsync-content2`:
///     "clsync-content2\n" then per entry, files and directories merged in path order:
///       file       "f" \0 <path> \0 <size decimal> \0 <mode> \0 <sha256 hex lowercase> \n
///       directory  "d" \0 <path> \0 <mode> \n
///   where the sha256 is that of the file's logical bytes (a hole counts as its zeros).
///
/// Retired encodings (never produced any more; digests made with them differ from every new
/// one, which reads as "changed" or "divergent", never as equal):
/// - `clsync-layout1`: "clsync-layout1\n" then per file <path> \0 <size> \n (no directories,
///   no modes).
/// - `clsync-content1`: "clsync-content1\n" then per file <path> \0 <size> \0 <sha256> \n
///   (no directories, no modes).
namespace clsync::transport {

inline constexpr const char* k_fingerprint_tag = "clsync-fp1";
inline constexpr const char* k_layout_tag = "clsync-layout2";
inline constexpr const char* k_content_tag = "clsync-content2";
/// The retired tags (see above), kept so that their names stay searchable.
inline constexpr const char* k_layout_tag_v1 = "clsync-layout1";
inline constexpr const char* k_content_tag_v1 = "clsync-content1";

/// A file with the SHA-256 of its bytes, as the content hash needs it.
struct HashedFile {
  std::string path;
  std::uint64_t size = 0;
  std::string sha256;     ///< hex
  std::uint32_t mode = 0; ///< permission bits (07777)
};

/// Quick fingerprint over (path, size, mtime_ns, mode); the input may be in any order.
std::string quick_fingerprint(std::span<const FileEntry> files);

/// Layout hash over files (path, size, mode) and directories (path, mode); any order.
std::string layout_hash(std::span<const FileEntry> files, std::span<const ChunkDir> dirs);

/// Content hash over files (path, size, mode, sha256) and directories (path, mode); any order.
std::string content_hash(std::span<const HashedFile> files, std::span<const ChunkDir> dirs);

} // namespace clsync::transport
