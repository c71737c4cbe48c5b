// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/digest.hpp"
#include "transport/node.hpp"
#include "transport/types.hpp"

#include <cstdint>
#include <string>
#include <vector>

/// The files of one chunk directory as the local node sees them, and streaming them out.
/// Used by scan, read_chunk, hash_chunk and commit_chunk alike, so every digest of a chunk is
/// computed by one piece of code.
namespace clsync::transport {

/// What a walk of a chunk directory found.
struct ChunkFiles {
  /// Regular files in byte-wise path order. For the second and later names of one inode,
  /// `link_to` names the first (a hard link inside the chunk).
  std::vector<FileEntry> files;
  /// Every directory, the chunk's own first (path ""), then in byte-wise path order.
  std::vector<ChunkDir> dirs;
  std::vector<std::string> special;   ///< symlinks, devices, FIFOs, sockets (relative, sorted)
  /// Sentences naming unreadable paths. A directory whose listing failed (readdir's error) is
  /// one: the walk is then incomplete and must not be taken for the whole chunk.
  std::vector<std::string> problems;
  std::uint64_t bytes = 0;            ///< sum of st_size over every name
  std::uint64_t allocated_bytes = 0;  ///< st_blocks * 512 over every inode (once per inode)
  std::int64_t newest_mtime_ns = 0;

  std::string fingerprint() const { return quick_fingerprint(files); }
  std::string layout() const { return layout_hash(files, dirs); }
};

/// Walks the directory open at `dirfd` recursively with openat/fstatat, never following a
/// symlink. `display` is the directory's path for problem sentences. Never throws for
/// unreadable subdirectories (they become problems); throws std::bad_alloc only.
ChunkFiles walk_chunk(int dirfd, const std::string& display);

/// Reads the files of `walk` beneath `dirfd` in order with a 1 MiB buffer and returns the
/// digest (content hash of the bytes read and of walk's directories; the fingerprint of `walk`).
/// The next files of the directory being read are opened up to 16 files / 8 MiB ahead with
/// their pages asked for (POSIX_FADV_WILLNEED), so a cold chunk's small files come from disk
/// in parallel rather than one after another.
/// Data extents are found with SEEK_DATA/SEEK_HOLE: holes are hashed as zeros here and never
/// read. With a `sink`, each file goes to it as begin_file, file_data…/file_hole…,
/// end_file(sha256); a hard-linked name gets begin_file and end_file (its target's hash) and no
/// data; then the directories as ChunkSink describes. `hashed`, when given, receives every
/// file's hash. Throws TransportError naming `who` and the path when a file cannot be read, or
/// (retryable) when a file is shorter than the walk saw — the chunk changed during the read.
ChunkDigest stream_chunk(int dirfd,
                         const ChunkFiles& walk,
                         ChunkSink* sink,
                         const std::string& who,
                         const std::string& display,
                         std::vector<HashedFile>* hashed = nullptr);

} // namespace clsync::transport
