// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/inventory.hpp"
#include "core/plan/plan.hpp"
#include "core/plan/replica_planner.hpp"
#include "core/cluster/topology.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

/// Helpers shared by the planner's files (core/plan_*.cpp). Not a public interface.
namespace clsync::core::detail {

/// Replicas counted for replication: distinct nodes of the non-duplicate replicas.
int counted_replicas(const Chunk& c);
/// Whether `node` holds a counted replica of `c`.
bool holds(const Chunk& c, std::string_view node);
/// The chunk's wanted replication: its own, else the database's, else the cluster's.
int wanted_replication(const Chunk& c, const Topology& topo);
bool has_special(const Chunk& c);
bool has_duplicate(const Chunk& c);
/// Whether the chunk's newest file is younger than params.min_age at params.now.
bool is_young(const Chunk& c, const PlanParams& params);
/// The counted replica of `c` on `node`, or nullptr.
const Replica* replica_on(const Chunk& c, std::string_view node);

/// "2024-05-01T10:00:00Z" for a time point (UTC, whole seconds).
std::string rfc3339(std::chrono::system_clock::time_point t);

/// The nodes of the inventory by index (inventory order), with their role in a plan: usable
/// (reachable, not excluded, at least one readable volume) or left out; zones; share weights.
class NodeIndex {
public:
  /// Throws UsageError for an excluded name that is not a node.
  NodeIndex(const Inventory& inv, const Topology& topo, const std::vector<std::string>& exclude);
  int size() const { return static_cast<int>(m_inv.nodes.size()); }
  /// -1 when there is no such node.
  int find(std::string_view name) const;
  /// The node's index; throws UsageError "<what> NAME: no such node in CLUSTER".
  int require(std::string_view name, std::string_view what) const;
  const NodeState& state(int i) const { return m_inv.nodes[static_cast<std::size_t>(i)]; }
  const std::string& name(int i) const { return state(i).name; }
  bool usable(int i) const { return m_usable[static_cast<std::size_t>(i)]; }
  bool excluded(int i) const { return m_excluded[static_cast<std::size_t>(i)]; }
  /// Zone id of a node (nodes without a zone each form their own).
  int zone(int i) const { return m_zone[static_cast<std::size_t>(i)]; }
  /// Whether any node has a zone; when not, zone rules do not apply.
  bool zoned() const { return m_zoned; }
  /// Distinct zones over all nodes of the inventory.
  int zone_count() const { return m_zone_count; }
  /// Relative share weight of each usable node (0 for the others): weights, else capacity,
  /// else equal. Normalised to sum 1 over usable nodes (all 0 when none is usable).
  const std::vector<double>& weights() const { return m_weights; }
  /// What the weights came from: "weights", "capacity" or "equal".
  const char* basis() const { return m_basis; }

private:
  const Inventory& m_inv;
  std::vector<bool> m_usable, m_excluded;
  std::vector<int> m_zone;
  bool m_zoned = false;
  int m_zone_count = 0;
  std::vector<double> m_weights;
  const char* m_basis = "equal";
  std::unordered_map<std::string_view, int> m_by_name;
};

/// Distinct zones among `nodes` (node indexes) after replacing `from` by `to` (-1: none; `from`
/// -1 with `to` set adds `to`).
int distinct_zones(const NodeIndex& idx, const std::vector<int>& nodes, int from, int to);

/// Whether moving a replica from `from` to `to` (or adding one at `to` when from is -1) keeps
/// the chunk's distinct zones: as HDFS's balancer never reduces the racks a block spans, a move
/// never reduces the zones a chunk spans (so it never makes a zone-safe chunk zone-unsafe).
bool zones_allow(const NodeIndex& idx, const std::vector<int>& nodes, int from, int to);

/// Whether the move spreads the chunk: it spans more zones after than before.
bool zones_gain(const NodeIndex& idx, const std::vector<int>& nodes, int from, int to);

/// Free space per filesystem of each node, less what the plan already sends there; picks the
/// destination volume with the most free space (ties by volume order).
class VolumePicker {
public:
  explicit VolumePicker(const Inventory& inv);
  /// The readable volume of node `node` with the most free space that `avoid` does not reject;
  /// nullptr when there is none.
  const VolumeState* pick(int node,
                          const std::function<bool(const std::string&)>& avoid = {}) const;
  /// Records `bytes` sent to `volume` of node `node`.
  void take(int node, const std::string& volume, std::uint64_t bytes);

private:
  std::uint64_t fs_key(const VolumeState& v, std::size_t index) const;
  const Inventory& m_inv;
  std::vector<std::map<std::uint64_t, std::uint64_t>> m_planned;  ///< per node: fs -> bytes
};

/// Node loads in the plan's unit, updated as moves are planned, for "least-loaded" choices.
class LoadTracker {
public:
  LoadTracker(const Inventory& inv, const NodeIndex& idx, BalanceBy by);
  /// Load relative to the node's share weight; a node with weight 0 comes last.
  double relative(int i) const;
  double load(int i) const { return m_load[static_cast<std::size_t>(i)]; }
  /// Records a replica of `bytes` leaving `from` (-1: a new copy) for `to`.
  void move(int from, int to, std::uint64_t bytes);
  /// Whether node a is a better (less loaded) destination than node b; ties by node order.
  bool less(int a, int b) const;

private:
  const NodeIndex& m_idx;
  BalanceBy m_by;
  std::vector<double> m_load;
};

/// Before-loads of every node (counted replicas: chunks and bytes).
std::map<std::string, NodeLoad> node_loads(const Inventory& inv);
/// Before-loads of every volume of a node, keyed "node:volume" (every copy counts).
std::map<std::string, NodeLoad> volume_loads(const Inventory& inv, const NodeState& node);
/// Applies moves to per-node loads (by_volume: keys "node:volume").
void apply_moves(std::map<std::string, NodeLoad>& loads,
                 const std::vector<Move>& moves,
                 bool by_volume);

/// An empty plan stamped with command, cluster, unit and time.
Plan new_plan(const char* command, const Topology& topo, const PlanParams& params);

/// The threshold in the unit of `by`: the given one (checked > 0, else UsageError) or one
/// average replica (`total` over `replicas`, at least 1).
double resolve_threshold(const PlanParams& params, double total, std::uint64_t replicas);

/// Sends a node planner's moves to their destination volumes and fills before/after.
Move make_move(MoveKind kind, const Chunk& c, const Replica& src, const std::string& to_node,
               const std::string& to_volume);

/// "12.50 replicas" or "1048576 bytes", for notes.
std::string format_amount(double v, BalanceBy by);
/// "NODE: excluded, takes no part" and the like, for a node that is not usable.
std::string left_out_reason(const NodeIndex& idx, int i);
/// Why a chunk may not be rebalanced across nodes (unhealthy, special files, young), or empty.
std::string rebalance_refusal(const Chunk& c, const PlanParams& params);

} // namespace clsync::core::detail
