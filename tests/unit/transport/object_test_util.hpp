// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/digest.hpp"
#include "transport/object_codec.hpp"
#include "transport/sha256.hpp"

#include <doctest/doctest.h>
#include <zstd.h>

#include <string>
#include <variant>
#include <vector>

/// In-memory chunks for the codec tests: a chunk described by its entries, sent to any
/// ChunkSink as a node's read_chunk would, and a sink that records what arrives.
namespace clsync::test::codec {

using namespace clsync::transport;

/// One piece of a file: bytes, or a hole of that many zeros.
using Piece = std::variant<std::string, std::uint64_t>;

struct TestFile {
  FileEntry entry;
  std::vector<Piece> pieces;
};

struct TestChunk {
  std::vector<TestFile> files; ///< sorted by path
  std::vector<ChunkDir> dirs;  ///< children first, "" last
};

inline std::string sha_of(const TestFile& f)
{
  Sha256 h;
  for (const Piece& p : f.pieces) {
    if (const auto* s = std::get_if<std::string>(&p)) {
      h.update(*s);
    } else {
      update_zeros(h, std::get<std::uint64_t>(p));
    }
  }
  return h.finish_hex();
}

/// Sends `c` to `sink` as read_chunk does and returns the digest read_chunk would.
inline ChunkDigest send_chunk(const TestChunk& c, ChunkSink& sink)
{
  std::vector<HashedFile> hashed;
  std::map<std::string, std::string> shas;
  ChunkDigest d;
  for (const TestFile& f : c.files) {
    sink.begin_file(f.entry);
    std::string sha;
    if (f.entry.link_to.empty()) {
      for (const Piece& p : f.pieces) {
        if (const auto* s = std::get_if<std::string>(&p)) {
          sink.file_data(std::span<const char>(s->data(), s->size()));
        } else {
          sink.file_hole(std::get<std::uint64_t>(p));
        }
      }
      sha = sha_of(f);
    } else {
      sha = shas[f.entry.link_to];
    }
    shas[f.entry.path] = sha;
    sink.end_file(sha);
    hashed.push_back({f.entry.path, f.entry.size, sha, f.entry.mode});
    d.bytes += f.entry.size;
    ++d.files;
  }
  for (const ChunkDir& dir : c.dirs) {
    sink.directory(dir);
  }
  d.content_hash = content_hash(hashed, c.dirs);
  std::vector<FileEntry> entries;
  for (const TestFile& f : c.files) {
    entries.push_back(f.entry);
  }
  d.fingerprint = quick_fingerprint(entries);
  return d;
}

class StringSink : public ByteSink {
public:
  void write(std::span<const char> data) override { bytes.append(data.data(), data.size()); }
  std::string bytes;
};

/// Records a chunk stream: files with their data (holes as `hole_bytes`) and directories.
class RecordSink : public ChunkSink {
public:
  struct File {
    FileEntry entry;
    std::string data; ///< holes appear as zeros here too
    std::uint64_t hole_bytes = 0;
    std::string sha256;
  };
  void begin_file(const FileEntry& f) override { files.push_back({f, "", 0, ""}); }
  void file_data(std::span<const char> d) override { files.back().data.append(d.data(), d.size()); }
  void file_hole(std::uint64_t n) override
  {
    files.back().hole_bytes += n;
    files.back().data.append(n, '\0');
  }
  void end_file(const std::string& sha) override { files.back().sha256 = sha; }
  void directory(const ChunkDir& d) override { dirs.push_back(d); }
  std::vector<File> files;
  std::vector<ChunkDir> dirs;
};

/// Packs `c` in memory.
inline PackResult pack(const TestChunk& c, std::string& object, const PackOptions& o = {})
{
  StringSink out;
  ObjectPacker packer(out, o, "test pack");
  ChunkDigest read = send_chunk(c, packer);
  PackResult r = packer.finish(read);
  object = std::move(out.bytes);
  return r;
}

/// Unpacks `object` against `m` into `sink`, in pieces of `step` bytes.
inline ObjectUnpacker::Result unpack(const std::string& object,
                                     const ChunkManifest& m,
                                     ChunkSink& sink,
                                     const std::string& object_sha = "",
                                     std::size_t step = 4093)
{
  ObjectUnpacker u(sink, m, "test object");
  for (std::size_t i = 0; i < object.size(); i += step) {
    u.write(std::span<const char>(object.data() + i, std::min(step, object.size() - i)));
  }
  return u.finish(object_sha);
}

/// zstd of `raw` (one frame, level 3).
inline std::string zstd(const std::string& raw)
{
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  std::size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 3);
  REQUIRE(!ZSTD_isError(n));
  out.resize(n);
  return out;
}

/// The decompressed bytes of `object`.
inline std::string unzstd(const std::string& object)
{
  std::string out;
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ZSTD_inBuffer in{object.data(), object.size(), 0};
  std::vector<char> buf(1 << 16);
  while (in.pos < in.size) {
    ZSTD_outBuffer o{buf.data(), buf.size(), 0};
    std::size_t r = ZSTD_decompressStream(d, &o, &in);
    REQUIRE(!ZSTD_isError(r));
    out.append(buf.data(), o.pos);
  }
  ZSTD_freeDCtx(d);
  return out;
}

} // namespace clsync::test::codec
