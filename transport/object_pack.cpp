// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Packing a chunk stream as a backup object: pax tar members through one zstd stream.
#include "transport/object_codec.hpp"

#include "transport/cpu_slots.hpp"

#include <zstd.h>

#include <algorithm>
#include <mutex>

namespace clsync::transport {

namespace {

/// zstd contexts kept between objects. A fresh context allocates its window and tables anew and
/// faults their pages in on first touch; for the demo's 1 MiB chunks that cost more page faults
/// than the compression itself. At most k_kept idle contexts stay (a few MiB each at -3).
class ContextPool {
public:
  ZSTD_CCtx* take()
  {
    {
      std::lock_guard lock(m_mutex);
      if (!m_idle.empty()) {
        ZSTD_CCtx* c = m_idle.back();
        m_idle.pop_back();
        return c;
      }
    }
    return ZSTD_createCCtx();
  }
  /// `had_workers`: a context that ran zstd workers keeps their threads; it is freed instead.
  void give(ZSTD_CCtx* c, bool had_workers)
  {
    if (!c) {
      return;
    }
    if (had_workers) {
      ZSTD_freeCCtx(c);
      return;
    }
    // Back to the defaults, so the next object starts from parameters it sets itself.
    ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
    std::lock_guard lock(m_mutex);
    if (m_idle.size() < k_kept) {
      m_idle.push_back(c);
      return;
    }
    ZSTD_freeCCtx(c);
  }

private:
  static constexpr std::size_t k_kept = 8;
  std::mutex m_mutex;
  std::vector<ZSTD_CCtx*> m_idle;
};

/// Never destroyed: a packer on a thread still running at exit may give its context back.
ContextPool& context_pool()
{
  static auto* pool = new ContextPool;
  return *pool;
}

} // namespace

struct ObjectPacker::Zstd {
  explicit Zstd(int threads) : cpu(CpuSlots::process(), std::max(1, threads)) {}
  /// Taken first: the stream compresses only while it holds a core (its workers' cores too).
  CpuSlots::Hold cpu;
  ZSTD_CCtx* cctx = context_pool().take();
  bool workers = false;
  ~Zstd() { context_pool().give(cctx, workers); }
};

namespace {

const std::vector<char>& zeros()
{
  static const std::vector<char> k_zeros(256u << 10, '\0');
  return k_zeros;
}

tar::Member member_of(const FileEntry& f)
{
  tar::Member m;
  m.kind = f.link_to.empty() ? tar::Kind::file : tar::Kind::hard_link;
  m.path = f.path;
  m.link_to = f.link_to;
  m.size = f.size;
  m.mtime_ns = f.mtime_ns;
  m.mode = f.mode;
  m.uid = f.uid;
  m.gid = f.gid;
  return m;
}

} // namespace

ObjectPacker::ObjectPacker(ByteSink& out, const PackOptions& options, std::string who)
    : m_out(out), m_options(options), m_who(std::move(who)), m_z(std::make_unique<Zstd>(options.threads)),
      m_zout(ZSTD_CStreamOutSize())
{
  if (!m_z->cctx) {
    throw TransportError(FailureKind::error, m_who + ": cannot set up zstd");
  }
  int level = std::clamp(options.level, 1, ZSTD_maxCLevel());
  ZSTD_CCtx_setParameter(m_z->cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(m_z->cctx, ZSTD_c_checksumFlag, 1);
  if (options.threads > 0) {
    // A libzstd without multithreading refuses: the object is then compressed on this thread.
    (void)ZSTD_CCtx_setParameter(m_z->cctx, ZSTD_c_nbWorkers, options.threads);
    m_z->workers = true;
  }
}

ObjectPacker::~ObjectPacker() = default;

void ObjectPacker::emit(std::span<const char> data, bool end)
{
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  for (;;) {
    ZSTD_outBuffer o{m_zout.data(), m_zout.size(), 0};
    std::size_t left = ZSTD_compressStream2(m_z->cctx, &o, &in, end ? ZSTD_e_end : ZSTD_e_continue);
    if (ZSTD_isError(left)) {
      throw TransportError(FailureKind::error, m_who + ": zstd failed: " + ZSTD_getErrorName(left));
    }
    if (o.pos > 0) {
      std::span<const char> bytes(m_zout.data(), o.pos);
      m_object_sha.update(bytes);
      m_object_size += o.pos;
      m_out.write(bytes);
    }
    if (end ? left == 0 : in.pos == in.size) {
      return;
    }
  }
}

bool ObjectPacker::keep(const FileEntry& file) const
{
  if (m_options.columns.empty()) {
    return true;
  }
  std::string_view name(file.path);
  name = name.substr(name.rfind('/') == std::string_view::npos ? 0 : name.rfind('/') + 1);
  std::size_t dot = name.rfind('.');
  if (dot != std::string_view::npos && dot > 0) {
    name = name.substr(0, dot);
  }
  return std::find(m_options.columns.begin(), m_options.columns.end(), name) !=
         m_options.columns.end();
}

void ObjectPacker::begin_file(const FileEntry& file)
{
  if (m_in_file || m_finished) {
    throw TransportError(FailureKind::error, m_who + ": " + file.path + " begun out of order");
  }
  m_in_file = true;
  m_file_bytes = 0;
  m_skip = !keep(file);
  if (m_skip) {
    m_skipped.emplace(file.path, file.link_to);
    return;
  }
  if (!file.link_to.empty() && m_skipped.contains(file.link_to)) {
    throw TransportError(FailureKind::refused, m_who + ": " + file.path + " is a hard link to " +
                                                   file.link_to + ", which --columns leaves out");
  }
  m_header.clear();
  tar::append_header(m_header, member_of(file));
  emit(m_header);
  m_manifest.files.push_back({file, "", {}});
}

void ObjectPacker::file_data(std::span<const char> data)
{
  if (!m_in_file) {
    throw TransportError(FailureKind::error, m_who + ": data outside a file");
  }
  if (m_skip) {
    return;
  }
  const FileEntry& f = m_manifest.files.back().entry;
  if (!f.link_to.empty() || data.size() > f.size - m_file_bytes) {
    throw TransportError(FailureKind::error, m_who + ": " + f.path + " has more than the " +
                                                 std::to_string(f.size) + " bytes announced");
  }
  m_file_bytes += data.size();
  emit(data);
}

void ObjectPacker::file_hole(std::uint64_t length)
{
  if (!m_in_file) {
    throw TransportError(FailureKind::error, m_who + ": a hole outside a file");
  }
  if (m_skip || length == 0) {
    return;
  }
  ObjectFile& of = m_manifest.files.back();
  if (!of.entry.link_to.empty() || length > of.entry.size - m_file_bytes) {
    throw TransportError(FailureKind::error, m_who + ": " + of.entry.path + " has more than the " +
                                                 std::to_string(of.entry.size) +
                                                 " bytes announced");
  }
  if (!of.holes.empty() && of.holes.back().offset + of.holes.back().length == m_file_bytes) {
    of.holes.back().length += length;
  } else {
    of.holes.push_back({m_file_bytes, length});
  }
  m_file_bytes += length;
  // The tar carries a hole as zeros; zstd makes them nearly free.
  while (length > 0) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(length, zeros().size()));
    emit(std::span<const char>(zeros().data(), n));
    length -= n;
  }
}

