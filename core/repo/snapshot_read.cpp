// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Reading a snapshot: data from elsewhere, so every field is checked and every error names the
// snapshot and the entry. The text is parsed with a callback that turns each file entry, then
// each chunk, into its struct as soon as it ends and drops it from the document: a chunk of
// 100,000 files took 140 MB as one nlohmann document (issue 11).
#include "core/repo/snapshot.hpp"

#include "core/error.hpp"
#include "core/json_names.hpp"
#include "transport/safe_path.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <set>

namespace clsync::core::repo {
namespace {

using nlohmann::json;

/// What is wrong with a snapshot and where; snapshot_from_json makes it an Error naming the
/// snapshot. A file entry's problem waits for its chunk's key (written after the files).
struct SnapshotProblem {
  std::string where;
  std::string why;
};

/// Field access in which every field is checked and every problem names the entry.
class SnapshotReader {
public:
  [[noreturn]] void fail(const std::string& where, const std::string& why) const
  {
    throw SnapshotProblem{where, why};
  }

  const json& field(const json& obj, const char* name, const std::string& where) const
  {
    auto it = obj.find(name);
    if (it == obj.end()) {
      fail(where, std::string("missing field '") + name + "'");
    }
    return *it;
  }

  std::string str(const json& obj, const char* name, const std::string& where) const
  {
    const json& v = field(obj, name, where);
    if (!v.is_string()) {
      fail(where, std::string("field '") + name + "' is not a string");
    }
    return v.get<std::string>();
  }

  std::string name(const json& obj, const char* field_name, const std::string& where) const
  {
    auto n = get_name(obj, field_name);
    if (!n) {
      fail(where, std::string("field '") + field_name + "' is missing or malformed");
    }
    return *n;
  }

  std::vector<std::string> names(const json& obj, const std::string& f, const std::string& where) const
  {
    std::vector<std::string> out;
    auto it = obj.find(f);
    if (it == obj.end()) {
      return out;
    }
    if (!it->is_array()) {
      fail(where, "field '" + f + "' is not an array");
    }
    auto b = obj.find(f + "_b64");
    if (b != obj.end() && (!b->is_array() || b->size() != it->size())) {
      fail(where, "field '" + f + "_b64' does not match '" + f + "'");
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
      const json& v = b != obj.end() ? (*b)[i] : (*it)[i];
      if (!v.is_string()) {
        fail(where, "field '" + f + "' holds something that is not a string");
      }
      if (b == obj.end()) {
        out.push_back(v.get<std::string>());
        continue;
      }
      auto raw = base64_decode(v.get<std::string>());
      if (!raw) {
        fail(where, "field '" + f + "_b64' holds invalid base64");
      }
      out.push_back(*raw);
    }
    return out;
  }

  std::uint64_t u64(const json& obj, const char* name, const std::string& where) const
  {
    const json& v = field(obj, name, where);
    if (!v.is_number_unsigned()) {
      fail(where, std::string("field '") + name + "' is not a non-negative integer");
    }
    return v.get<std::uint64_t>();
  }

  std::int64_t i64(const json& obj, const char* name, const std::string& where) const
  {
    const json& v = field(obj, name, where);
    if (v.is_number_unsigned()) {
      if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail(where, std::string("field '") + name + "' is out of range");
      }
      return static_cast<std::int64_t>(v.get<std::uint64_t>());
    }
    if (!v.is_number_integer()) {
      fail(where, std::string("field '") + name + "' is not an integer");
    }
    return v.get<std::int64_t>();
  }

  std::uint32_t u32(const json& obj, const char* name, const std::string& where,
                    std::uint64_t max = std::numeric_limits<std::uint32_t>::max()) const
  {
    std::uint64_t v = u64(obj, name, where);
    if (v > max) {
      fail(where, std::string("field '") + name + "' is out of range");
    }
    return static_cast<std::uint32_t>(v);
  }

  std::string hash(const json& obj, const char* name, const std::string& where) const
  {
    std::string h = str(obj, name, where);
    if (!is_sha256_hex(h)) {
      fail(where, std::string("field '") + name + "' is not 64 lowercase hex digits");
    }
    return h;
  }

