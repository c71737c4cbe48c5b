// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/digest.hpp"
#include "transport/node.hpp"
#include "transport/object.hpp"
#include "transport/sha256.hpp"
#include "transport/tar_format.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

/// The backup object codec (object.hpp): a chunk stream to pax tar + zstd bytes and back, with
/// our own tar writer and reader (tar_format.hpp) over libzstd's streaming API, so that the
/// static agent runs it too. Buffers are fixed: no file and no object is ever held whole.
namespace clsync::transport {

/// A ChunkSink that writes the chunk it receives as an object to `out`.
class ObjectPacker : public ChunkSink {
public:
  /// `who` prefixes messages ("node dn1: pack Level1/…/T"). Throws TransportError(error) when
  /// zstd cannot be set up.
  ObjectPacker(ByteSink& out, const PackOptions& options, std::string who);
  ~ObjectPacker() override;

  void begin_file(const FileEntry& file) override;
  void file_data(std::span<const char> data) override;
  void file_hole(std::uint64_t length) override;
  void end_file(const std::string& sha256) override;
  void directory(const ChunkDir& dir) override;

  /// Ends the tar and the zstd frame and returns what was packed. `read` is the digest of the
  /// chunk as read (read_chunk's result): its fingerprint is kept; the content hash is that of
  /// the files kept (equal to read's without --columns).
  PackResult finish(const ChunkDigest& read);

private:
  void emit(std::span<const char> data, bool end = false);
  void emit(const std::string& s) { emit(std::span<const char>(s.data(), s.size())); }
  bool keep(const FileEntry& file) const;

  struct Zstd;
  ByteSink& m_out;
  PackOptions m_options;
  std::string m_who;
  std::unique_ptr<Zstd> m_z;
  std::vector<char> m_zout;
  Sha256 m_object_sha;
  std::uint64_t m_object_size = 0;
  std::string m_header;

  ChunkManifest m_manifest;
  std::vector<HashedFile> m_hashed;
  std::map<std::string, std::string> m_skipped; ///< files left out by --columns
  bool m_in_file = false;
  bool m_skip = false;
  std::uint64_t m_file_bytes = 0;
  std::uint64_t m_bytes = 0;
  bool m_finished = false;
};

/// A ByteSink that decodes object bytes and drives `sink` with the chunk, checking everything
/// against `expected` (see ObjectWriter): it calls begin_file / file_data / file_hole / end_file
/// as the members arrive, and the directories (the manifest's, children first) from finish().
/// Every refusal is a TransportError(refused) naming `who` and the entry.
class ObjectUnpacker : public ByteSink {
public:
  ObjectUnpacker(ChunkSink& sink, const ChunkManifest& expected, std::string who);
  ~ObjectUnpacker() override;

  void write(std::span<const char> data) override;

  struct Result {
    std::string object_sha256;
    std::uint64_t object_size = 0;
    std::uint64_t bytes = 0;  ///< file bytes decoded
    std::string content_hash; ///< of the manifest (checked files and directories)
  };
  /// Checks that the zstd stream and the tar ended, that every listed file and directory came,
  /// and (when not empty) that the object's bytes hash to `object_sha256`; then sends the
  /// directories to the sink.
  Result finish(const std::string& object_sha256);

private:
  struct State;
  void feed(const char* p, std::size_t n);
  void on_header();
  void on_member(const tar::Member& m, char typeflag);
  void on_data(const char* p, std::size_t n);
  void end_member();
  [[noreturn]] void refuse(const std::string& entry, const std::string& why) const;

  std::unique_ptr<State> m_s;
};

/// Checks a manifest as a hostile snapshot may hand it: paths, links, holes. Returns "" or why.
std::string manifest_problem(const ChunkManifest& m);

/// An ObjectWriter that unpacks into `writer` (any failure aborts it, removing the temp); the
/// manifest is checked first. Node::unpack_chunk's writer.
std::unique_ptr<ObjectWriter> make_unpacking_writer(std::unique_ptr<ChunkWriter> writer,
                                                    const ChunkManifest& expected,
                                                    std::string who);

} // namespace clsync::transport
