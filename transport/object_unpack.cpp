// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Unpacking a backup object: zstd stream → pax tar members → a chunk stream, every member
// checked against the manifest before a byte of it reaches the sink. An object is data from
// elsewhere (a repository on another machine), so everything it says is a claim to verify.
#include "transport/object_codec.hpp"
#include "transport/safe_path.hpp"
#include "transport/sha256.hpp"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <set>

namespace clsync::transport {
namespace {

/// Zero bytes tolerated after the end-of-archive blocks (tar pads to its record size; GNU tar
/// with -b128 pads to 64 KiB). Anything beyond, or any other byte, is garbage.
constexpr std::uint64_t k_max_trailing_zeros = 64u << 10;

bool all_zero(const char* p, std::size_t n)
{
  static const char k_zero[4096] = {};
  while (n > 0) {
    std::size_t k = std::min(n, sizeof k_zero);
    if (std::memcmp(p, k_zero, k) != 0) {
      return false;
    }
    p += k;
    n -= k;
  }
  return true;
}


/// A tar name as a chunk path: "./" prefixes and a directory's trailing '/' dropped, "." is the
/// chunk's own directory (""). Returns false (with `why`) for names that climb or are absolute.
bool normalize(std::string& name, bool dir, std::string& why)
{
  if (!name.empty() && name.front() == '/') {
    why = "an absolute name";
    return false;
  }
  while (name.starts_with("./")) {
    name.erase(0, 2);
  }
  if (dir) {
    while (!name.empty() && name.back() == '/') {
      name.pop_back();
    }
  }
  if (name == ".") {
    name.clear();
  }
  if (!name.empty()) {
    why = relative_path_problem(name, PathUse::file);
    return why.empty();
  }
  return true;
}

} // namespace

std::string manifest_problem(const ChunkManifest& m)
{
  std::map<std::string, std::size_t> files;
  for (std::size_t i = 0; i < m.files.size(); ++i) {
    const ObjectFile& f = m.files[i];
    const std::string& p = f.entry.path;
    if (auto why = relative_path_problem(p, PathUse::file); !why.empty()) {
      return "file '" + p + "': " + why;
    }
    if (!files.emplace(p, i).second) {
      return "file '" + p + "' is listed twice";
    }
    if (!f.entry.link_to.empty() && !files.contains(f.entry.link_to)) {
      return "file '" + p + "' links to '" + f.entry.link_to + "', not an earlier listed file";
    }
    if (f.sha256.size() != 64 || !std::all_of(f.sha256.begin(), f.sha256.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c));
        })) {
      return "file '" + p + "' has no valid SHA-256";
    }
    std::uint64_t end = 0;
    for (const HoleRange& h : f.holes) {
      if (h.length == 0 || h.offset < end || h.offset > f.entry.size ||
          h.length > f.entry.size - h.offset) {
        return "file '" + p + "' lists a hole outside the file or out of order";
      }
      end = h.offset + h.length;
    }
  }
  std::set<std::string> dirs;
  for (const ChunkDir& d : m.dirs) {
    if (!d.path.empty()) {
      if (auto why = relative_path_problem(d.path, PathUse::file); !why.empty()) {
        return "directory '" + d.path + "': " + why;
      }
    }
    if (!dirs.insert(d.path).second || files.contains(d.path)) {
      return "directory '" + d.path + "' is listed twice";
    }
  }
  return "";
}

struct ObjectUnpacker::State {
  enum class Phase { header, pax, data, padding, end, after_end };

  State(ChunkSink& s, const ChunkManifest& m, std::string w)
      : sink(s), manifest(m), who(std::move(w)), dctx(ZSTD_createDCtx()),
        zout(ZSTD_DStreamOutSize())
  {
  }
  ~State() { ZSTD_freeDCtx(dctx); }

  ChunkSink& sink;
  ChunkManifest manifest;
  std::string who;
  std::map<std::string, std::size_t> file_index, dir_index;
  std::vector<char> seen_file, seen_dir;

  ZSTD_DCtx* dctx;
  std::vector<char> zout;
  bool any_input = false;
  std::size_t frame_left = 1; ///< ZSTD_decompressStream's last answer: 0 at a frame's end
  Sha256 object_sha;
  std::uint64_t object_size = 0;

  Phase phase = Phase::header;
  char block[tar::k_block] = {};
  std::size_t block_fill = 0;
  std::string pax_buf;
  std::uint64_t pax_size = 0, pax_want = 0;
  bool have_pax = false;
  tar::PaxRecords pax;

  std::size_t cur = 0; ///< index of the file whose data is arriving
  std::uint64_t cur_off = 0, cur_size = 0;
  std::size_t hole_at = 0;
  std::uint64_t pending_hole = 0;
  std::uint64_t pad_left = 0;
  Sha256 file_sha;
  std::uint64_t trailing = 0;
  std::uint64_t bytes = 0;
  bool failed = false;
};

