// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Fuzz target: the tar reader of backup objects (transport/tar_format.cpp) and the object
// unpacker over it (transport/object_unpack.cpp). The first input byte picks a mode:
//   0  header and pax parsers on raw blocks (checksums fixed up, so the fuzzer gets past them)
//   1  writer/reader round trip: a member built from the input, written, read back unchanged
//   2  unpacker: "<u16 manifest length><manifest CBOR (wire encoding)><tar>", the tar's header
//      checksums fixed up, compressed here with zstd and fed in uneven pieces
//   3  unpacker on the raw input as zstd bytes, with the same manifest framing
// An object is data from elsewhere: refusals must be TransportError; the sink must see a
// well-formed chunk stream (every file's bytes and holes add up to its size).
#include "transport/agent_protocol.hpp"
#include "transport/object_codec.hpp"
#include "transport/tar_format.hpp"

#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

using namespace clsync::transport;

[[noreturn]] void fuzz_tar_fail(const char* why)
{
  std::fprintf(stderr, "fuzz_tar: %s\n", why);
  std::abort();
}

/// Recomputes the checksum of every block that carries the ustar magic.
void fix_checksums(std::string& tar_bytes)
{
  for (std::size_t at = 0; at + tar::k_block <= tar_bytes.size(); at += tar::k_block) {
    char* b = tar_bytes.data() + at;
    if (std::memcmp(b + 257, "ustar", 5) != 0) {
      continue;
    }
    std::memset(b + 148, ' ', 8);
    unsigned sum = 0;
    for (std::size_t i = 0; i < tar::k_block; ++i) {
      sum += static_cast<unsigned char>(b[i]);
    }
    std::snprintf(b + 148, 8, "%06o", sum & 0777777);
  }
}

void parse_blocks(std::string data)
{
  fix_checksums(data);
  for (std::size_t at = 0; at + tar::k_block <= data.size(); at += tar::k_block) {
    tar::RawHeader raw;
    if (tar::parse_header(data.data() + at, raw).empty() && raw.mode > 07777) {
      fuzz_tar_fail("header accepted with mode bits beyond 07777");
    }
    (void)tar::is_zero_block(data.data() + at);
  }
  tar::PaxRecords pax;
  (void)tar::parse_pax(data, pax);
  (void)tar::is_utf8(data);
}

template <class T> T take(std::string_view& in)
{
  T v{};
  const std::size_t n = std::min(sizeof v, in.size());
  std::memcpy(&v, in.data(), n);
  in.remove_prefix(n);
  return v;
}

/// Writes a member's headers and reads them back as the unpacker does.
void round_trip(std::string_view in)
{
  tar::Member m;
  const auto kind = take<std::uint8_t>(in) % 3;
  m.kind = kind == 0 ? tar::Kind::file : kind == 1 ? tar::Kind::hard_link : tar::Kind::directory;
  // A file is at most off_t's range.
  m.size = m.kind == tar::Kind::file ? take<std::uint64_t>(in) >> 1 : 0;
  m.mtime_ns = take<std::int64_t>(in);
  m.mode = take<std::uint32_t>(in) & 07777;
  m.uid = take<std::uint32_t>(in);
  m.gid = take<std::uint32_t>(in);
  const auto split = std::min<std::size_t>(take<std::uint16_t>(in), in.size());
  m.path = std::string(in.substr(0, split));
  if (m.kind == tar::Kind::hard_link) {
    m.link_to = std::string(in.substr(split));
  }
  if (m.path.find('\0') != std::string::npos || m.link_to.find('\0') != std::string::npos ||
      (m.kind == tar::Kind::hard_link && m.link_to.empty()) ||
      (m.kind == tar::Kind::directory && !m.path.empty() && m.path.back() == '/')) {
    return; // not a member a chunk can hold
  }
  std::string out;
  tar::append_header(out, m);
  if (out.size() % tar::k_block != 0) {
    fuzz_tar_fail("headers not whole blocks");
  }
  tar::PaxRecords pax;
  std::size_t at = 0;
  tar::RawHeader raw;
  if (auto why = tar::parse_header(out.data(), raw); !why.empty()) {
    fuzz_tar_fail(("written header does not parse: " + why).c_str());
  }
  if (raw.typeflag == 'x') {
    if (auto why = tar::parse_pax(std::string_view(out).substr(tar::k_block, raw.size), pax);
        !why.empty()) {
      std::fprintf(stderr, "mtime_ns %lld: ", static_cast<long long>(m.mtime_ns));
      fuzz_tar_fail(("written pax header does not parse: " + why).c_str());
    }
    at = tar::k_block + raw.size + tar::padding(raw.size);
    if (at + tar::k_block != out.size() || !tar::parse_header(out.data() + at, raw).empty()) {
      fuzz_tar_fail("written member header after the pax header does not parse");
    }
  }
  const std::string name = pax.has_path ? pax.path : raw.name;
  std::string want = m.path.empty() ? "./" : m.path;
  if (m.kind == tar::Kind::directory && !m.path.empty()) {
    want += '/';
  }
  const std::int64_t mtime = pax.has_mtime ? pax.mtime_ns : raw.mtime_s * 1'000'000'000;
  if (name != want || (pax.has_linkpath ? pax.linkpath : raw.linkname) != m.link_to ||
      (pax.has_size ? pax.size : raw.size) != m.size || mtime != m.mtime_ns ||
      raw.mode != m.mode || (pax.has_uid ? pax.uid : raw.uid) != m.uid ||
      (pax.has_gid ? pax.gid : raw.gid) != m.gid) {
    fuzz_tar_fail("a member does not read back as written");
  }
}

