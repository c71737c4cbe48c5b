// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/render_status.hpp"

#include "cli/json_stream.hpp"
#include "core/json_names.hpp"

#include <ctime>

// The `clsync status --json` document (one object on stdout; sizes in bytes; field names are
// stable, changes are additive only). `?` marks a field present only when it applies.
//
// Names (chunk keys, volume and file paths, tables, partition values) are bytes: one that is not
// valid UTF-8 is written lossy (U+FFFD) under its field and exactly, base64, under the sibling
// "<field>_b64" (core/json_names.hpp); "partition_b64" and "special_b64" likewise.
//
// {
//   "cluster": "prod-a",
//   "replication": 2,                      // the topology's default replica count
//   "filtered": false,                     // true when a filter (--db, --where, …) was given;
//                                          // then every count covers the matching chunks only
//   "verify": false,                       // --verify: divergence by content hashes too
//   "exit_code": 0,                        // what the process exits with (0, 3 or 5)
//   "error": "…",                          // ? why exit_code is not 0
//   "nodes": [{
//     "name": "P1-dn1", "host": "local",
//     "reachable": true,
//     "excluded": true,                    // ? left out with --exclude-node
//     "error": "…",                        // ? why the node is unreachable ("excluded")
//     "chunks": 200,                       // replicas on the node, duplicates excluded
//     "bytes": 13107200,
//     "capacity_bytes": 0, "free_bytes": 0,  // each filesystem counted once
//     "volumes": [{
//       "path": "/ssd/ssd0/chunkData",
//       "ok": true,
//       "error": "…",                      // ? why the volume could not be read
//       "chunks": 200, "bytes": 13107200,
//       "capacity_bytes": 0, "free_bytes": 0
//     }]
//   }],
//   "health": {"chunks": 200, "healthy": 200, "under_replicated": 0, "over_replicated": 0,
//              "duplicate_on_node": 0, "divergent": 0, "zone_unsafe": 0},
//                                          // each chunk counted once, by the precedence
//                                          // under_replicated > divergent > zone_unsafe >
//                                          // duplicate_on_node > over_replicated
//   "balance": {
//     "shares": "capacity",                // "weights" | "capacity" | "equal"
//     "nodes": [{"node": "P1-dn1", "share": 0.333, "chunks": 200, "bytes": 13107200,
//                "target_chunks": 133.3, "target_bytes": 8738133.3,
//                "chunks_deviation_pct": 50.0, "bytes_deviation_pct": 50.0}],
//     "chunks": {"min": 0, "max": 200, "mean": 133.3, "max_deviation_pct": 100.0},
//     "bytes":  {"min": 0, "max": 13107200, "mean": 8738133.3, "max_deviation_pct": 100.0}
//   },                                     // reachable nodes only
//   "unhealthy": [CHUNK],                  // every chunk whose health is not "healthy"
//   "unmanaged": [{"node", "volume", "path", "files", "bytes"}],
//   "leftovers": [{"node", "volume", "name", "kind", "task", "intent"?}],
//                                          // kind: tmp | trash | intent | lease | other;
//                                          // intent: the intent record (an object)
//   "problems": [{"node", "message"}],
//   "chunks": [CHUNK],                     // ? with --chunks: every (matching) chunk, by key
//   "groups": [{                           // ? with --by db|table|volume
//     "name": "Level1",                    // db: "DB"; table: "DB/TABLE"; volume: "NODE:PATH"
//     "db"?, "table"?, "node"?, "volume"?,
//     "chunks": 100,                       // distinct chunks with a replica in the group
//     "replicas": 200, "bytes": 13107200,
//     "per_node": {"P1-dn1": {"replicas": 100, "bytes": 6553600}}   // ? db and table
//   }]
// }
//
// CHUNK = {"key": "Level1/20200601/3/Snapshot", "db": "Level1", "table": "Snapshot",
//          "partition": {"date": "20200601", "hash": "3"},
//          "bytes": 65536,                 // one replica (the largest when they differ)
//          "replication": 2,               // wanted replicas
//          "health": "healthy",            // the most urgent of "issues"
//          "issues": [],                   // every condition that applies
//          "replicas": [{"node", "volume", "bytes", "files", "fingerprint",
//                        "newest_mtime",   // RFC 3339, UTC
//                        "duplicate"?: true,       // a second copy on the node: not counted
//                        "content_hash"?,          // with --verify
//                        "special"?: ["rel/path"]  // symlinks, devices…: never moved
//                       }]}

