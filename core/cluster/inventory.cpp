// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/cluster/inventory.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <stdexcept>

namespace clsync::core {

const char* to_string(ChunkHealth h) noexcept
{
  switch (h) {
  case ChunkHealth::healthy:
    return "healthy";
  case ChunkHealth::under_replicated:
    return "under_replicated";
  case ChunkHealth::over_replicated:
    return "over_replicated";
  case ChunkHealth::duplicate_on_node:
    return "duplicate_on_node";
  case ChunkHealth::divergent:
    return "divergent";
  case ChunkHealth::zone_unsafe:
    return "zone_unsafe";
  }
  return "unknown";
}

int Chunk::replica_count() const
{
  std::set<std::string_view> nodes;
  for (const auto& r : replicas) {
    if (!r.duplicate) {
      nodes.insert(r.node);
    }
  }
  return static_cast<int>(nodes.size());
}

bool Chunk::on_node(std::string_view node) const
{
  return std::any_of(replicas.begin(), replicas.end(),
                     [&](const Replica& r) { return r.node == node; });
}

bool Chunk::has_special() const
{
  return std::any_of(replicas.begin(), replicas.end(),
                     [](const Replica& r) { return r.has_special; });
}

const NodeState* Inventory::node(std::string_view name) const
{
  for (const auto& n : nodes) {
    if (n.name == name) {
      return &n;
    }
  }
  return nullptr;
}

const Chunk* Inventory::chunk(std::string_view key) const
{
  auto it = std::lower_bound(chunks.begin(), chunks.end(), key,
                             [](const Chunk& c, std::string_view k) { return c.key < k; });
  return it != chunks.end() && it->key == key ? &*it : nullptr;
}

const VolumeState* Inventory::volume(std::string_view node_name, std::string_view path) const
{
  const NodeState* n = node(node_name);
  if (!n) {
    return nullptr;
  }
  for (const auto& v : n->volumes) {
    if (v.path == path) {
      return &v;
    }
  }
  return nullptr;
}

bool Inventory::all_reachable() const
{
  return std::all_of(nodes.begin(), nodes.end(), [](const NodeState& n) { return n.reachable; });
}

bool parse_chunk_key(const Topology& topo, std::string_view key, Chunk& out)
{
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto slash = key.find('/', start);
    auto part = key.substr(start, slash == std::string_view::npos ? key.npos : slash - start);
    if (part.empty() || part == "." || part == "..") {
      return false;
    }
    parts.emplace_back(part);
    if (slash == std::string_view::npos) {
      break;
    }
    start = slash + 1;
  }
  const DatabaseSpec* db = nullptr;
  for (const auto& d : topo.databases) {
    if (d.name == parts.front()) {
      db = &d;
    }
  }
  if (!db || parts.size() != db->levels.size() + 2) {
    return false;
  }
  out.key = std::string(key);
  out.db = parts.front();
  out.table = parts.back();
  out.partition.clear();
  for (std::size_t i = 0; i < db->levels.size(); ++i) {
    out.partition.emplace_back(db->levels[i], parts[i + 1]);
  }
  out.replication = db->replication.value_or(topo.replication);
  return true;
}