ObjectUnpacker::ObjectUnpacker(ChunkSink& sink, const ChunkManifest& expected, std::string who)
    : m_s(std::make_unique<State>(sink, expected, std::move(who)))
{
  if (!m_s->dctx) {
    throw TransportError(FailureKind::error, m_s->who + ": cannot set up zstd");
  }
  // The window a frame may ask for bounds our memory; zstd's default limit (128 MiB) is kept.
  ZSTD_DCtx_setParameter(m_s->dctx, ZSTD_d_windowLogMax, 27);
  if (auto why = manifest_problem(m_s->manifest); !why.empty()) {
    throw TransportError(FailureKind::refused, m_s->who + ": refused manifest: " + why);
  }
  for (std::size_t i = 0; i < m_s->manifest.files.size(); ++i) {
    m_s->file_index[m_s->manifest.files[i].entry.path] = i;
    m_s->manifest.files[i].sha256 = ascii_lower(m_s->manifest.files[i].sha256);
  }
  for (std::size_t i = 0; i < m_s->manifest.dirs.size(); ++i) {
    m_s->dir_index[m_s->manifest.dirs[i].path] = i;
  }
  m_s->seen_file.assign(m_s->manifest.files.size(), 0);
  m_s->seen_dir.assign(m_s->manifest.dirs.size(), 0);
}

ObjectUnpacker::~ObjectUnpacker() = default;

void ObjectUnpacker::refuse(const std::string& entry, const std::string& why) const
{
  m_s->failed = true;
  throw TransportError(FailureKind::refused, m_s->who + ": entry '" + entry + "': " + why);
}

void ObjectUnpacker::write(std::span<const char> data)
{
  State& s = *m_s;
  if (s.failed) {
    throw TransportError(FailureKind::refused, s.who + ": the object was already refused");
  }
  s.object_sha.update(data);
  s.object_size += data.size();
  if (!data.empty()) {
    s.any_input = true;
  }
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  for (;;) {
    ZSTD_outBuffer o{s.zout.data(), s.zout.size(), 0};
    std::size_t r = ZSTD_decompressStream(s.dctx, &o, &in);
    if (ZSTD_isError(r)) {
      s.failed = true;
      throw TransportError(FailureKind::refused,
                           s.who + ": corrupt zstd data at byte " +
                               std::to_string(s.object_size - data.size() + in.pos) + ": " +
                               ZSTD_getErrorName(r));
    }
    s.frame_left = r;
    if (o.pos > 0) {
      feed(s.zout.data(), o.pos);
    }
    if (in.pos == in.size && o.pos < o.size) {
      return;
    }
  }
}

void ObjectUnpacker::feed(const char* p, std::size_t n)
{
  State& s = *m_s;
  using Phase = State::Phase;
  while (n > 0) {
    std::size_t k = 0;
    switch (s.phase) {
    case Phase::header:
    case Phase::end:
      k = std::min(n, tar::k_block - s.block_fill);
      std::memcpy(s.block + s.block_fill, p, k);
      s.block_fill += k;
      if (s.block_fill == tar::k_block) {
        s.block_fill = 0;
        if (s.phase == Phase::end) {
          if (!tar::is_zero_block(s.block)) {
            refuse("(end of archive)", "a member after an end-of-archive block");
          }
          s.phase = Phase::after_end;
        } else {
          on_header();
        }
      }
      break;
    case Phase::pax:
      k = static_cast<std::size_t>(std::min<std::uint64_t>(n, s.pax_want - s.pax_buf.size()));
      s.pax_buf.append(p, k);
      if (s.pax_buf.size() == s.pax_want) {
        s.pax = {};
        if (auto why = tar::parse_pax(std::string_view(s.pax_buf).substr(0, s.pax_size), s.pax);
            !why.empty()) {
          refuse("(pax header)", why);
        }
        s.have_pax = true;
        s.phase = Phase::header;
      }
      break;
    case Phase::data:
      k = static_cast<std::size_t>(std::min<std::uint64_t>(n, s.cur_size - s.cur_off));
      on_data(p, k);
      if (s.cur_off == s.cur_size) {
        end_member();
      }
      break;
    case Phase::padding:
      k = static_cast<std::size_t>(std::min<std::uint64_t>(n, s.pad_left));
      s.pad_left -= k;
      if (s.pad_left == 0) {
        s.phase = Phase::header;
      }
      break;
    case Phase::after_end:
      k = n;
      s.trailing += k;
      if (!all_zero(p, k) || s.trailing > k_max_trailing_zeros) {
        refuse("(end of archive)", "garbage after the end of the tar");
      }
      break;
    }
    p += k;
    n -= k;
  }
}

