// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/sync/chunk_stream.hpp"

#include "transport/errors.hpp"

#include <algorithm>
#include <cstring>

namespace clsync::core::sync {
namespace {

// Frame types. A data frame is 'D' + u64 length + the bytes; every other frame is its type,
// a u32 body length and the body. Numbers are little-endian fixed width.
constexpr char k_file = 'F', k_data = 'D', k_hole = 'H', k_end_file = 'E', k_dir = 'R',
               k_end = 'Z';
constexpr std::size_t k_data_header = 9, k_frame_header = 5;
constexpr std::uint32_t k_max_body = 1u << 20;  // names are short; a bigger body is corrupt

template <typename T>
void put(std::string& s, T v)
{
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  s.append(b, sizeof(T));
}

void put_str(std::string& s, const std::string& v)
{
  put<std::uint32_t>(s, static_cast<std::uint32_t>(v.size()));  // bounded: see frame()
  s += v;
}

/// A chunk stream that cannot go on (its frames were not written by our encoder).
[[noreturn]] void stream_broken(const std::string& what)
{
  throw transport::TransportError(transport::FailureKind::error,
                                  "sync stream: " + what + " (internal error)", false);
}

/// Reads the fields of one frame body in order; throws on a short body.
class Reader {
public:
  explicit Reader(std::string_view body) : m_b(body) {}
  template <typename T>
  T get()
  {
    need(sizeof(T));
    T v;
    std::memcpy(&v, m_b.data() + m_at, sizeof(T));
    m_at += sizeof(T);
    return v;
  }
  std::string str()
  {
    const auto n = get<std::uint32_t>();
    need(n);
    std::string v(m_b.substr(m_at, n));
    m_at += n;
    return v;
  }

private:
  void need(std::size_t n) const
  {
    if (m_at + n > m_b.size()) {
      stream_broken("a truncated frame");
    }
  }
  std::string_view m_b;
  std::size_t m_at = 0;
};

} // namespace

ChunkStreamEncoder::ChunkStreamEncoder(transport::ByteSink& out,
                                       std::function<bool(const std::string&)> keep,
                                       std::string source)
    : m_out(out), m_keep(std::move(keep)), m_source(std::move(source))
{
}

void ChunkStreamEncoder::refuse(const std::string& what) const
{
  // What the source sent cannot be a chunk; retrying the same replica gets the same.
  throw transport::TransportError(transport::FailureKind::error,
                                  (m_source.empty() ? "the source" : m_source) + ": " + what,
                                  false);
}

void ChunkStreamEncoder::count_file_bytes(std::uint64_t n)
{
  // Checked here, against the size the source announced, so the error names the source (every
  // destination would refuse them too, each blaming itself).
  if (n > m_cur.size - m_file_bytes) {
    refuse("file " + m_cur.path + " sends more than the " + std::to_string(m_cur.size) +
           " bytes it announced");
  }
  m_file_bytes += n;
  m_bytes += n;
}

void ChunkStreamEncoder::frame(char type, const std::string& body)
{
  if (body.size() > k_max_body) {
    // Only names make a body long; a name this long comes from a broken or hostile source.
    refuse("a name of " + std::to_string(body.size()) + " bytes in the chunk (the limit is " +
           std::to_string(k_max_body) + ")");
  }
  std::string f;
  f.reserve(k_frame_header + body.size());
  f += type;
  put<std::uint32_t>(f, static_cast<std::uint32_t>(body.size()));
  f += body;
  m_out.write(f);
}

void ChunkStreamEncoder::begin_file(const transport::FileEntry& file)
{
  m_skipping = m_keep && !m_keep(file.path);
  if (!m_skipping && !file.link_to.empty()) {
    // A link to a file left out has no target on the destination: leave it out too.
    m_skipping = !std::binary_search(m_kept_names.begin(), m_kept_names.end(), file.link_to);
  }
  if (m_skipping) {
    return;
  }
  m_cur = file;
  m_file_bytes = 0;
  std::string b;
  put_str(b, file.path);
  put<std::uint64_t>(b, file.size);
  put<std::int64_t>(b, file.mtime_ns);
  put<std::uint32_t>(b, file.mode);
  put<std::uint32_t>(b, file.uid);
  put<std::uint32_t>(b, file.gid);
  put_str(b, file.link_to);
  frame(k_file, b);
}

void ChunkStreamEncoder::file_data(std::span<const char> data)
{
  if (m_skipping || data.empty()) {
    return;
  }
  count_file_bytes(data.size());
  std::string h;
  h += k_data;
  put<std::uint64_t>(h, data.size());
  m_out.write(h);
  m_out.write(data);
}

void ChunkStreamEncoder::file_hole(std::uint64_t length)
{
  if (m_skipping) {
    return;
  }
  count_file_bytes(length);
  std::string b;
  put<std::uint64_t>(b, length);
  frame(k_hole, b);
}

void ChunkStreamEncoder::end_file(const std::string& sha256)
{
  if (m_skipping) {
    m_skipping = false;
    return;
  }
  std::string b;
  put_str(b, sha256);
  frame(k_end_file, b);
  m_files.push_back({m_cur.path, m_cur.size, sha256, m_cur.mode});
  // Files arrive in sorted path order, so the list stays sorted for binary_search.
  m_kept_names.push_back(m_cur.path);
}

void ChunkStreamEncoder::directory(const transport::ChunkDir& dir)
{
  std::string b;
  put_str(b, dir.path);
  put<std::int64_t>(b, dir.mtime_ns);
  put<std::uint32_t>(b, dir.mode);
  put<std::uint32_t>(b, dir.uid);
  put<std::uint32_t>(b, dir.gid);
  frame(k_dir, b);
  m_dirs.push_back(dir);
}

std::string ChunkStreamEncoder::finish()
{
  frame(k_end, {});
  return transport::content_hash(m_files, m_dirs);
}

ChunkStreamWriter::ChunkStreamWriter(std::unique_ptr<transport::ChunkWriter> w)
    : m_w(std::move(w))
{
}

void ChunkStreamWriter::write(std::span<const char> data)
{
  while (!data.empty()) {
    if (m_data > 0) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(m_data, data.size()));
      m_w->file_data(data.first(n));
      m_data -= n;
      data = data.subspan(n);
      continue;
    }
    if (m_ended) {
      stream_broken("bytes after its end");
    }
    // Assemble the header (and the body of a non-data frame) in m_hdr.
    const std::size_t want = needed();
    const std::size_t n = std::min(want - m_hdr.size(), data.size());
    m_hdr.append(data.data(), n);
    data = data.subspan(n);
    if (m_hdr.size() == needed() && m_hdr.size() > 1) {
      dispatch();
    }
  }
}