namespace {

/// Position of `volume` in the node's configured volumes; unknown volumes sort last.
std::size_t volume_index(const NodeSpec& spec, const std::string& volume)
{
  auto it = std::find(spec.volumes.begin(), spec.volumes.end(), volume);
  return static_cast<std::size_t>(it - spec.volumes.begin());
}

/// True when two non-empty values of `field` differ among the replicas.
template <typename Field>
bool values_differ(const std::vector<Replica>& replicas, Field field)
{
  const std::string* first = nullptr;
  for (const auto& r : replicas) {
    const std::string& v = r.*field;
    if (v.empty()) {
      continue;
    }
    if (!first) {
      first = &v;
    } else if (*first != v) {
      return true;
    }
  }
  return false;
}

void classify(Chunk& c, bool verify, const ZoneMap& zones)
{
  c.issues.clear();
  const int count = c.replica_count();
  const bool divergent = values_differ(c.replicas, &Replica::layout_hash) ||
                         (verify && values_differ(c.replicas, &Replica::content_hash));
  const bool duplicate = std::any_of(c.replicas.begin(), c.replicas.end(),
                                     [](const Replica& r) { return r.duplicate; });
  if (count < c.replication) {
    c.issues.push_back(ChunkHealth::under_replicated);
  }
  if (divergent) {
    c.issues.push_back(ChunkHealth::divergent);
  }
  if (zone_unsafe(c, zones)) {
    c.issues.push_back(ChunkHealth::zone_unsafe);
  }
  if (duplicate) {
    c.issues.push_back(ChunkHealth::duplicate_on_node);
  }
  if (count > c.replication) {
    c.issues.push_back(ChunkHealth::over_replicated);
  }
  c.health = c.issues.empty() ? ChunkHealth::healthy : c.issues.front();
}

void count_health(HealthCounts& h, ChunkHealth health)
{
  ++h.chunks;
  switch (health) {
  case ChunkHealth::healthy:
    ++h.healthy;
    break;
  case ChunkHealth::under_replicated:
    ++h.under_replicated;
    break;
  case ChunkHealth::over_replicated:
    ++h.over_replicated;
    break;
  case ChunkHealth::duplicate_on_node:
    ++h.duplicate_on_node;
    break;
  case ChunkHealth::divergent:
    ++h.divergent;
    break;
  case ChunkHealth::zone_unsafe:
    ++h.zone_unsafe;
    break;
  }
}

NodeState make_node_state(const NodeSpec& spec, const NodeScanResult& result)
{
  NodeState n;
  n.name = spec.name;
  n.host = spec.host;
  n.reachable = result.reachable && !result.excluded;
  n.excluded = result.excluded;
  n.error = result.excluded && result.error.empty() ? "excluded" : result.error;
  if (!n.reachable) {
    for (const auto& path : spec.volumes) {
      VolumeState v;
      v.path = path;
      v.ok = false;
      v.error = n.excluded ? "node excluded" : "node unreachable";
      n.volumes.push_back(std::move(v));
    }
    return n;
  }
  // Configured volumes first, in topology order; anything else the node reported after them.
  std::vector<const transport::VolumeScan*> ordered;
  for (const auto& path : spec.volumes) {
    for (const auto& vs : result.scan.volumes) {
      if (vs.path == path) {
        ordered.push_back(&vs);
      }
    }
  }
  for (const auto& vs : result.scan.volumes) {
    if (volume_index(spec, vs.path) == spec.volumes.size()) {
      ordered.push_back(&vs);
    }
  }
  for (const auto& path : spec.volumes) {
    bool seen = std::any_of(ordered.begin(), ordered.end(),
                            [&](const transport::VolumeScan* vs) { return vs->path == path; });
    if (!seen) {
      VolumeState v;
      v.path = path;
      v.ok = false;
      v.error = "not reported by the node";
      n.volumes.push_back(std::move(v));
    }
  }
  std::set<std::uint64_t> filesystems;
  for (const auto* vs : ordered) {
    VolumeState v;
    v.path = vs->path;
    v.ok = vs->ok;
    v.error = vs->error;
    v.capacity_bytes = vs->capacity_bytes;
    v.free_bytes = vs->free_bytes;
    v.filesystem_id = vs->filesystem_id;
    v.machine_id = vs->machine_id;
    v.device = vs->device;
    v.inode = vs->inode;
    // Volumes sharing a filesystem share its capacity: count it once (SPEC §3). An id of 0
    // means the node could not tell, so that volume is counted on its own.
    if (v.ok && (v.filesystem_id == 0 || filesystems.insert(v.filesystem_id).second)) {
      n.capacity_bytes += v.capacity_bytes;
      n.free_bytes += v.free_bytes;
    }
    n.volumes.push_back(std::move(v));
  }
  // Keep the topology order even when a configured volume was missing from the scan.
  std::stable_sort(n.volumes.begin(), n.volumes.end(),
                   [&](const VolumeState& a, const VolumeState& b) {
                     return volume_index(spec, a.path) < volume_index(spec, b.path);
                   });
  return n;
}

/// Refuses a topology where one physical directory is two volumes (SPEC §3): its replicas
/// would be counted twice, and removing "a duplicate" would remove the only copy.
void check_volume_identity(const Topology& topo, const Inventory& inv)
{
  std::map<std::tuple<std::string, std::uint64_t, std::uint64_t>, std::string> seen;
  for (const auto& n : inv.nodes) {
    for (const auto& v : n.volumes) {
      if (!v.ok || v.inode == 0 || v.machine_id.empty()) {
        continue;
      }
      const std::string here = n.name + ":" + v.path;
      auto [it, inserted] = seen.try_emplace({v.machine_id, v.device, v.inode}, here);
      if (!inserted) {
        throw TopologyError(
            topo.file + ": volumes " + it->second + " and " + here +
                " are one directory (same machine, device " + std::to_string(v.device) +
                ", inode " + std::to_string(v.inode) +
                ": a bind mount, a symlink or the same path twice); nothing was changed",
            "list each physical directory once, under one node");
      }
    }
  }
}

} // namespace