  void path_ok(const std::string& path, transport::PathUse use, const std::string& where) const
  {
    std::string why = transport::relative_path_problem(path, use);
    if (!why.empty()) {
      fail(where, "refused path: " + why);
    }
  }
};

std::string display(const std::string& name) { return "'" + lossy_utf8(name) + "'"; }

std::vector<transport::HoleRange>
read_holes(const SnapshotReader& r, const json& f, std::uint64_t size, const std::string& where)
{
  std::vector<transport::HoleRange> holes;
  auto it = f.find("holes");
  if (it == f.end() || it->is_null()) {
    return holes;
  }
  if (!it->is_array()) {
    r.fail(where, "field 'holes' is not an array");
  }
  std::uint64_t end_of_last = 0;
  for (const auto& h : *it) {
    if (!h.is_array() || h.size() != 2 || !h[0].is_number_unsigned() ||
        !h[1].is_number_unsigned()) {
      r.fail(where, "a hole is not [offset, length]");
    }
    transport::HoleRange hr{h[0].get<std::uint64_t>(), h[1].get<std::uint64_t>()};
    if (hr.length == 0) {
      r.fail(where, "a hole of length 0");
    }
    if (hr.offset > size || hr.length > size - hr.offset) {
      r.fail(where, "a hole reaches beyond the file's size");
    }
    if (!holes.empty() && hr.offset < end_of_last) {
      r.fail(where, "holes overlap or are out of order");
    }
    end_of_last = hr.offset + hr.length;
    holes.push_back(hr);
  }
  return holes;
}

/// One file entry, checked on its own; `where` is its chunk ("" while the key is not known yet).
transport::ObjectFile read_file_entry(const SnapshotReader& r, const json& f, const std::string& where)
{
  if (!f.is_object()) {
    r.fail(where, "a file entry is not an object");
  }
  transport::ObjectFile of;
  of.entry.path = r.name(f, "path", where + ", a file");
  const std::string fw = where + ", file " + display(of.entry.path);
  r.path_ok(of.entry.path, transport::PathUse::file, fw);
  of.entry.size = r.u64(f, "size", fw);
  of.entry.mtime_ns = r.i64(f, "mtime_ns", fw);
  of.entry.mode = r.u32(f, "mode", fw, 07777);
  of.entry.uid = r.u32(f, "uid", fw);
  of.entry.gid = r.u32(f, "gid", fw);
  of.sha256 = r.hash(f, "sha256", fw);
  if (f.contains("link_to") || f.contains("link_to_b64")) {
    of.entry.link_to = r.name(f, "link_to", fw);
  }
  of.holes = read_holes(r, f, of.entry.size, fw);
  return of;
}

/// A chunk's files as their entries are parsed, checked against each other: a hard link names
/// an earlier file that is not itself a link, no path twice, sizes that add up within 2^64.
/// The first problem is kept (with a `where` relative to the chunk) and later entries ignored.
class ChunkFiles {
public:
  void add(const SnapshotReader& r, const json& f)
  {
    if (m_problem) {
      return;
    }
    try {
      add_checked(r, read_file_entry(r, f, ""));
    } catch (SnapshotProblem& p) {
      m_problem = std::move(p);
    }
  }

  /// The files, or fails with the first problem, located in chunk `where`.
  std::vector<transport::ObjectFile> take(const SnapshotReader& r, const std::string& where)
  {
    if (m_problem) {
      r.fail(where + m_problem->where, m_problem->why);
    }
    m_seen.clear();
    return std::move(m_files);
  }

private:
  void add_checked(const SnapshotReader& r, transport::ObjectFile of)
  {
    const std::string fw = ", file " + display(of.entry.path);
    if (!of.entry.link_to.empty()) {
      auto target = m_seen.find(of.entry.link_to);
      if (target == m_seen.end() || !m_files[target->second].entry.link_to.empty()) {
        r.fail(fw, "link_to " + display(of.entry.link_to) +
                       " does not name an earlier file of the chunk");
      }
      const transport::ObjectFile& t = m_files[target->second];
      if (t.entry.size != of.entry.size || t.sha256 != of.sha256) {
        r.fail(fw, "a hard link whose size or sha256 differs from its target's");
      }
    }
    if (m_total > std::numeric_limits<std::uint64_t>::max() - of.entry.size) {
      r.fail(fw, "the chunk's sizes add up beyond 2^64");
    }
    m_total += of.entry.size;
    if (!m_seen.emplace(of.entry.path, m_files.size()).second) {
      r.fail(fw, "the file is listed twice");
    }
    m_files.push_back(std::move(of));
  }