std::size_t ChunkStreamWriter::needed() const
{
  if (m_hdr.empty()) {
    return 1;
  }
  if (m_hdr[0] == k_data) {
    return k_data_header;
  }
  if (m_hdr.size() < k_frame_header) {
    return k_frame_header;
  }
  std::uint32_t len;
  std::memcpy(&len, m_hdr.data() + 1, sizeof len);
  if (len > k_max_body) {
    stream_broken("a frame of " + std::to_string(len) + " bytes");
  }
  return k_frame_header + len;
}

void ChunkStreamWriter::dispatch()
{
  const char type = m_hdr[0];
  if (type == k_data) {
    std::memcpy(&m_data, m_hdr.data() + 1, sizeof m_data);
    m_hdr.clear();
    return;
  }
  Reader r(std::string_view(m_hdr).substr(k_frame_header));
  switch (type) {
  case k_file: {
    transport::FileEntry f;
    f.path = r.str();
    f.size = r.get<std::uint64_t>();
    f.mtime_ns = r.get<std::int64_t>();
    f.mode = r.get<std::uint32_t>();
    f.uid = r.get<std::uint32_t>();
    f.gid = r.get<std::uint32_t>();
    f.link_to = r.str();
    m_w->begin_file(f);
    break;
  }
  case k_hole:
    m_w->file_hole(r.get<std::uint64_t>());
    break;
  case k_end_file:
    m_w->end_file(r.str());
    break;
  case k_dir: {
    transport::ChunkDir d;
    d.path = r.str();
    d.mtime_ns = r.get<std::int64_t>();
    d.mode = r.get<std::uint32_t>();
    d.uid = r.get<std::uint32_t>();
    d.gid = r.get<std::uint32_t>();
    m_w->directory(d);
    break;
  }
  case k_end:
    m_ended = true;
    break;
  default:
    stream_broken("an unknown frame type");
  }
  m_hdr.clear();
}

transport::ChunkDigest ChunkStreamWriter::finish(const std::string&)
{
  if (!m_ended || m_data > 0 || !m_hdr.empty()) {
    m_w->abort();
    throw transport::TransportError(transport::FailureKind::error,
                                    "the chunk stream ended early", true);
  }
  return m_w->finish();
}

void ChunkStreamWriter::abort() noexcept
{
  m_w->abort();
}

} // namespace clsync::core::sync
