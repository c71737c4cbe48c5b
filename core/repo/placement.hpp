// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/inventory.hpp"
#include "core/cluster/topology.hpp"
#include "core/plan/plan.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

/// Where new replicas of a chunk go when they come from outside the cluster (restore; sync-online
/// places new chunks the same way): on distinct nodes, the least loaded by bytes first, spreading
/// over zones, each on the node's volume with the most free space, and only where the chunk fits
/// with the headroom kept free. Placements are remembered, so later chunks see the load and the
/// space the earlier ones took.
namespace clsync::core {

class Placement {
public:
  /// `exclude_nodes` receive nothing; unreachable nodes and unreadable volumes neither.
  Placement(const Inventory& inv,
            const Topology& topo,
            double headroom,
            const std::vector<std::string>& exclude_nodes);

  /// Chooses up to `n` places for a chunk of `bytes` bytes on nodes other than `holding` (the
  /// nodes that already hold it), preferring zones `holding` does not span, then the least
  /// loaded node (bytes, then topology order). Fewer places when no more nodes have room.
  /// Each place chosen is reserved.
  std::vector<Place>
  choose(int n, std::uint64_t bytes, const std::vector<std::string>& holding);

  /// Reserves `bytes` on `p` (a replacement written beside the old version); false when it does
  /// not fit with the headroom.
  bool reserve(const Place& p, std::uint64_t bytes);

private:
  struct Vol {
    std::string path;
    std::uint64_t free = 0, keep = 0; ///< keep: headroom × capacity
    std::uint64_t filesystem = 0;
  };
  struct NodeRoom {
    std::string name;
    std::string zone;
    std::size_t order = 0;
    std::uint64_t load = 0;
    std::vector<Vol> vols;
  };
  /// The volume of `n` with the most free space after `bytes`, when one fits.
  Vol* best_volume(NodeRoom& n, std::uint64_t bytes);
  void take(NodeRoom& n, Vol& v, std::uint64_t bytes);

  std::vector<NodeRoom> m_nodes;
};

} // namespace clsync::core