void ObjectPacker::end_file(const std::string& sha256)
{
  if (!m_in_file) {
    throw TransportError(FailureKind::error, m_who + ": end of a file that was not begun");
  }
  m_in_file = false;
  if (m_skip) {
    return;
  }
  ObjectFile& of = m_manifest.files.back();
  std::uint64_t want = of.entry.link_to.empty() ? of.entry.size : 0;
  if (m_file_bytes != want) {
    throw TransportError(FailureKind::error,
                         m_who + ": " + of.entry.path + " gave " + std::to_string(m_file_bytes) +
                             " bytes, not " + std::to_string(want),
                         true);
  }
  emit(std::span<const char>(zeros().data(), tar::padding(want)));
  of.sha256 = sha256;
  m_hashed.push_back({of.entry.path, of.entry.size, sha256, of.entry.mode});
  m_bytes += of.entry.size;
}

void ObjectPacker::directory(const ChunkDir& dir)
{
  if (m_in_file) {
    throw TransportError(FailureKind::error, m_who + ": directory " + dir.path + " inside a file");
  }
  tar::Member m;
  m.kind = tar::Kind::directory;
  m.path = dir.path;
  m.mtime_ns = dir.mtime_ns;
  m.mode = dir.mode;
  m.uid = dir.uid;
  m.gid = dir.gid;
  m_header.clear();
  tar::append_header(m_header, m);
  emit(m_header);
  m_manifest.dirs.push_back(dir);
}

PackResult ObjectPacker::finish(const ChunkDigest& read)
{
  if (m_in_file || m_finished) {
    throw TransportError(FailureKind::error, m_who + ": the object ended inside a file");
  }
  m_finished = true;
  emit(std::span<const char>(zeros().data(), 2 * tar::k_block), true);
  PackResult r;
  r.digest = read;
  r.digest.content_hash = content_hash(m_hashed, m_manifest.dirs);
  r.digest.bytes = m_bytes;
  r.digest.files = m_manifest.files.size();
  if (m_options.columns.empty() && r.digest.content_hash != read.content_hash) {
    throw TransportError(FailureKind::error,
                         m_who + ": the packed content differs from the chunk read", true);
  }
  r.manifest = std::move(m_manifest);
  r.object_sha256 = m_object_sha.finish_hex();
  r.object_size = m_object_size;
  return r;
}

} // namespace clsync::transport