/// A ChunkSink that checks the stream the unpacker drives.
class CheckingSink : public ChunkSink {
public:
  void begin_file(const FileEntry& file) override
  {
    if (m_open || m_dirs) {
      fuzz_tar_fail("begin_file inside a file or after directories");
    }
    m_open = true;
    m_size = file.link_to.empty() ? file.size : 0;
    m_got = 0;
  }
  void file_data(std::span<const char> data) override { add(data.size()); }
  void file_hole(std::uint64_t length) override { add(length); }
  void end_file(const std::string&) override
  {
    if (!m_open || m_got != m_size) {
      fuzz_tar_fail("end_file without begin_file, or the bytes do not add up");
    }
    m_open = false;
  }
  void directory(const ChunkDir&) override
  {
    if (m_open) {
      fuzz_tar_fail("directory inside a file");
    }
    m_dirs = true;
  }

private:
  void add(std::uint64_t n)
  {
    if (!m_open || n == 0 || n > m_size - m_got) {
      fuzz_tar_fail("data outside a file, empty, or beyond its size");
    }
    m_got += n;
  }
  bool m_open = false, m_dirs = false;
  std::uint64_t m_size = 0, m_got = 0;
};

void unpack(std::string_view in, bool compress_here)
{
  const auto len = std::min<std::size_t>(take<std::uint16_t>(in), in.size());
  ChunkManifest manifest;
  try {
    // As the agent reads an unpack request's manifest (from_payload guards the nesting).
    const std::vector<char> payload(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(len));
    wire::from_wire(wire::from_payload(payload, "manifest"), manifest);
  } catch (const nlohmann::json::exception&) {
    return; // the manifest comes from a checked snapshot; only the object is fuzzed here
  } catch (const TransportError&) {
    return;
  }
  in.remove_prefix(len);
  std::string object;
  if (compress_here) {
    std::string tar_bytes(in);
    fix_checksums(tar_bytes);
    object.resize(ZSTD_compressBound(tar_bytes.size()));
    const std::size_t n =
        ZSTD_compress(object.data(), object.size(), tar_bytes.data(), tar_bytes.size(), 1);
    if (ZSTD_isError(n)) {
      fuzz_tar_fail("zstd cannot compress");
    }
    object.resize(n);
  } else {
    object = std::string(in);
  }
  CheckingSink sink;
  try {
    ObjectUnpacker unpacker(sink, manifest, "fuzz object");
    // Uneven pieces: a header or a record split across writes must not matter.
    std::size_t at = 0, step = 1;
    while (at < object.size()) {
      const std::size_t n = std::min(step, object.size() - at);
      unpacker.write(std::span<const char>(object.data() + at, n));
      at += n;
      step = step * 3 % 1021 + 1;
    }
    (void)unpacker.finish("");
  } catch (const TransportError& e) {
    if (e.kind() != FailureKind::refused && e.kind() != FailureKind::error) {
      fuzz_tar_fail("unexpected failure kind");
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
  if (size == 0) {
    return 0;
  }
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
  case 0:
    parse_blocks(std::string(in));
    break;
  case 1:
    round_trip(in);
    break;
  case 2:
    unpack(in, true);
    break;
  default:
    unpack(in, false);
    break;
  }
  return 0;
}