  std::vector<transport::ObjectFile> m_files;
  std::map<std::string, std::size_t> m_seen;  // path -> index in m_files
  std::uint64_t m_total = 0;
  std::optional<SnapshotProblem> m_problem;
};

void read_dirs(const SnapshotReader& r, const json& c, SnapshotChunk& chunk, const std::string& where)
{
  const json& dirs = r.field(c, "directories", where);
  if (!dirs.is_array()) {
    r.fail(where, "field 'directories' is not an array");
  }
  std::set<std::string> seen;
  for (const auto& d : dirs) {
    if (!d.is_object()) {
      r.fail(where, "a directory entry is not an object");
    }
    transport::ChunkDir cd;
    cd.path = r.name(d, "path", where + ", a directory");
    const std::string dw = where + ", directory " + display(cd.path);
    if (!cd.path.empty()) {
      r.path_ok(cd.path, transport::PathUse::file, dw);
    }
    cd.mode = r.u32(d, "mode", dw, 07777);
    cd.uid = r.u32(d, "uid", dw);
    cd.gid = r.u32(d, "gid", dw);
    cd.mtime_ns = r.i64(d, "mtime_ns", dw);
    if (!seen.insert(cd.path).second) {
      r.fail(dw, "the directory is listed twice");
    }
    chunk.manifest.dirs.push_back(std::move(cd));
  }
}

/// Chunk `c` (whose file entries were parsed into `files`), checked in field order.
SnapshotChunk read_chunk(const SnapshotReader& r, const json& c, std::size_t index, ChunkFiles& files)
{
  std::string where = "chunk #" + std::to_string(index);
  if (!c.is_object()) {
    r.fail(where, "not an object");
  }
  SnapshotChunk chunk;
  chunk.key = r.name(c, "key", where);
  where = "chunk " + display(chunk.key);
  r.path_ok(chunk.key, transport::PathUse::key, where);
  chunk.db = r.name(c, "db", where);
  chunk.table = r.name(c, "table", where);
  const std::string first = chunk.key.substr(0, chunk.key.find('/'));
  const std::string last = chunk.key.substr(chunk.key.rfind('/') + 1);
  if (!chunk.db.empty() && chunk.db != first) {
    r.fail(where, "db " + display(chunk.db) + " is not the key's first component");
  }
  if (!chunk.table.empty() && chunk.table != last) {
    r.fail(where, "table " + display(chunk.table) + " is not the key's last component");
  }
  chunk.partition = r.names(c, "partition", where);
  if (!r.field(c, "files", where).is_array()) {
    r.fail(where, "field 'files' is not an array");
  }
  chunk.manifest.files = files.take(r, where);
  read_dirs(r, c, chunk, where);
  chunk.object = r.hash(c, "object", where);
  chunk.object_sha256 = r.hash(c, "object_sha256", where);
  chunk.object_size = r.u64(c, "object_size", where);
  return chunk;
}

FilterOptions read_filters(const SnapshotReader& r, const json& top)
{
  FilterOptions f;
  auto it = top.find("filters");
  if (it == top.end() || it->is_null()) {
    return f;
  }
  if (!it->is_object()) {
    r.fail("filters", "not an object");
  }
  f.dbs = r.names(*it, "dbs", "filters");
  f.tables = r.names(*it, "tables", "filters");
  f.partitions = r.names(*it, "partitions", "filters");
  f.where = r.names(*it, "where", "filters");
  f.chunks = r.names(*it, "chunks", "filters");
  f.columns = r.names(*it, "columns", "filters");
  if (auto u = it->find("utc"); u != it->end()) {
    if (!u->is_boolean()) {
      r.fail("filters", "field 'utc' is not a boolean");
    }
    f.utc = u->get<bool>();
  }
  return f;
}

/// The parser callback: it knows where in the document each event is, converts every
/// `chunks[i].files[k]` and `chunks[i]` as it ends, and keeps the first problem for later, so
/// that the header's problems are still reported first, as a reader of the whole document would.
class ChunkStream {
public:
  explicit ChunkStream(const SnapshotReader& r) : m_r(r) {}

  bool on_event(int depth, json::parse_event_t event, json& parsed)
  {
    using E = json::parse_event_t;
    const auto d = static_cast<std::size_t>(depth);
    switch (event) {
    case E::object_start:
    case E::array_start:
      m_frames.resize(d);
      m_frames.push_back({event == E::object_start, {}});
      return true;
    case E::key:
      on_key(d, parsed);
      return true;
    case E::value:
      return keep_item(d, false, parsed);
    case E::object_end:
    case E::array_end: {
      const bool keep = keep_item(d, event == E::object_end, parsed);
      m_frames.resize(d);
      return keep;
    }
    }
    return true;
  }

  /// The chunks in document order, or fails with the first problem.
  std::vector<SnapshotChunk> take()
  {
    if (m_problem) {
      m_r.fail(m_problem->where, m_problem->why);
    }
    return std::move(m_chunks);
  }

private:
  struct Frame {
    bool object = false;
    std::string key;  ///< of an object: the member being parsed
  };