void ObjectUnpacker::on_header()
{
  State& s = *m_s;
  if (tar::is_zero_block(s.block)) {
    if (s.have_pax) {
      refuse("(pax header)", "an extended header without a member");
    }
    s.phase = State::Phase::end;
    return;
  }
  tar::RawHeader raw;
  if (auto why = tar::parse_header(s.block, raw); !why.empty()) {
    refuse("(header)", why);
  }
  if (raw.typeflag == 'x') {
    if (s.have_pax) {
      refuse(raw.name, "two extended headers in a row");
    }
    if (raw.size > tar::k_max_pax) {
      refuse(raw.name, "an extended header of " + std::to_string(raw.size) + " bytes");
    }
    s.pax_size = raw.size;
    s.pax_want = raw.size + tar::padding(raw.size);
    s.pax_buf.clear();
    s.phase = State::Phase::pax;
    if (s.pax_want == 0) {
      s.pax = {};
      s.have_pax = true;
      s.phase = State::Phase::header;
    }
    return;
  }
  tar::PaxRecords pax = s.have_pax ? s.pax : tar::PaxRecords{};
  s.have_pax = false;
  tar::Member m;
  m.path = pax.has_path ? pax.path : raw.name;
  m.link_to = pax.has_linkpath ? pax.linkpath : raw.linkname;
  m.size = pax.has_size ? pax.size : raw.size;
  m.mtime_ns = pax.has_mtime ? pax.mtime_ns : raw.mtime_s * 1'000'000'000;
  m.mode = raw.mode;
  m.uid = pax.has_uid ? pax.uid : raw.uid;
  m.gid = pax.has_gid ? pax.gid : raw.gid;
  switch (raw.typeflag) {
  case '0':
  case '\0':
    m.kind = tar::Kind::file;
    break;
  case '1':
    m.kind = tar::Kind::hard_link;
    break;
  case '5':
    m.kind = tar::Kind::directory;
    break;
  case '2':
    refuse(m.path, "a symlink (to '" + m.link_to + "'); objects hold none");
  case '3':
  case '4':
    refuse(m.path, "a device file; objects hold none");
  case '6':
    refuse(m.path, "a FIFO; objects hold none");
  default:
    refuse(m.path, std::string("an unsupported member type '") + raw.typeflag + "'");
  }
  std::string display = m.path, why;
  if (!normalize(m.path, m.kind == tar::Kind::directory, why)) {
    refuse(display, why);
  }
  on_member(m, raw.typeflag);
}

void ObjectUnpacker::on_member(const tar::Member& m, char typeflag)
{
  State& s = *m_s;
  if (m.kind == tar::Kind::directory) {
    auto it = s.dir_index.find(m.path);
    if (it == s.dir_index.end()) {
      refuse(m.path, "a directory the manifest does not list");
    }
    if (s.seen_dir[it->second]) {
      refuse(m.path, "appears twice");
    }
    if (m.size != 0) {
      refuse(m.path, "a directory member carrying data");
    }
    s.seen_dir[it->second] = 1;
    return;
  }
  auto it = s.file_index.find(m.path);
  if (it == s.file_index.end()) {
    refuse(m.path, s.dir_index.contains(m.path) ? "a file where the manifest lists a directory"
                                                : "a name the manifest does not list");
  }
  std::size_t idx = it->second;
  if (s.seen_file[idx]) {
    refuse(m.path, "appears twice");
  }
  const ObjectFile& mf = s.manifest.files[idx];
  FileEntry e = mf.entry;
  if (m.kind == tar::Kind::hard_link) {
    std::string target = m.link_to, why;
    if (!normalize(target, false, why) || target.empty()) {
      refuse(m.path, "a hard link to '" + m.link_to + "': " + (why.empty() ? "no name" : why));
    }
    auto t = s.file_index.find(target);
    if (t == s.file_index.end() || !s.seen_file[t->second]) {
      refuse(m.path, "a hard link to '" + m.link_to + "', which is not an earlier member");
    }
    const ObjectFile& tf = s.manifest.files[t->second];
    if (m.size != 0) {
      refuse(m.path, "a hard link carrying data");
    }
    if (tf.sha256 != mf.sha256 || tf.entry.size != mf.entry.size) {
      refuse(m.path,
             "a hard link to '" + target + "', whose content the manifest lists as different");
    }
    s.seen_file[idx] = 1;
    e.link_to = target;
    s.sink.begin_file(e);
    s.sink.end_file(mf.sha256);
    s.bytes += e.size;
    return;
  }
  if (m.size != mf.entry.size) {
    refuse(m.path, "size " + std::to_string(m.size) + " in the tar, " +
                       std::to_string(mf.entry.size) + " in the manifest");
  }
  s.seen_file[idx] = 1;
  e.link_to.clear();
  s.sink.begin_file(e);
  s.cur = idx;
  s.cur_off = 0;
  s.cur_size = m.size;
  s.hole_at = 0;
  s.pending_hole = 0;
  if (m.size == 0) {
    end_member();
  } else {
    s.phase = State::Phase::data;
  }
}

