// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/placement.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace clsync::core {

Placement::Placement(const Inventory& inv,
                     const Topology& topo,
                     double headroom,
                     const std::vector<std::string>& exclude_nodes)
{
  const ZoneMap zones = zone_map(topo, inv.nodes);
  for (std::size_t i = 0; i < inv.nodes.size(); ++i) {
    const NodeState& ns = inv.nodes[i];
    if (!ns.reachable || ns.excluded ||
        std::find(exclude_nodes.begin(), exclude_nodes.end(), ns.name) != exclude_nodes.end()) {
      continue;
    }
    NodeRoom n;
    n.name = ns.name;
    n.order = i;
    n.load = ns.bytes;
    auto z = zones.zone_of.find(ns.name);
    n.zone = z != zones.zone_of.end() ? z->second : "\n" + ns.name;
    for (const auto& v : ns.volumes) {
      if (!v.ok) {
        continue;
      }
      Vol vol;
      vol.path = v.path;
      vol.free = v.free_bytes;
      vol.keep = static_cast<std::uint64_t>(
          std::ceil(std::max(0.0, headroom) * static_cast<double>(v.capacity_bytes)));
      vol.filesystem = v.filesystem_id;
      n.vols.push_back(vol);
    }
    if (!n.vols.empty()) {
      m_nodes.push_back(std::move(n));
    }
  }
}

Placement::Vol* Placement::best_volume(NodeRoom& n, std::uint64_t bytes)
{
  Vol* best = nullptr;
  for (auto& v : n.vols) {
    if (v.free < v.keep || v.free - v.keep < bytes) {
      continue;
    }
    if (!best || v.free > best->free) {
      best = &v;
    }
  }
  return best;
}

void Placement::take(NodeRoom& n, Vol& v, std::uint64_t bytes)
{
  n.load += bytes;
  // Volumes of one filesystem share its free space.
  for (auto& other : n.vols) {
    if (&other == &v || (v.filesystem != 0 && other.filesystem == v.filesystem)) {
      other.free -= std::min(other.free, bytes);
    }
  }
}

std::vector<Place>
Placement::choose(int n, std::uint64_t bytes, const std::vector<std::string>& holding)
{
  std::set<std::string> used(holding.begin(), holding.end());
  std::set<std::string> zones_used;
  for (const auto& node : m_nodes) {
    if (used.count(node.name)) {
      zones_used.insert(node.zone);
    }
  }
  std::vector<Place> out;
  while (static_cast<int>(out.size()) < n) {
    NodeRoom* pick = nullptr;
    Vol* pick_vol = nullptr;
    for (auto& node : m_nodes) {
      if (used.count(node.name)) {
        continue;
      }
      Vol* v = best_volume(node, bytes);
      if (!v) {
        continue;
      }
      if (pick) {
        const bool new_zone = !zones_used.count(node.zone);
        const bool pick_new_zone = !zones_used.count(pick->zone);
        if (new_zone != pick_new_zone) {
          if (!new_zone) {
            continue;
          }
        } else if (std::tie(node.load, node.order) >= std::tie(pick->load, pick->order)) {
          continue;
        }
      }
      pick = &node;
      pick_vol = v;
    }
    if (!pick) {
      break;
    }
    take(*pick, *pick_vol, bytes);
    used.insert(pick->name);
    zones_used.insert(pick->zone);
    out.push_back({pick->name, pick_vol->path});
  }
  return out;
}

bool Placement::reserve(const Place& p, std::uint64_t bytes)
{
  for (auto& node : m_nodes) {
    if (node.name != p.node) {
      continue;
    }
    for (auto& v : node.vols) {
      if (v.path == p.volume) {
        if (v.free < v.keep || v.free - v.keep < bytes) {
          return false;
        }
        take(node, v, bytes);
        return true;
      }
    }
  }
  return false;
}

} // namespace clsync::core
