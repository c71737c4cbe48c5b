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
  out.levels = db->levels;
  out.replication = db->replication.value_or(topo.replication);
  return true;
}

namespace {

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

} // namespace clsync::core