void ObjectUnpacker::on_data(const char* p, std::size_t n)
{
  State& s = *m_s;
  const ObjectFile& mf = s.manifest.files[s.cur];
  s.file_sha.update(std::span<const char>(p, n));
  while (n > 0) {
    while (s.hole_at < mf.holes.size() &&
           mf.holes[s.hole_at].offset + mf.holes[s.hole_at].length <= s.cur_off) {
      ++s.hole_at;
    }
    const HoleRange* h = s.hole_at < mf.holes.size() ? &mf.holes[s.hole_at] : nullptr;
    std::size_t k = 0;
    if (h && h->offset <= s.cur_off) {
      k = static_cast<std::size_t>(std::min<std::uint64_t>(n, h->offset + h->length - s.cur_off));
      if (!all_zero(p, k)) {
        refuse(mf.entry.path, "bytes that are not zero inside a listed hole (offset " +
                                  std::to_string(h->offset) + ")");
      }
      s.pending_hole += k;
    } else {
      std::uint64_t stop = h ? h->offset : s.cur_size;
      k = static_cast<std::size_t>(std::min<std::uint64_t>(n, stop - s.cur_off));
      if (s.pending_hole > 0) {
        s.sink.file_hole(s.pending_hole);
        s.pending_hole = 0;
      }
      s.sink.file_data(std::span<const char>(p, k));
    }
    s.cur_off += k;
    s.bytes += k;
    p += k;
    n -= k;
  }
}

void ObjectUnpacker::end_member()
{
  State& s = *m_s;
  const ObjectFile& mf = s.manifest.files[s.cur];
  if (s.pending_hole > 0) {
    s.sink.file_hole(s.pending_hole);
    s.pending_hole = 0;
  }
  std::string sha = s.file_sha.finish_hex();
  if (sha != mf.sha256) {
    refuse(mf.entry.path, "content SHA-256 " + sha + " differs from the manifest's " + mf.sha256);
  }
  s.sink.end_file(mf.sha256);
  s.pad_left = tar::padding(s.cur_size);
  s.phase = s.pad_left > 0 ? State::Phase::padding : State::Phase::header;
}

ObjectUnpacker::Result ObjectUnpacker::finish(const std::string& object_sha256)
{
  State& s = *m_s;
  if (s.failed) {
    throw TransportError(FailureKind::refused, s.who + ": the object was already refused");
  }
  if (!s.any_input || s.frame_left != 0) {
    refuse("(zstd)", "the zstd stream is truncated");
  }
  if (s.phase != State::Phase::after_end) {
    refuse("(end of archive)", "the tar is truncated");
  }
  for (std::size_t i = 0; i < s.manifest.files.size(); ++i) {
    if (!s.seen_file[i]) {
      refuse(s.manifest.files[i].entry.path, "listed in the manifest, missing from the object");
    }
  }
  for (std::size_t i = 0; i < s.manifest.dirs.size(); ++i) {
    if (!s.seen_dir[i]) {
      refuse(s.manifest.dirs[i].path, "a listed directory missing from the object");
    }
  }
  Result r;
  r.object_sha256 = s.object_sha.finish_hex();
  r.object_size = s.object_size;
  r.bytes = s.bytes;
  if (!object_sha256.empty() && ascii_lower(object_sha256) != r.object_sha256) {
    s.failed = true;
    throw TransportError(FailureKind::refused, s.who + ": the object's bytes hash to " +
                                                   r.object_sha256 + ", not the expected " +
                                                   object_sha256);
  }
  std::vector<const ChunkDir*> dirs;
  for (const ChunkDir& d : s.manifest.dirs) {
    dirs.push_back(&d);
  }
  // Children before parents, the chunk's own directory ("") last (ChunkSink's order).
  std::sort(dirs.begin(), dirs.end(),
            [](const ChunkDir* a, const ChunkDir* b) { return a->path > b->path; });
  for (const ChunkDir* d : dirs) {
    s.sink.directory(*d);
  }
  std::vector<HashedFile> hashed;
  for (const ObjectFile& f : s.manifest.files) {
    hashed.push_back({f.entry.path, f.entry.size, f.sha256, f.entry.mode});
  }
  r.content_hash = content_hash(hashed, s.manifest.dirs);
  return r;
}

} // namespace clsync::transport