int ZoneMap::distinct(const std::vector<std::string>& nodes) const
{
  std::set<std::string> seen;
  for (const auto& n : nodes) {
    const auto it = zone_of.find(n);
    seen.insert(it != zone_of.end() ? it->second : "\n" + n);
  }
  return static_cast<int>(seen.size());
}

ZoneMap zone_map(const Topology& topo, const std::vector<NodeState>& nodes)
{
  ZoneMap z;
  for (const auto& spec : topo.nodes) {
    z.zoned = z.zoned || !spec.zone.empty();
    // A node without a zone is a failure domain of its own (as the planners count it).
    z.zone_of[spec.name] = spec.zone.empty() ? "\n" + spec.name : spec.zone;
  }
  std::vector<std::string> reachable;
  for (const auto& n : nodes) {
    if (n.reachable) {
      reachable.push_back(n.name);
    }
  }
  z.reachable_zones = z.distinct(reachable);
  return z;
}

bool zone_unsafe(const Chunk& c, const ZoneMap& zones)
{
  if (!zones.zoned || zones.reachable_zones < 2) {
    return false;
  }
  std::vector<std::string> nodes;
  for (const auto& r : c.replicas) {
    if (!r.duplicate) {
      nodes.push_back(r.node);
    }
  }
  const int count = static_cast<int>(nodes.size());
  if (count < 2) {
    return false;
  }
  const int want =
      std::min({count, c.replication > 0 ? c.replication : count, zones.reachable_zones});
  return zones.distinct(nodes) < want;
}

void recount(Inventory& inv)
{
  std::map<std::string, NodeState*> by_name;
  for (auto& n : inv.nodes) {
    n.chunks = 0;
    n.bytes = 0;
    for (auto& v : n.volumes) {
      v.chunks = 0;
      v.bytes = 0;
    }
    by_name[n.name] = &n;
  }
  inv.health = {};
  for (const auto& c : inv.chunks) {
    count_health(inv.health, c.health);
    for (const auto& r : c.replicas) {
      if (r.duplicate) {
        continue;
      }
      auto it = by_name.find(r.node);
      if (it == by_name.end()) {
        continue;
      }
      NodeState& n = *it->second;
      ++n.chunks;
      n.bytes += r.bytes;
      for (auto& v : n.volumes) {
        if (v.path == r.volume) {
          ++v.chunks;
          v.bytes += r.bytes;
        }
      }
    }
  }
}