namespace clsync::cli {

using nlohmann::json;

std::string rfc3339_utc(std::int64_t ns)
{
  std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
  if (ns < 0 && ns % 1'000'000'000 != 0) {
    --t;
  }
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json replica_json(const core::Replica& r)
{
  json j{{"node", r.node},
         {"bytes", r.bytes},
         {"files", r.files},
         {"fingerprint", r.fingerprint},
         {"newest_mtime", rfc3339_utc(r.newest_mtime_ns)}};
  core::put_name(j, "volume", r.volume);
  if (r.duplicate) {
    j["duplicate"] = true;
  }
  if (!r.content_hash.empty()) {
    j["content_hash"] = r.content_hash;
  }
  if (!r.special.empty()) {
    json special = json::array();
    json special_b64 = json::array();
    bool exact = false;
    for (const auto& path : r.special) {
      json one = json::object();
      core::put_name(one, "p", path);
      special.push_back(one["p"]);
      exact = exact || one.contains("p_b64");
      special_b64.push_back(core::base64_encode(path));
    }
    j["special"] = special;
    if (exact) {
      j["special_b64"] = special_b64; // every path, in order, when one is not UTF-8
    }
  }
  return j;
}

json chunk_json(const core::Chunk& c)
{
  json partition = json::object();
  json partition_b64 = json::object();
  for (const auto& [level, value] : c.partition()) {
    json one = json::object();
    core::put_name(one, "v", value);
    partition[level] = one["v"];
    if (one.contains("v_b64")) {
      partition_b64[level] = one["v_b64"];
    }
  }
  json issues = json::array();
  for (auto h : c.issues) {
    issues.push_back(core::to_string(h));
  }
  json replicas = json::array();
  for (const auto& r : c.replicas) {
    replicas.push_back(replica_json(r));
  }
  json j{{"partition", partition},
         {"bytes", c.bytes},
         {"replication", c.replication},
         {"health", core::to_string(c.health)},
         {"issues", issues},
         {"replicas", replicas}};
  core::put_name(j, "key", c.key);
  core::put_name(j, "db", c.db);
  core::put_name(j, "table", c.table);
  if (!partition_b64.empty()) {
    j["partition_b64"] = partition_b64;
  }
  return j;
}

namespace {

json node_json(const core::NodeState& n)
{
  json volumes = json::array();
  for (const auto& v : n.volumes) {
    json jv{{"ok", v.ok},
            {"chunks", v.chunks},
            {"bytes", v.bytes},
            {"capacity_bytes", v.capacity_bytes},
            {"free_bytes", v.free_bytes}};
    core::put_name(jv, "path", v.path);
    if (!v.error.empty()) {
      jv["error"] = core::lossy_utf8(v.error);
    }
    volumes.push_back(jv);
  }
  json j{{"name", n.name},
         {"host", n.host},
         {"reachable", n.reachable},
         {"chunks", n.chunks},
         {"bytes", n.bytes},
         {"capacity_bytes", n.capacity_bytes},
         {"free_bytes", n.free_bytes},
         {"volumes", volumes}};
  if (n.excluded) {
    j["excluded"] = true;
  }
  if (!n.error.empty()) {
    j["error"] = core::lossy_utf8(n.error);
  }
  return j;
}

json spread_json(const core::Spread& s)
{
  return json{{"min", s.min}, {"max", s.max}, {"mean", s.mean},
              {"max_deviation_pct", s.max_deviation_pct}};
}

json balance_json(const core::Balance& b)
{
  json nodes = json::array();
  for (const auto& n : b.nodes) {
    nodes.push_back({{"node", n.node},
                     {"share", n.share},
                     {"chunks", n.chunks},
                     {"bytes", n.bytes},
                     {"target_chunks", n.target_chunks},
                     {"target_bytes", n.target_bytes},
                     {"chunks_deviation_pct", n.chunks_deviation_pct},
                     {"bytes_deviation_pct", n.bytes_deviation_pct}});
  }
  return json{{"shares", b.shares},
              {"nodes", nodes},
              {"chunks", spread_json(b.chunks)},
              {"bytes", spread_json(b.bytes)}};
}

json group_json(const core::StatusGroup& g)
{
  json j{{"chunks", g.chunks}, {"replicas", g.replicas}, {"bytes", g.bytes}};
  core::put_name(j, "name", g.name);
  for (auto [field, value] : {std::pair{"db", &g.db}, std::pair{"table", &g.table},
                              std::pair{"node", &g.node}, std::pair{"volume", &g.volume}}) {
    if (!value->empty()) {
      core::put_name(j, field, *value);
    }
  }
  if (!g.per_node.empty()) {
    json per_node = json::object();
    for (const auto& [node, load] : g.per_node) {
      per_node[node] = {{"replicas", load.replicas}, {"bytes", load.bytes}};
    }
    j["per_node"] = per_node;
  }
  return j;
}

} // namespace

std::string status_error(const core::StatusResult& r)
{
  if (r.exit_code == ExitCode::unhealthy) {
    return std::to_string(r.unhealthy.size()) + " of " +
           std::to_string(r.inventory.health.chunks) + " chunks are unhealthy";
  }
  if (r.exit_code == ExitCode::partial) {
    std::string names, volumes;
    for (const auto& n : r.inventory.nodes) {
      if (!n.reachable && !n.excluded) {
        names += (names.empty() ? "" : ", ") + n.name;
      }
      for (const auto& v : n.volumes) {
        if (n.reachable && !v.ok) {
          volumes += (volumes.empty() ? "" : ", ") + n.name + ":" + v.path +
                     (v.error.empty() ? "" : " (" + v.error + ")");
        }
      }
    }
    std::string e = names.empty() ? "" : "unreachable: " + names;
    if (!volumes.empty()) {
      e += (e.empty() ? "" : "; ") + std::string("unreadable volume: ") + volumes;
    }
    return e;
  }
  return {};
}

namespace {

/// Every member of the document but the chunk arrays ("unhealthy", "chunks"), which can hold
/// the whole inventory and are added by the caller (status_json) or streamed (write_status_json).
json status_json_head(const core::StatusResult& r, const core::StatusOptions& opts)
{
  const core::Inventory& inv = r.inventory;
  json nodes = json::array();
  for (const auto& n : inv.nodes) {
    nodes.push_back(node_json(n));
  }
  const auto& h = inv.health;
  json unmanaged = json::array();
  for (const auto& [node, u] : inv.unmanaged) {
    json j{{"node", node}, {"files", u.files}, {"bytes", u.bytes}};
    core::put_name(j, "volume", u.volume);
    core::put_name(j, "path", u.path);
    unmanaged.push_back(j);
  }
  json leftovers = json::array();
  for (const auto& [node, l] : inv.leftovers) {
    json j{{"node", node}, {"kind", l.kind}, {"task", core::lossy_utf8(l.task)}};
    core::put_name(j, "volume", l.volume);
    core::put_name(j, "name", l.name);
    if (!l.content.empty()) {
      // An intent record is JSON written by clsync; a damaged one is shown as text.
      j["intent"] = json::parse(l.content, nullptr, false);
      if (j["intent"].is_discarded()) {
        j["intent"] = core::lossy_utf8(l.content);
      }
    }
    leftovers.push_back(j);
  }
  json problems = json::array();
  for (const auto& [node, message] : inv.problems) {
    problems.push_back({{"node", node}, {"message", core::lossy_utf8(message)}});
  }
  json doc{{"cluster", r.cluster},
           {"replication", r.replication},
           {"filtered", r.filtered},
           {"verify", opts.verify},
           {"exit_code", static_cast<int>(r.exit_code)},
           {"nodes", nodes},
           {"health",
            {{"chunks", h.chunks},
             {"healthy", h.healthy},
             {"under_replicated", h.under_replicated},
             {"over_replicated", h.over_replicated},
             {"duplicate_on_node", h.duplicate_on_node},
             {"divergent", h.divergent},
             {"zone_unsafe", h.zone_unsafe}}},
           {"balance", balance_json(r.balance)},
           {"unmanaged", unmanaged},
           {"leftovers", leftovers},
           {"problems", problems}};
  if (std::string e = status_error(r); !e.empty()) {
    doc["error"] = e;
  }
  if (!opts.by.empty()) {
    json groups = json::array();
    for (const auto& g : r.groups) {
      groups.push_back(group_json(g));
    }
    doc["groups"] = groups;
  }
  return doc;
}

/// The chunk arrays of the document, each as a source of one chunk at a time.
std::map<std::string, JsonArraySource> status_chunk_arrays(const core::StatusResult& r,
                                                           const core::StatusOptions& opts)
{
  std::map<std::string, JsonArraySource> arrays;
  arrays["unhealthy"] = [&r](const JsonEmit& emit) {
    for (auto i : r.unhealthy) {
      emit(chunk_json(r.inventory.chunks[i]));
    }
  };
  if (opts.chunks) {
    arrays["chunks"] = [&r](const JsonEmit& emit) {
      for (const auto& c : r.inventory.chunks) {
        emit(chunk_json(c));
      }
    };
  }
  return arrays;
}

} // namespace

json status_json(const core::StatusResult& r, const core::StatusOptions& opts)
{
  json doc = status_json_head(r, opts);
  for (const auto& [name, source] : status_chunk_arrays(r, opts)) {
    json array = json::array();
    source([&array](const json& element) { array.push_back(element); });
    doc[name] = std::move(array);
  }
  return doc;
}

void write_status_json(std::ostream& out,
                       const core::StatusResult& r,
                       const core::StatusOptions& opts)
{
  write_json_streamed(out, status_json_head(r, opts), status_chunk_arrays(r, opts));
}

} // namespace clsync::cli
