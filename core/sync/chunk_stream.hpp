// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/byte_sink.hpp"
#include "transport/digest.hpp"
#include "transport/node.hpp"
#include "transport/object.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

/// The chunk stream of sync-online: one source replica's ChunkSink events (node.hpp) framed as
/// bytes, so that the fan-out (core/run/fan_out.hpp) passes one read to every destination, and
/// turned back into ChunkWriter events on each destination. Unlike a backup object it needs no
/// manifest in advance (a live chunk's file hashes are known only once it is read): each file is
/// checked against the source's SHA-256 as it ends, the whole chunk against the content hash.
namespace clsync::core::sync {

/// Frames ChunkSink events into `out`, streaming file bytes (never a whole file in memory).
/// `keep` (when set) says which files go (--columns); a hard link whose target is left out is
/// left out too. Computes the content hash of what it passed on. What the source sends is
/// checked before it is framed: a file sending more bytes (data or holes) than it announced,
/// or a name longer than a frame may carry, throws TransportError naming `source` ("node A1
/// volume /v", the replica read) and the file.
class ChunkStreamEncoder : public transport::ChunkSink {
public:
  ChunkStreamEncoder(transport::ByteSink& out,
                     std::function<bool(const std::string&)> keep,
                     std::string source = {});
  void begin_file(const transport::FileEntry& file) override;
  void file_data(std::span<const char> data) override;
  void file_hole(std::uint64_t length) override;
  void end_file(const std::string& sha256) override;
  void directory(const transport::ChunkDir& dir) override;
  /// Writes the end-of-stream frame; returns the content hash of the files and dirs passed on.
  std::string finish();
  std::uint64_t file_bytes() const { return m_bytes; }

private:
  void frame(char type, const std::string& body);
  void count_file_bytes(std::uint64_t n);
  [[noreturn]] void refuse(const std::string& what) const;

  transport::ByteSink& m_out;
  std::function<bool(const std::string&)> m_keep;
  std::string m_source;
  std::uint64_t m_file_bytes = 0;  ///< data and holes of the current file so far
  bool m_skipping = false;
  transport::FileEntry m_cur;
  std::vector<transport::HashedFile> m_files;
  std::vector<transport::ChunkDir> m_dirs;
  std::vector<std::string> m_kept_names;  ///< sorted as they came (the stream's path order)
  std::uint64_t m_bytes = 0;
};

/// A destination of the chunk stream: decodes the frames into a ChunkWriter (holes stay holes,
/// directories get their modes, owners and mtimes). finish() checks the stream ended.
class ChunkStreamWriter : public transport::ObjectWriter {
public:
  explicit ChunkStreamWriter(std::unique_ptr<transport::ChunkWriter> w);
  void write(std::span<const char> data) override;
  /// The digest of the chunk written (the argument is unused: the stream has no object hash).
  transport::ChunkDigest finish(const std::string& object_sha256) override;
  void abort() noexcept override;

private:
  void dispatch();
  /// The size m_hdr must reach for its frame to be complete (as far as known yet).
  std::size_t needed() const;

  std::unique_ptr<transport::ChunkWriter> m_w;
  std::string m_hdr;         ///< the frame being assembled (type, length, body)
  std::uint64_t m_data = 0;  ///< bytes of a data frame still to pass on
  bool m_ended = false;
};

} // namespace clsync::core::sync