Inventory build_inventory(const Topology& topo,
                          const std::vector<NodeScanResult>& scans,
                          const InventoryOptions& opts)
{
  if (scans.size() != topo.nodes.size()) {
    throw std::invalid_argument("build_inventory: " + std::to_string(scans.size()) +
                                " scans for " + std::to_string(topo.nodes.size()) + " nodes");
  }
  Inventory inv;
  std::map<std::string, Chunk> chunks;
  for (std::size_t i = 0; i < topo.nodes.size(); ++i) {
    const NodeSpec& spec = topo.nodes[i];
    const NodeScanResult& result = scans[i];
    inv.nodes.push_back(make_node_state(spec, result));
  }
  check_volume_identity(topo, inv);
  for (std::size_t i = 0; i < topo.nodes.size(); ++i) {
    const NodeSpec& spec = topo.nodes[i];
    const NodeScanResult& result = scans[i];
    if (!inv.nodes[i].reachable) {
      continue;
    }
    const transport::NodeScan& scan = result.scan;
    for (const auto& vs : scan.volumes) {
      if (!vs.ok) {
        // The node's error names the volume already; say it once even if the node also
        // listed it among its problems.
        std::string message =
            vs.error.empty() ? "volume " + vs.path + " cannot be read" : vs.error;
        if (std::find(scan.problems.begin(), scan.problems.end(), message) ==
            scan.problems.end()) {
          inv.problems.emplace_back(spec.name, message);
        }
      }
    }
    for (const auto& p : scan.problems) {
      inv.problems.emplace_back(spec.name, p);
    }
    for (const auto& u : scan.unmanaged) {
      inv.unmanaged.emplace_back(spec.name, u);
    }
    for (const auto& l : scan.leftovers) {
      inv.leftovers.emplace_back(spec.name, l);
    }
    for (const auto& rs : scan.replicas) {
      Chunk parsed;
      if (!parse_chunk_key(topo, rs.key, parsed)) {
        inv.problems.emplace_back(spec.name, "volume " + rs.volume + ": " + rs.key +
                                                 " is not a chunk of a declared database");
        continue;
      }
      auto [it, inserted] = chunks.try_emplace(rs.key, std::move(parsed));
      Replica r;
      r.node = spec.name;
      r.volume = rs.volume;
      r.bytes = rs.bytes;
      r.allocated_bytes = rs.allocated_bytes;
      r.files = rs.files;
      r.newest_mtime_ns = rs.newest_mtime_ns;
      r.fingerprint = rs.fingerprint;
      r.layout_hash = rs.layout_hash;
      r.content_hash = rs.content_hash;
      r.has_special = !rs.special.empty();
      r.special = rs.special;
      if (opts.with_files) {
        r.file_list = rs.file_list;
      }
      it->second.replicas.push_back(std::move(r));
    }
  }

  std::map<std::string, std::size_t> node_index;
  for (std::size_t i = 0; i < topo.nodes.size(); ++i) {
    node_index[topo.nodes[i].name] = i;
  }
  inv.chunks.reserve(chunks.size());
  const ZoneMap zones = zone_map(topo, inv.nodes);
  for (auto& [key, c] : chunks) {
    auto order = [&](const Replica& r) {
      std::size_t ni = node_index.at(r.node);
      return std::make_pair(ni, volume_index(topo.nodes[ni], r.volume));
    };
    std::stable_sort(c.replicas.begin(), c.replicas.end(),
                     [&](const Replica& a, const Replica& b) { return order(a) < order(b); });
    // After the sort, the first copy of a node is on its first volume in topology order: it
    // counts, later copies on the same node are duplicates (SPEC §3).
    for (std::size_t i = 1; i < c.replicas.size(); ++i) {
      if (c.replicas[i].node == c.replicas[i - 1].node) {
        c.replicas[i].duplicate = true;
      }
    }
    for (const auto& r : c.replicas) {
      c.bytes = std::max(c.bytes, r.bytes);
      if (r.has_special) {
        inv.problems.emplace_back(
            r.node, "chunk " + c.key + " on " + r.volume + " holds " +
                        std::to_string(r.special.size()) +
                        " special file(s) (symlink, device, FIFO or socket), e.g. " +
                        r.special.front() + ": it is never moved");
      }
    }
    classify(c, opts.verify, zones);
    inv.chunks.push_back(std::move(c));
  }
  recount(inv);
  return inv;
}

} // namespace clsync::core
