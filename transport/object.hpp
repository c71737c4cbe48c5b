// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/byte_sink.hpp"
#include "transport/types.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

/// Backup objects (SPEC §7): one chunk as a standard pax tar compressed with zstd, so that
/// `tar --zstd -xf OBJECT` gives the chunk's files without clsync and `sha256sum` checks each
/// one against the snapshot. The manifest is what a snapshot records of the chunk; every unpack
/// is checked against it, because a repository is data from elsewhere.
namespace clsync::transport {

/// A run of zero bytes of a file that the source stores as a hole: [offset, offset + length).
/// The tar carries a hole as zeros (zstd makes them nearly free); unpack makes it a hole again.
struct HoleRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  bool operator==(const HoleRange&) const = default;
};

/// One regular file of a chunk as an object and its snapshot record it.
struct ObjectFile {
  FileEntry entry;     ///< path, size, mtime_ns, mode, uid, gid, link_to (hard link)
  std::string sha256;  ///< hex SHA-256 of the file's bytes (a hard link: its target's)
  std::vector<HoleRange> holes;  ///< in offset order; empty for a dense file
};

/// Everything a chunk's object holds, in chunk-stream order (node.hpp, ChunkSink): files in
/// sorted path order, then directories children first, the chunk's own directory ("") last.
struct ChunkManifest {
  std::vector<ObjectFile> files;
  std::vector<ChunkDir> dirs;
};

/// How to compress an object.
struct PackOptions {
  int level = 3;    ///< zstd level (1..19)
  int threads = 0;  ///< zstd worker threads for this object; 0: compress on the calling thread
  /// backup --columns: keep only the files whose name without extension is listed (directories
  /// all stay). Empty: every file. The object's id is then the content hash of what it holds.
  std::vector<std::string> columns;
};

/// What packing a chunk produced.
struct PackResult {
  ChunkManifest manifest;
  ChunkDigest digest;          ///< the chunk as read: content hash (the object's id), fingerprint
  std::string object_sha256;   ///< hex SHA-256 of the compressed object bytes
  std::uint64_t object_size = 0;
};

/// Takes an object's bytes (tar + zstd) and writes the chunk into `<volume>/.clsync-tmp-<task>/`
/// (SPEC §5 step 1), refusing anything the manifest does not list exactly: other names, `..`,
/// absolute paths, symlinks, devices, hard links out of the chunk, sizes that differ (output is
/// counted against the manifest, so a decompression bomb stops at the first excess byte).
class ObjectWriter : public ByteSink {
public:
  /// Checks that the object ended where the tar ends, that its bytes hash to `object_sha256`
  /// and every file's to the manifest's, then fsyncs like ChunkWriter::finish and returns the
  /// digest of the chunk written. Throws TransportError(refused) naming the entry on any
  /// mismatch (the temp is removed).
  virtual ChunkDigest finish(const std::string& object_sha256) = 0;
  /// Removes the temp directory; safe after any failure, never throws.
  virtual void abort() noexcept = 0;
};

/// Result of checking an object file in place (verify --read-data).
struct ObjectCheck {
  bool ok = false;
  std::string error;  ///< what is wrong, naming the entry, when !ok
  std::string object_sha256;
  std::uint64_t object_size = 0;
  std::uint64_t bytes = 0;  ///< uncompressed bytes of the files checked
};

} // namespace clsync::transport
