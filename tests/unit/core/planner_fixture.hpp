// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/inventory.hpp"
#include "core/plan/plan.hpp"
#include "core/cluster/topology.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

/// Hand-built inventories for the planner's tests (the planner is pure: no nodes needed), and a
/// replay of plans over them that checks every move is executable in order.
namespace clsync::test {

struct VolumeSpec {
  std::string path;
  std::uint64_t capacity = 1'000'000'000;
  std::uint64_t free = 500'000'000;
  std::uint64_t fs = 0;  ///< 0: a filesystem of its own
};

class InventoryBuilder {
public:
  explicit InventoryBuilder(int replication = 2)
  {
    topo.cluster = "test";
    topo.replication = replication;
    topo.databases.push_back({"db", {"date"}, std::nullopt});
  }

  /// Adds a node with one volume "/<name>/v1" unless volumes are given.
  InventoryBuilder& node(const std::string& name,
                         std::vector<VolumeSpec> volumes = {},
                         std::string zone = {},
                         std::optional<double> weight = std::nullopt)
  {
    if (volumes.empty()) {
      volumes.push_back({"/" + name + "/v1"});
    }
    core::NodeSpec spec;
    spec.name = name;
    spec.host = "local";
    spec.zone = std::move(zone);
    spec.weight = weight;
    core::NodeState state;
    state.name = name;
    state.host = "local";
    for (const auto& v : volumes) {
      spec.volumes.push_back(v.path);
      core::VolumeState vs;
      vs.path = v.path;
      vs.capacity_bytes = v.capacity;
      vs.free_bytes = v.free;
      vs.filesystem_id = v.fs != 0 ? v.fs : ++m_next_fs + 1000;
      state.volumes.push_back(vs);
    }
    topo.nodes.push_back(spec);
    inv.nodes.push_back(state);
    return *this;
  }

  /// Adds a chunk with replicas at (node, volume) places; volume "" means the node's first.
  core::Chunk& chunk(const std::string& key,
                     std::uint64_t bytes,
                     const std::vector<std::pair<std::string, std::string>>& places)
  {
    core::Chunk c;
    c.key = key;
    c.db = "db";
    c.table = "t";
    c.bytes = bytes;
    c.replication = topo.replication;
    std::set<std::string> seen;
    for (const auto& [node, volume] : places) {
      core::Replica r;
      r.node = node;
      r.volume = volume.empty() ? first_volume(node) : volume;
      r.bytes = bytes;
      r.files = 1;
      r.newest_mtime_ns = 1'000'000'000;
      r.fingerprint = "fp-" + key + "@" + node + ":" + r.volume;
      r.duplicate = !seen.insert(node).second;
      c.replicas.push_back(r);
    }
    inv.chunks.push_back(c);
    return inv.chunks.back();
  }

  /// Sorts chunks by key, sets health from replica counts, fills node totals.
  core::Inventory build()
  {
    std::sort(inv.chunks.begin(), inv.chunks.end(),
              [](const core::Chunk& a, const core::Chunk& b) { return a.key < b.key; });
    for (auto& c : inv.chunks) {
      if (c.health != core::ChunkHealth::healthy) {
        continue;  // set by hand
      }
      int counted = 0;
      bool dup = false;
      for (const auto& r : c.replicas) {
        counted += r.duplicate ? 0 : 1;
        dup = dup || r.duplicate;
      }
      if (counted < c.replication) {
        c.health = core::ChunkHealth::under_replicated;
      } else if (counted > c.replication) {
        c.health = core::ChunkHealth::over_replicated;
      } else if (core::zone_unsafe(c, core::zone_map(topo, inv.nodes))) {
        c.health = core::ChunkHealth::zone_unsafe;
        c.issues = {core::ChunkHealth::zone_unsafe};
      } else if (dup) {
        c.health = core::ChunkHealth::duplicate_on_node;
      }
    }
    for (auto& n : inv.nodes) {
      n.chunks = 0;
      n.bytes = 0;
      for (const auto& c : inv.chunks) {
        for (const auto& r : c.replicas) {
          if (r.node == n.name && !r.duplicate) {
            ++n.chunks;
            n.bytes += r.bytes;
          }
        }
      }
    }
    return inv;
  }

  std::string first_volume(const std::string& node) const
  {
    for (const auto& n : inv.nodes) {
      if (n.name == node) {
        return n.volumes.front().path;
      }
    }
    throw std::logic_error("no node " + node);
  }

  core::Topology topo;
  core::Inventory inv;

private:
  std::uint64_t m_next_fs = 0;
};

/// Where each chunk's copies are: chunk -> list of (node, volume).
using Layout = std::map<std::string, std::vector<core::Place>>;

inline Layout layout_of(const core::Inventory& inv)
{
  Layout out;
  for (const auto& c : inv.chunks) {
    auto& places = out[c.key];
    for (const auto& r : c.replicas) {
      places.push_back({r.node, r.volume});
    }
  }
  return out;
}

/// Replays a plan in order as the executor would; throws std::logic_error when a move's source
/// is missing or its destination already holds the chunk (on that node, for moves between
/// nodes).
inline Layout replay(const core::Inventory& inv, const core::Plan& plan)
{
  Layout out = layout_of(inv);
  for (const auto& m : plan.moves) {
    auto& places = out[m.chunk];
    auto src = std::find(places.begin(), places.end(), m.from);
    if (src == places.end()) {
      throw std::logic_error("source missing for " + m.chunk + " at " + m.from.node);
    }
    if (m.kind == core::MoveKind::drop_duplicate) {
      places.erase(src);
      continue;
    }
    const bool same_node = m.from.node == m.to.node;
    for (const auto& p : places) {
      if (same_node ? p == m.to : p.node == m.to.node) {
        throw std::logic_error("destination holds " + m.chunk + " at " + m.to.node);
      }
    }
    if (m.kind == core::MoveKind::move) {
      *src = m.to;
    } else {
      places.push_back(m.to);
    }
  }
  return out;
}

/// Replicas per node (counting every copy).
inline std::map<std::string, int> count_by_node(const Layout& layout)
{
  std::map<std::string, int> out;
  for (const auto& [key, places] : layout) {
    for (const auto& p : places) {
      ++out[p.node];
    }
  }
  return out;
}

/// Whether every chunk's copies are on distinct nodes.
inline bool anti_affine(const Layout& layout)
{
  for (const auto& [key, places] : layout) {
    std::set<std::string> nodes;
    for (const auto& p : places) {
      if (!nodes.insert(p.node).second) {
        return false;
      }
    }
  }
  return true;
}

} // namespace clsync::test