  bool is(std::size_t depth, bool object, const char* key = nullptr) const
  {
    return depth < m_frames.size() && m_frames[depth].object == object &&
           (key == nullptr || m_frames[depth].key == key);
  }
  /// Whether an item at `depth` is an element of the top object's "chunks" array.
  bool in_chunks(std::size_t depth) const { return depth == 2 && is(0, true, "chunks") && is(1, false); }
  /// Whether an item at `depth` is an element of a chunk's "files" array.
  bool in_files(std::size_t depth) const
  {
    return depth == 4 && is(0, true, "chunks") && is(1, false) && is(2, true, "files") && is(3, false);
  }

  void on_key(std::size_t depth, const json& key)
  {
    if (depth == 0 || depth > m_frames.size()) {
      return;
    }
    m_frames[depth - 1].key = key.get<std::string>();
    // A member given twice is the last one given, as in a whole document.
    if (depth == 1 && m_frames[0].key == "chunks") {
      m_files = ChunkFiles();
      m_chunks.clear();
      m_index = 0;
      m_problem.reset();
    } else if (depth == 3 && m_frames[2].key == "files" && in_chunks(2)) {
      m_files = ChunkFiles();
    }
  }

  /// Converts an item that ends at `depth` when it is a file entry or a chunk; false drops it.
  bool keep_item(std::size_t depth, bool object, const json& item)
  {
    if (in_files(depth)) {
      m_files.add(m_r, object ? item : json());  // not an object: add() says so
      return false;
    }
    if (!in_chunks(depth)) {
      return true;
    }
    const std::size_t index = m_index++;
    try {
      if (!object) {
        m_r.fail("chunk #" + std::to_string(index), "not an object");
      }
      m_chunks.push_back(read_chunk(m_r, item, index, m_files));
    } catch (SnapshotProblem& p) {
      if (!m_problem) {
        m_problem = std::move(p);
      }
    }
    m_files = ChunkFiles();
    return false;
  }

  const SnapshotReader& m_r;
  std::vector<Frame> m_frames;
  ChunkFiles m_files;  ///< of the chunk being parsed
  std::vector<SnapshotChunk> m_chunks;
  std::size_t m_index = 0;
  std::optional<SnapshotProblem> m_problem;
};

Snapshot read_snapshot_json(const SnapshotReader& r, std::string_view text)
{
  if (text.size() > k_max_snapshot_bytes) {
    r.fail("the file", "larger than " + std::to_string(k_max_snapshot_bytes) + " bytes");
  }
  ChunkStream stream(r);
  json top = json::parse(
      text.begin(), text.end(),
      [&](int depth, json::parse_event_t event, json& parsed) { return stream.on_event(depth, event, parsed); },
      false);
  if (top.is_discarded() || !top.is_object()) {
    r.fail("the file", "not a JSON object");
  }
  if (auto f = top.find("format"); f == top.end() || *f != k_snapshot_format) {
    r.fail("the file", std::string("not a clsync snapshot (format is not '") +
                           std::string(k_snapshot_format) + "')");
  }
  if (auto v = top.find("version"); v == top.end() || *v != k_snapshot_version) {
    r.fail("the file", "snapshot format version " +
                           (v == top.end() ? std::string("missing") : v->dump()) +
                           " is not supported (this clsync reads version " +
                           std::to_string(k_snapshot_version) + ")");
  }
  Snapshot s;
  s.id = r.str(top, "id", "the header");
  if (!is_snapshot_id(s.id)) {
    r.fail("the header", "id " + display(s.id) + " is not a snapshot id");
  }
  s.created = r.str(top, "created", "the header");
  if (!parse_rfc3339_utc(s.created)) {
    r.fail("the header", "created '" + lossy_utf8(s.created) + "' is not an RFC 3339 UTC time");
  }
  s.cluster = r.name(top, "cluster", "the header");
  s.host = r.name(top, "host", "the header");
  s.tag = r.name(top, "tag", "the header");
  s.filters = read_filters(r, top);
  const json& chunks = r.field(top, "chunks", "the header");
  if (!chunks.is_array()) {
    r.fail("the header", "field 'chunks' is not an array");
  }
  s.chunks = stream.take();
  std::sort(s.chunks.begin(), s.chunks.end(),
            [](const SnapshotChunk& a, const SnapshotChunk& b) { return a.key < b.key; });
  for (std::size_t i = 1; i < s.chunks.size(); ++i) {
    if (s.chunks[i].key == s.chunks[i - 1].key) {
      r.fail("chunk " + display(s.chunks[i].key), "the key is listed twice");
    }
  }
  return s;
}

} // namespace

Snapshot snapshot_from_json(std::string_view text, const std::string& what)
{
  try {
    return read_snapshot_json(SnapshotReader(), text);
  } catch (const SnapshotProblem& p) {
    throw Error(ExitCode::failed, what + ": " + p.where + ": " + p.why,
                "the snapshot is damaged or was not written by clsync; it is not used");
  }
}

} // namespace clsync::core::repo
