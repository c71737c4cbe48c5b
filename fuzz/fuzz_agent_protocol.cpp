// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Fuzz target: the agent protocol decoders (transport/agent_protocol.cpp, agent_wire_*.cpp), both
// directions. The first input byte picks the side: even, the client reading what an agent sent
// (hello reply, errors, replies, scan parts, file streams); odd, the agent reading what a
// client sent (hello, requests, write streams). The rest is a byte stream read by FrameReader in
// uneven pieces; each frame's payload is decoded as the receiving side does. A peer that breaks
// the protocol must end in TransportError; nothing else may escape, crash or leak.
#include "transport/agent_protocol.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

using namespace clsync::transport;
using nlohmann::json;
using wire::MsgType;

/// Hands out the input a few bytes at a time, as a socket might.
class FuzzByteSource : public wire::ByteSource {
public:
  explicit FuzzByteSource(std::string_view in) : m_in(in) {}
  std::size_t read_some(char* buf, std::size_t n) override
  {
    const std::size_t k = std::min({n, m_in.size(), m_step});
    std::memcpy(buf, m_in.data(), k);
    m_in.remove_prefix(k);
    m_step = m_step * 5 % 997 + 1;
    return k;
  }

private:
  std::string_view m_in;
  std::size_t m_step = 3;
};

/// Runs one decode; a TransportError is the documented refusal.
template <class F> void fuzz_decode(F&& f)
{
  try {
    f();
  } catch (const TransportError&) {
  }
}

template <class T> void fuzz_as(const json& j)
{
  fuzz_decode([&] { (void)wire::decode<T>(j); });
}

template <class T> void fuzz_field(const json& j, const char* key)
{
  fuzz_decode([&] { (void)wire::decode<T>(j.is_object() ? j.value(key, json()) : json()); });
}

/// A chunk stream's frames, which either side decodes the same way (a read from the agent, a
/// write to it); false for any other frame type.
bool stream_side(const wire::Frame& f, const json& j)
{
  switch (f.type) {
  case MsgType::file_begin:
    fuzz_as<FileEntry>(j);
    return true;
  case MsgType::dir:
    fuzz_as<ChunkDir>(j);
    return true;
  case MsgType::hole:
    fuzz_decode([&] { (void)wire::get_u64(j, "length"); });
    return true;
  case MsgType::file_end:
    fuzz_decode([&] { (void)wire::get_string(j, "sha256"); });
    return true;
  default:
    return false;
  }
}

/// What the client decodes of a frame from the agent (agent_client.cpp, agent_node.cpp).
void client_side(const wire::Frame& f, const json& j)
{
  if (stream_side(f, j)) {
    return;
  }
  switch (f.type) {
  case MsgType::hello_reply:
    fuzz_decode([&] { wire::check_hello_reply(wire::decode<wire::HelloReply>(j), "fuzz node"); });
    break;
  case MsgType::error:
    fuzz_decode([&] {
      auto info = wire::decode<wire::ErrorInfo>(j);
      (void)to_string(info.kind);
    });
    break;
  case MsgType::scan_part:
    fuzz_decode([&] {
      if (!j.is_object() || !j.contains("replicas") || !j["replicas"].is_array()) {
        wire::bad_field("replicas");
      }
      for (const auto& r : j["replicas"]) {
        (void)wire::decode<ReplicaScan>(r);
      }
    });
    break;
  default: // REPLY: every reply type the client reads
    fuzz_as<NodeScan>(j);
    fuzz_as<ChunkDigest>(j);
    fuzz_as<LeaseResult>(j);
    fuzz_as<PackResult>(j);
    fuzz_as<ObjectCheck>(j);
    fuzz_as<DirEntry>(j);
    fuzz_as<VolumeScan>(j);
    fuzz_field<LeaseInfo>(j, "lease");
    fuzz_field<CommitOutcome>(j, "outcome");
    fuzz_field<RenameOutcome>(j, "outcome");
    fuzz_decode([&] { (void)wire::get_string(j, "fingerprint"); });
    fuzz_decode([&] { (void)wire::get_u64(j, "offset"); });
    break;
  }
}

/// What the agent decodes of a frame from the client (agent_server.cpp).
void agent_side(const wire::Frame& f, const json& j)
{
  if (stream_side(f, j)) {
    return;
  }
  switch (f.type) {
  case MsgType::hello:
    fuzz_as<wire::Hello>(j);
    break;
  default: // a request: every field reader the agent uses
    fuzz_as<ScanSpec>(j);
    fuzz_field<LeaseInfo>(j, "lease");
    fuzz_field<ChunkManifest>(j, "manifest");
    fuzz_field<PackOptions>(j, "options");
    fuzz_field<CommitMode>(j, "mode");
    fuzz_decode([&] { (void)wire::get_string(j, "volume"); });
    fuzz_decode([&] { (void)wire::get_u64(j, "offset"); });
    fuzz_decode([&] { (void)wire::get_bool(j, "force"); });
    break;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
  if (size == 0) {
    return 0;
  }
  const bool agent = data[0] & 1;
  std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  // The stream ends before a frame that claims more than 64 KiB: FrameReader sizes the payload
  // from the header (up to k_max_frame, 64 MiB), and zeroing that much per input would slow the
  // fuzzer a hundredfold; a truncated big frame is the same code path as a small one.
  for (std::size_t at = 0; at + wire::k_header_size <= stream.size();) {
    const auto* u = reinterpret_cast<const unsigned char*>(stream.data() + at);
    const std::size_t length = std::size_t{u[0]} << 24 | std::size_t{u[1]} << 16 |
                               std::size_t{u[2]} << 8 | std::size_t{u[3]};
    if (length > (64u << 10)) {
      stream = stream.substr(0, at + wire::k_header_size);
      break;
    }
    at += wire::k_header_size + length;
  }
  FuzzByteSource source(stream);
  wire::FrameReader reader(source, 64 + data[0] % 128);
  wire::Frame f;
  std::vector<char> bytes;
  try {
    while (reader.next(f)) {
      if (f.type == MsgType::data || f.type == MsgType::keepalive) {
        continue;
      }
      if (f.type == MsgType::data_zstd) {
        wire::decompress_data(f.payload, bytes);
        continue;
      }
      json j;
      try {
        j = wire::from_payload(f.payload, wire::to_string(f.type));
      } catch (const TransportError&) {
        continue;
      }
      agent ? agent_side(f, j) : client_side(f, j);
    }
  } catch (const TransportError&) {
    // a truncated or oversized frame, an unknown type, a corrupt DATA_ZSTD: the stream ends
  }
  return 0;
}
