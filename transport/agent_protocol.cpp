// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/agent_protocol.hpp"

#include <zstd.h>

#include <cstring>
#include <memory>

namespace clsync::transport::wire {

using nlohmann::json;

void protocol_error(const std::string& what)
{
  throw TransportError(FailureKind::error, "agent protocol: " + what);
}

void bad_field(const char* key)
{
  protocol_error(std::string("missing or mistyped field '") + key + "'");
}

bool is_known(std::uint8_t t) noexcept
{
  return (t >= 1 && t <= 15) || (t >= 32 && t <= 53) || (t >= 60 && t <= 62) ||
         (t >= 70 && t <= 72) || (t >= 75 && t <= 76) || (t >= 80 && t <= 81) ||
         (t >= 90 && t <= 92) || t == 110;
}

const char* to_string(MsgType t) noexcept
{
  switch (t) {
  case MsgType::hello:
    return "hello";
  case MsgType::hello_reply:
    return "hello_reply";
  case MsgType::reply:
    return "reply";
  case MsgType::error:
    return "error";
  case MsgType::keepalive:
    return "keepalive";
  case MsgType::data:
    return "data";
  case MsgType::file_begin:
    return "file_begin";
  case MsgType::file_end:
    return "file_end";
  case MsgType::finish:
    return "finish";
  case MsgType::abort:
    return "abort";
  case MsgType::cancel:
    return "cancel";
  case MsgType::scan_part:
    return "scan_part";
  case MsgType::data_zstd:
    return "data_zstd";
  case MsgType::hole:
    return "hole";
  case MsgType::dir:
    return "dir";
  case MsgType::scan:
    return "scan";
  case MsgType::read_chunk:
    return "read_chunk";
  case MsgType::write_chunk:
    return "write_chunk";
  case MsgType::fingerprint:
    return "fingerprint";
  case MsgType::hash_chunk:
    return "hash_chunk";
  case MsgType::commit_chunk:
    return "commit_chunk";
  case MsgType::rename_chunk:
    return "rename_chunk";
  case MsgType::copy_chunk_local:
    return "copy_chunk_local";
  case MsgType::trash_chunk:
    return "trash_chunk";
  case MsgType::untrash_chunk:
    return "untrash_chunk";
  case MsgType::remove_task_dirs:
    return "remove_task_dirs";
  case MsgType::write_intent:
    return "write_intent";
  case MsgType::remove_intent:
    return "remove_intent";
  case MsgType::acquire_lease:
    return "acquire_lease";
  case MsgType::refresh_lease:
    return "refresh_lease";
  case MsgType::release_lease:
    return "release_lease";
  case MsgType::read_lease:
    return "read_lease";
  case MsgType::read_file:
    return "read_file";
  case MsgType::create_file:
    return "create_file";
  case MsgType::list_dir:
    return "list_dir";
  case MsgType::remove_file:
    return "remove_file";
  case MsgType::ping:
    return "ping";
  case MsgType::locate_chunk:
    return "locate_chunk";
  case MsgType::place_hold:
    return "place_hold";
  case MsgType::release_hold:
    return "release_hold";
  case MsgType::pack_chunk:
    return "pack_chunk";
  case MsgType::unpack_chunk:
    return "unpack_chunk";
  case MsgType::check_object:
    return "check_object";
  case MsgType::append_file:
    return "append_file";
  case MsgType::list_tree:
    return "list_tree";
  case MsgType::create_dir:
    return "create_dir";
  case MsgType::rename_file:
    return "rename_file";
  case MsgType::pull_chunk:
    return "pull_chunk";
  case MsgType::direct_unavailable:
    return "direct_unavailable";
  case MsgType::pull_progress:
    return "pull_progress";
  case MsgType::rename_chunks:
    return "rename_chunks";
  }
  return "unknown";
}

std::array<char, k_header_size> encode_header(MsgType type, std::size_t length)
{
  if (length > k_max_frame) {
    protocol_error("frame of " + std::to_string(length) + " bytes exceeds the limit of " +
                   std::to_string(k_max_frame));
  }
  const auto n = static_cast<std::uint32_t>(length);
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
          static_cast<char>(n), static_cast<char>(type)};
}

