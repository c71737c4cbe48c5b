// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/snapshot.hpp"

#include "core/error.hpp"
#include "core/json_names.hpp"
#include "transport/safe_path.hpp"
#include "transport/sha256.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <mutex>
#include <limits>
#include <map>
#include <random>
#include <set>

namespace clsync::core::repo {
namespace {

using nlohmann::json;

constexpr const char* k_format = "clsync-snapshot";
constexpr int k_version = 1;

/// A list of names: "<field>": [lossy…] and, when any is not UTF-8, "<field>_b64": [exact…].
void put_names(json& obj, const std::string& field, const std::vector<std::string>& names)
{
  json plain = json::array();
  json b64 = json::array();
  bool exact = true;
  for (const auto& n : names) {
    plain.push_back(lossy_utf8(n));
    b64.push_back(base64_encode(n));
    exact = exact && is_utf8(n);
  }
  obj[field] = std::move(plain);
  if (!exact) {
    obj[field + "_b64"] = std::move(b64);
  }
}

json filters_json(const FilterOptions& f)
{
  json j = json::object();
  put_names(j, "dbs", f.dbs);
  put_names(j, "tables", f.tables);
  put_names(j, "partitions", f.partitions);
  put_names(j, "where", f.where);
  put_names(j, "chunks", f.chunks);
  put_names(j, "columns", f.columns);
  j["utc"] = f.utc;
  return j;
}

json file_json(const transport::ObjectFile& f)
{
  json j = json::object();
  put_name(j, "path", f.entry.path);
  j["size"] = f.entry.size;
  j["mtime_ns"] = f.entry.mtime_ns;
  j["mode"] = f.entry.mode;
  j["uid"] = f.entry.uid;
  j["gid"] = f.entry.gid;
  j["sha256"] = f.sha256;
  if (!f.entry.link_to.empty()) {
    put_name(j, "link_to", f.entry.link_to);
  }
  if (!f.holes.empty()) {
    json holes = json::array();
    for (const auto& h : f.holes) {
      holes.push_back(json::array({h.offset, h.length}));
    }
    j["holes"] = std::move(holes);
  }
  return j;
}

json dir_json(const transport::ChunkDir& d)
{
  json j = json::object();
  put_name(j, "path", d.path);
  j["mode"] = d.mode;
  j["uid"] = d.uid;
  j["gid"] = d.gid;
  j["mtime_ns"] = d.mtime_ns;
  return j;
}

json chunk_json(const SnapshotChunk& c)
{
  json j = json::object();
  put_name(j, "key", c.key);
  put_name(j, "db", c.db);
  put_name(j, "table", c.table);
  put_names(j, "partition", c.partition);
  json files = json::array();
  for (const auto& f : c.manifest.files) {
    files.push_back(file_json(f));
  }
  j["files"] = std::move(files);
  json dirs = json::array();
  for (const auto& d : c.manifest.dirs) {
    dirs.push_back(dir_json(d));
  }
  j["directories"] = std::move(dirs);
  j["object"] = c.object;
  j["object_sha256"] = c.object_sha256;
  j["object_size"] = c.object_size;
  return j;
}

// ---- reading: every field is checked, every error names the snapshot and the entry ----

class SnapshotReader {
public:
  explicit SnapshotReader(std::string what) : m_what(std::move(what)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& why) const
  {
    throw Error(ExitCode::failed, m_what + ": " + where + ": " + why,
                "the snapshot is damaged or was not written by clsync; it is not used");
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

  const std::string& what() const { return m_what; }

private:
  std::string m_what;
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

void read_files(const SnapshotReader& r, const json& c, SnapshotChunk& chunk, const std::string& where)
{
  const json& files = r.field(c, "files", where);
  if (!files.is_array()) {
    r.fail(where, "field 'files' is not an array");
  }
  std::map<std::string, std::size_t> seen;  // path -> index in manifest.files
  std::uint64_t total = 0;
  chunk.manifest.files.reserve(files.size());
  for (const auto& f : files) {
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
    if (!of.entry.link_to.empty()) {
      auto target = seen.find(of.entry.link_to);
      if (target == seen.end() ||
          !chunk.manifest.files[target->second].entry.link_to.empty()) {
        r.fail(fw, "link_to " + display(of.entry.link_to) +
                       " does not name an earlier file of the chunk");
      }
      const transport::ObjectFile& t = chunk.manifest.files[target->second];
      if (t.entry.size != of.entry.size || t.sha256 != of.sha256) {
        r.fail(fw, "a hard link whose size or sha256 differs from its target's");
      }
    }
    if (total > std::numeric_limits<std::uint64_t>::max() - of.entry.size) {
      r.fail(fw, "the chunk's sizes add up beyond 2^64");
    }
    total += of.entry.size;
    if (seen.count(of.entry.path) != 0) {
      r.fail(fw, "the file is listed twice");
    }
    seen[of.entry.path] = chunk.manifest.files.size();
    chunk.manifest.files.push_back(std::move(of));
  }
}

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

SnapshotChunk read_chunk(const SnapshotReader& r, const json& c, std::size_t index)
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
  read_files(r, c, chunk, where);
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

} // namespace

bool is_sha256_hex(std::string_view s) noexcept
{
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_snapshot_id(std::string_view id) noexcept
{
  return transport::task_id_problem(id).empty();
}

std::uint64_t SnapshotChunk::bytes() const
{
  std::uint64_t total = 0;
  for (const auto& f : manifest.files) {
    total += f.entry.size;  // hard links count like their targets, as ChunkDigest::bytes does
  }
  return total;
}

std::string Snapshot::group() const
{
  json j = {{"cluster", base64_encode(cluster)}, {"tag", base64_encode(tag)}, {"filters", filters_json(filters)}};
  const std::string digest = transport::sha256_hex(j.dump()).substr(0, 8);
  return lossy_utf8(cluster) + "/" + (tag.empty() ? std::string("-") : lossy_utf8(tag)) + "/" +
         digest;
}

std::string new_snapshot_id()
{
  // Ids sort by time, and "latest" is the last id: two snapshots within one second (a backup of
  // unchanged chunks takes milliseconds) must still sort in the order they were taken, so the
  // stamp has microseconds and never repeats or goes back within a process.
  static std::mutex mutex;
  static std::int64_t last_us = 0;
  std::int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  {
    std::lock_guard lock(mutex);
    us = std::max(us, last_us + 1);
    last_us = us;
  }
  const std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
  std::random_device rd;
  char rest[32];
  std::snprintf(rest, sizeof rest, ".%06lldZ-%08x", static_cast<long long>(us % 1000000),
                static_cast<unsigned>(rd()));
  return std::string(stamp) + rest;
}

std::string snapshot_to_json(const Snapshot& snap)
{
  json j = json::object();
  j["format"] = k_format;
  j["version"] = k_version;
  j["id"] = snap.id;
  j["created"] = snap.created;
  put_name(j, "cluster", snap.cluster);
  put_name(j, "host", snap.host);
  put_name(j, "tag", snap.tag);
  j["filters"] = filters_json(snap.filters);
  std::vector<const SnapshotChunk*> sorted;
  for (const auto& c : snap.chunks) {
    sorted.push_back(&c);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const SnapshotChunk* a, const SnapshotChunk* b) { return a->key < b->key; });
  json chunks = json::array();
  for (const auto* c : sorted) {
    chunks.push_back(chunk_json(*c));
  }
  j["chunks"] = std::move(chunks);
  return dump_json(j, 1) + "\n";
}

Snapshot snapshot_from_json(std::string_view text, const std::string& what)
{
  SnapshotReader r(what);
  if (text.size() > k_max_snapshot_bytes) {
    r.fail("the file", "larger than " + std::to_string(k_max_snapshot_bytes) + " bytes");
  }
  json top = json::parse(text.begin(), text.end(), nullptr, false);
  if (top.is_discarded() || !top.is_object()) {
    r.fail("the file", "not a JSON object");
  }
  if (auto f = top.find("format"); f == top.end() || *f != k_format) {
    r.fail("the file", std::string("not a clsync snapshot (format is not '") + k_format + "')");
  }
  if (auto v = top.find("version"); v == top.end() || *v != k_version) {
    r.fail("the file", "snapshot format version " +
                           (v == top.end() ? std::string("missing") : v->dump()) +
                           " is not supported (this clsync reads version " +
                           std::to_string(k_version) + ")");
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
  s.chunks.reserve(chunks.size());
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    s.chunks.push_back(read_chunk(r, chunks[i], i));
  }
  std::sort(s.chunks.begin(), s.chunks.end(),
            [](const SnapshotChunk& a, const SnapshotChunk& b) { return a.key < b.key; });
  for (std::size_t i = 1; i < s.chunks.size(); ++i) {
    if (s.chunks[i].key == s.chunks[i - 1].key) {
      r.fail("chunk " + display(s.chunks[i].key), "the key is listed twice");
    }
  }
  return s;
}

std::string format_rfc3339_utc(std::int64_t unix_seconds)
{
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::int64_t> parse_rfc3339_utc(std::string_view text)
{
  // YYYY-MM-DDTHH:MM:SSZ exactly (what snapshots record).
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
      text[13] != ':' || text[16] != ':' || text[19] != 'Z') {
    return std::nullopt;
  }
  auto num = [&](std::size_t at, std::size_t n) -> int {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') {
        return -1;
      }
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 ||
      tm.tm_sec > 60) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(::timegm(&tm));
}

} // namespace clsync::core::repo
