// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/error.hpp"
#include "core/cluster/inventory.hpp"
#include "core/options.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

/// `clsync status`: the inventory seen through the filters, grouped, with health and balance
/// (SPEC §1, §3, §9). Reads only; takes no lease.
namespace clsync::core {

/// Replicas and bytes one node holds inside a group.
struct GroupLoad {
  std::uint64_t replicas = 0;
  std::uint64_t bytes = 0;
};

/// One row of `--by db|table|volume`.
struct StatusGroup {
  std::string name;  ///< "Level1", "Level1/Snapshot" or "P1-dn1:/ssd/ssd0/chunkData"
  std::string db;    ///< by db and table
  std::string table; ///< by table
  std::string node;  ///< by volume
  std::string volume;
  std::uint64_t chunks = 0;    ///< distinct chunks with a replica in the group
  std::uint64_t replicas = 0;  ///< replicas in the group (duplicates excluded)
  std::uint64_t bytes = 0;     ///< bytes of those replicas
  std::map<std::string, GroupLoad> per_node;  ///< by db and table: every node → its load
};

/// One node's load against its share.
struct NodeBalance {
  std::string node;
  double share = 0;  ///< fraction of the data the node should hold (shares sum to 1)
  std::uint64_t chunks = 0;
  std::uint64_t bytes = 0;
  double target_chunks = 0;  ///< share × all replicas
  double target_bytes = 0;   ///< share × all bytes
  double chunks_deviation_pct = 0;  ///< (chunks − target) / target × 100; 0 when target is 0
  double bytes_deviation_pct = 0;
};

/// Min, max and mean of one measure over the balanced nodes, and the largest |deviation| from
/// a node's target, in percent of that target.
struct Spread {
  double min = 0, max = 0, mean = 0, max_deviation_pct = 0;
};

/// How evenly the reachable nodes hold the (filtered) replicas. Shares are equal unless the
/// topology gives weights; then each node's share is its weight over the sum (a node without a
/// weight counts 1.0). Unreachable and excluded nodes are left out: their load is unknown.
struct Balance {
  std::string shares = "equal";  ///< "weights" | "capacity" | "equal" (core::node_shares)
  std::vector<NodeBalance> nodes;
  Spread bytes;
  Spread chunks;
};

struct StatusResult {
  std::string cluster;
  int replication = 0;
  /// The inventory with the filters applied: only matching chunks, and every count (nodes,
  /// volumes, health) recomputed over them. Capacity and free space are whole volumes.
  Inventory inventory;
  bool filtered = false;  ///< some filter was given
  std::vector<StatusGroup> groups;  ///< with --by
  Balance balance;
  std::vector<std::size_t> unhealthy;  ///< indices into inventory.chunks, in key order
  /// 0; 3 when a node (not excluded) was unreachable or a volume of a reachable node is missing
  /// or unreadable; 5 under --check when a chunk is unhealthy.
  /// 5 wins over 3: a monitor must see unhealthy data first, and chunks whose replicas sit on
  /// an unreachable node are counted as under-replicated, which is what a monitor should alert
  /// on.
  ExitCode exit_code = ExitCode::ok;
};

/// Balance of `inv`'s reachable nodes under `topo`'s weights (pure).
Balance compute_balance(const Topology& topo, const Inventory& inv);

/// Groups `inv`'s chunks `by` "db", "table" or "volume" (pure). Throws UsageError for another
/// value.
std::vector<StatusGroup> group_chunks(const Inventory& inv, const std::string& by);

/// Takes the inventory (content hashes with `opts.verify`, file lists never), applies the
/// filters, groups and computes balance and the exit code. Unreachable nodes do not throw:
/// they are in the result. Throws UsageError for bad filters, --by or --exclude-node values.
StatusResult status(Context& ctx, const StatusOptions& opts);

} // namespace clsync::core