void decode_header(const char* h, MsgType& type, std::uint32_t& length)
{
  const auto* u = reinterpret_cast<const unsigned char*>(h);
  length = (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
           std::uint32_t{u[3]};
  if (length > k_max_frame) {
    protocol_error("frame of " + std::to_string(length) + " bytes exceeds the limit of " +
                   std::to_string(k_max_frame) + " (not a clsync agent stream?)");
  }
  if (!is_known(u[4])) {
    protocol_error("unknown frame type " + std::to_string(u[4]));
  }
  type = static_cast<MsgType>(u[4]);
}

FrameReader::FrameReader(ByteSource& source, std::size_t buffer_size)
    : m_source(source), m_size(std::max<std::size_t>(buffer_size, 64)), m_buf(new char[m_size])
{
}

bool FrameReader::fill(std::size_t n, bool allow_eof)
{
  while (m_end - m_begin < n) {
    if (m_size - m_begin < n) {
      std::memmove(m_buf.get(), m_buf.get() + m_begin, m_end - m_begin);
      m_end -= m_begin;
      m_begin = 0;
    }
    std::size_t got = m_source.read_some(m_buf.get() + m_end, m_size - m_end);
    if (got == 0) {
      if (allow_eof && m_begin == m_end) {
        return false;
      }
      protocol_error("stream ended inside a frame (truncated)");
    }
    m_end += got;
  }
  return true;
}

bool FrameReader::next(Frame& frame)
{
  if (!fill(k_header_size, true)) {
    return false;
  }
  std::uint32_t length = 0;
  decode_header(m_buf.get() + m_begin, frame.type, length);
  m_begin += k_header_size;
  frame.payload.resize(length);
  // Copy what is buffered, then read the rest straight into the payload (big frames).
  std::size_t have = std::min<std::size_t>(length, m_end - m_begin);
  if (have > 0) { // an empty payload's data() may be null: memcpy(null, …, 0) is undefined
    std::memcpy(frame.payload.data(), m_buf.get() + m_begin, have);
  }
  m_begin += have;
  if (m_begin == m_end) {
    m_begin = m_end = 0;
  }
  while (have < length) {
    std::size_t got = m_source.read_some(frame.payload.data() + have, length - have);
    if (got == 0) {
      protocol_error("stream ended inside a frame (truncated)");
    }
    have += got;
  }
  return true;
}

std::vector<char> to_payload(const json& j)
{
  std::vector<char> out;
  json::to_cbor(j, out);
  return out;
}

namespace {

/// Deepest nesting of arrays and maps a control payload may have; ours nest five levels.
constexpr std::size_t k_max_cbor_depth = 64;

/// Why the CBOR item in `p` must not reach from_cbor: it nests arrays, maps or indefinite
/// strings deeper than `limit`, or its structure breaks off where the walk cannot go on (a
/// length beyond the payload, a reserved byte); empty when it may. Read without recursion:
/// nlohmann's CBOR reader recurses once per level, so a payload of nested one-byte arrays would
/// overflow the stack (a crash, not an error) far below k_max_frame. A broken structure is
/// refused here too, not left to from_cbor: an array that claims more items than the payload
/// has bytes ended this walk early while from_cbor recursed into its items (the tar fuzzer).
std::string cbor_shape_problem(const std::vector<char>& p, std::size_t limit)
{
  constexpr std::uint64_t indefinite = ~std::uint64_t{0};
  std::vector<std::uint64_t> open; // items still to come at each open level
  std::size_t pos = 0;
  const std::size_t size = p.size();
  auto broken = [&](const char* why) {
    return std::string(why) + " at byte " + std::to_string(pos);
  };
  while (pos < size) {
    const auto b = static_cast<unsigned char>(p[pos++]);
    const unsigned major = b >> 5, info = b & 31;
    bool done = true; // the byte completed an item (else it opened a level or is a tag)
    if (b == 0xFF) {
      if (open.empty() || open.back() != indefinite) {
        return broken("a break outside an indefinite item");
      }
      open.pop_back();
    } else {
      std::uint64_t arg = info;
      if (info >= 24 && info <= 27) {
        const std::size_t n = std::size_t{1} << (info - 24);
        if (size - pos < n) {
          return broken("a length cut short");
        }
        arg = 0;
        for (std::size_t i = 0; i < n; ++i) {
          arg = arg << 8 | static_cast<unsigned char>(p[pos++]);
        }
      } else if (info >= 28 && info <= 30) {
        return broken("a reserved additional-information value");
      }
      const bool indef = info == 31;
      if ((major == 2 || major == 3) && !indef) {
        if (arg > size - pos) {
          return broken("a string longer than the payload");
        }
        pos += static_cast<std::size_t>(arg);
      } else if (major == 2 || major == 3 || major == 4 || major == 5) {
        if (indef) {
          open.push_back(indefinite);
          done = false;
        } else if (arg > size - pos) {
          return broken("more items than the payload has bytes");
        } else if (arg > 0) {
          open.push_back(major == 5 ? 2 * arg : arg);
          done = false;
        }
      } else if (major == 6) {
        done = false; // a tag: its item follows
      }
      if (open.size() > limit) {
        return "nested deeper than " + std::to_string(limit) + " levels";
      }
    }
    while (done && !open.empty() && open.back() != indefinite) {
      if (--open.back() > 0) {
        break;
      }
      open.pop_back();
    }
  }
  return {}; // complete, or cut short at the end: from_cbor says which
}

} // namespace

json from_payload(const std::vector<char>& payload, const char* what)
{
  if (const std::string why = cbor_shape_problem(payload, k_max_cbor_depth); !why.empty()) {
    protocol_error(std::string("malformed ") + what + " payload: " + why);
  }
  try {
    return json::from_cbor(payload.begin(), payload.end());
  } catch (const json::exception& e) {
    protocol_error(std::string("malformed ") + what + " payload: " + e.what());
  }
}

std::vector<char> compress_data(std::span<const char> data)
{
  // One context per thread: a connection is used by one thread at a time, and contexts are
  // expensive to create per 256 KiB frame.
  thread_local std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> ctx(ZSTD_createCCtx(),
                                                                        &ZSTD_freeCCtx);
  std::vector<char> out(ZSTD_compressBound(data.size()));
  std::size_t n = ZSTD_compressCCtx(ctx.get(), out.data(), out.size(), data.data(), data.size(), 1);
  if (ZSTD_isError(n) || n >= data.size()) {
    return {};
  }
  out.resize(n);
  return out;
}

std::vector<char> DataCompressor::compress(std::span<const char> data)
{
  if (m_skip > 0) {
    --m_skip;
    return {};
  }
  auto z = compress_data(data);
  if (z.empty()) {
    m_skip = k_skip;
  }
  return z;
}

void decompress_data(const std::vector<char>& payload, std::vector<char>& out)
{
  thread_local std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(),
                                                                        &ZSTD_freeDCtx);
  unsigned long long size = ZSTD_getFrameContentSize(payload.data(), payload.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > k_max_frame) {
    protocol_error("corrupt or oversized compressed data frame");
  }
  out.resize(static_cast<std::size_t>(size));
  std::size_t n =
      ZSTD_decompressDCtx(ctx.get(), out.data(), out.size(), payload.data(), payload.size());
  if (ZSTD_isError(n) || n != size) {
    protocol_error(std::string("corrupt compressed data frame: ") +
                   (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  }
}

FailureKind failure_kind_from_string(const std::string& s) noexcept
{
  for (auto k : {FailureKind::error, FailureKind::timeout, FailureKind::auth, FailureKind::host_key,
                 FailureKind::not_found, FailureKind::refused, FailureKind::no_space}) {
    if (s == transport::to_string(k)) {
      return k;
    }
  }
  return FailureKind::error;
}

void check_hello_reply(const HelloReply& r, const std::string& node)
{
  if (r.protocol != k_protocol_version) {
    throw TransportError(FailureKind::error,
                         "agent on " + node + " speaks protocol " + std::to_string(r.protocol) +
                             " (clsync " + r.version + "), this clsync speaks " +
                             std::to_string(k_protocol_version) +
                             "; deploy a matching clsync or use --deploy-agent");
  }
  if (!r.error.empty()) {
    throw TransportError(FailureKind::refused, "agent on " + node + " refused: " + r.error);
  }
}

std::string get_string(const json& j, const char* key)
{
  auto it = j.find(key);
  if (!j.is_object() || it == j.end() || !it->is_string()) {
    throw TransportError(FailureKind::refused,
                         std::string("request without a string '") + key + "'");
  }
  return it->get<std::string>();
}

std::uint64_t get_u64(const json& j, const char* key)
{
  auto it = j.find(key);
  if (!j.is_object() || it == j.end() || !it->is_number_unsigned()) {
    throw TransportError(FailureKind::refused,
                         std::string("request without a number '") + key + "'");
  }
  return it->get<std::uint64_t>();
}

bool get_bool(const json& j, const char* key)
{
  auto it = j.find(key);
  if (!j.is_object() || it == j.end() || !it->is_boolean()) {
    throw TransportError(FailureKind::refused,
                         std::string("request without a boolean '") + key + "'");
  }
  return it->get<bool>();
}

} // namespace clsync::transport::wire
