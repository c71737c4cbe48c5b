// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/snapshot.hpp"

#include "core/json_names.hpp"
#include "transport/safe_path.hpp"
#include "transport/sha256.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <mutex>
#include <random>

namespace clsync::core::repo {
namespace {

using nlohmann::json;

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

/// A chunk's members but its two long lists, which are written entry by entry.
json chunk_head_json(const SnapshotChunk& c)
{
  json j = json::object();
  put_name(j, "key", c.key);
  put_name(j, "db", c.db);
  put_name(j, "table", c.table);
  put_names(j, "partition", c.partition);
  j["object"] = c.object;
  j["object_sha256"] = c.object_sha256;
  j["object_size"] = c.object_size;
  return j;
}

json header_json(const Snapshot& snap)
{
  json j = json::object();
  j["format"] = k_snapshot_format;
  j["version"] = k_snapshot_version;
  j["id"] = snap.id;
  j["created"] = snap.created;
  put_name(j, "cluster", snap.cluster);
  put_name(j, "host", snap.host);
  put_name(j, "tag", snap.tag);
  j["filters"] = filters_json(snap.filters);
  return j;
}

/// Writes JSON text exactly as dump_json(doc, 1) would, a piece at a time, so that a snapshot
/// never exists as one document: a chunk of 100,000 files took 200 MB of DOM (issue 11).
class IndentedJsonWriter {
public:
  /// A member whose value is written by `write(level)` rather than taken from a document.
  struct Streamed {
    std::string key;
    std::function<void(int level)> write;
  };

  explicit IndentedJsonWriter(const JsonTextOut& out) : m_out(out) {}

  void text(std::string_view s)
  {
    m_buf.append(s);
    if (m_buf.size() >= k_flush_bytes) {
      flush();
    }
  }

  void flush()
  {
    if (!m_buf.empty()) {
      m_out(m_buf);
      m_buf.clear();
    }
  }

  /// `level` spaces: the indent of a line at that depth.
  void indent(int level) { m_buf.append(static_cast<std::size_t>(level), ' '); }

  /// `v` as the value at indent `level` of an enclosing document (its own newlines indented).
  void value(const json& v, int level)
  {
    const std::string s = dump_json(v, 1);
    std::size_t from = 0;
    for (std::size_t nl; (nl = s.find('\n', from)) != std::string::npos; from = nl + 1) {
      text(std::string_view(s).substr(from, nl + 1 - from));
      indent(level);
    }
    text(std::string_view(s).substr(from));
  }

  /// Object `obj` at `level`, with the `streamed` members (absent from `obj`) in key order, as
  /// nlohmann orders an object's members.
  void object(const json& obj, int level, std::vector<Streamed> streamed)
  {
    std::sort(streamed.begin(), streamed.end(),
              [](const Streamed& a, const Streamed& b) { return a.key < b.key; });
    auto next = streamed.begin();
    bool first = true;
    auto member = [&](const std::string& key) {
      text(first ? "{\n" : ",\n");
      first = false;
      indent(level + 1);
      text(dump_json(json(key)));
      text(": ");
    };
    auto streamed_before = [&](const std::string* key) {
      for (; next != streamed.end() && (key == nullptr || next->key < *key); ++next) {
        member(next->key);
        next->write(level + 1);
      }
    };
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      streamed_before(&it.key());
      member(it.key());
      value(*it, level + 1);
    }
    streamed_before(nullptr);
    if (first) {
      text("{}");
      return;
    }
    text("\n");
    indent(level);
    text("}");
  }

  /// An array of `n` items at `level`; `item(i, item_level)` writes item i.
  void array(std::size_t n, int level, const std::function<void(std::size_t, int)>& item)
  {
    if (n == 0) {
      text("[]");
      return;
    }
    for (std::size_t i = 0; i < n; ++i) {
      text(i == 0 ? "[\n" : ",\n");
      indent(level + 1);
      item(i, level + 1);
    }
    text("\n");
    indent(level);
    text("]");
  }

private:
  static constexpr std::size_t k_flush_bytes = 1u << 20;
  const JsonTextOut& m_out;
  std::string m_buf;
};

void write_chunk(IndentedJsonWriter& w, const SnapshotChunk& c, int level)
{
  const auto& files = c.manifest.files;
  const auto& dirs = c.manifest.dirs;
  w.object(chunk_head_json(c), level,
           {{"files",
             [&](int l) {
               w.array(files.size(), l, [&](std::size_t i, int il) { w.value(file_json(files[i]), il); });
             }},
            {"directories", [&](int l) {
               w.array(dirs.size(), l, [&](std::size_t i, int il) { w.value(dir_json(dirs[i]), il); });
             }}});
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

void write_snapshot_json(const Snapshot& head, std::span<const SnapshotChunk* const> chunks,
                         const JsonTextOut& out)
{
  std::vector<const SnapshotChunk*> sorted(chunks.begin(), chunks.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const SnapshotChunk* a, const SnapshotChunk* b) { return a->key < b->key; });
  IndentedJsonWriter w(out);
  w.object(header_json(head), 0, {{"chunks", [&](int l) {
                                     w.array(sorted.size(), l, [&](std::size_t i, int il) {
                                       write_chunk(w, *sorted[i], il);
                                     });
                                   }}});
  w.text("\n");
  w.flush();
}

void write_snapshot_json(const Snapshot& snap, const JsonTextOut& out)
{
  std::vector<const SnapshotChunk*> chunks;
  chunks.reserve(snap.chunks.size());
  for (const auto& c : snap.chunks) {
    chunks.push_back(&c);
  }
  write_snapshot_json(snap, chunks, out);
}

std::string snapshot_to_json(const Snapshot& snap)
{
  std::string text;
  write_snapshot_json(snap, [&](std::string_view piece) { text.append(piece); });
  return text;
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
