// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/inventory.hpp"
#include "core/plan/plan.hpp"
#include "core/cluster/topology.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// The replica planner (SPEC §5 pre-run checks, §8 balancing): pure, deterministic functions
/// from inventory values to plans. Nothing here touches a node; the only I/O is saving and
/// loading plan files. The same input always gives the same plan, byte for byte.
namespace clsync::core {

/// What a plan balances: bytes (the default; chunks differ in size) or replica counts.
enum class BalanceBy { bytes, count };
const char* to_string(BalanceBy by) noexcept;
/// "bytes" or "count"; throws UsageError for anything else.
BalanceBy parse_balance_by(std::string_view text);

const char* to_string(MoveKind kind) noexcept;
/// "move", "copy" or "drop_duplicate"; throws UsageError for anything else.
MoveKind parse_move_kind(std::string_view text);

/// Chooses chunks (built by the caller from the filters of SPEC §4). Empty: every chunk.
using ChunkPredicate = std::function<bool(const Chunk&)>;

/// Parameters shared by the planners.
struct PlanParams {
  BalanceBy by = BalanceBy::bytes;
  /// Allowed deviation from a node's share, in the unit of `by` (bytes or replicas); a node is
  /// balanced when |load − share| < threshold, strictly. Unset: one average replica (its mean
  /// size in bytes, or 1 replica). Must be > 0.
  std::optional<double> threshold;
  /// Chunks whose newest file is younger than this (at `now`) stay where they are
  /// (DolphinDB's updatedBeforeDays). Zero: no chunk is too young. Needs `now` set.
  std::chrono::nanoseconds min_age{0};
  /// The clock of the plan, injected so planning stays pure; it also stamps Plan::created.
  std::chrono::system_clock::time_point now{};
  /// Nodes that are never a source nor a destination. Unreachable nodes are left out as well.
  /// A name not in the inventory is a UsageError.
  std::vector<std::string> exclude_nodes;
  /// Fraction of each destination filesystem's capacity kept free (SPEC §5); the planners do not
  /// read it, callers pass it to check_capacity.
  double headroom = 0.05;
  /// Rebalancing moves only the chunks this accepts; the others still count in the loads.
  ChunkPredicate movable;
};

/// Balances replicas across nodes (`rebalance-nodes`, SPEC §8).
///
/// Share: each node's `weight` when any usable node has one (missing weights count 1), else its
/// volume capacity (each filesystem once per node), else equal. Load: bytes or replicas, with
/// duplicate copies on a node not counted. Excluded and unreachable nodes keep their replicas,
/// take no part, and still count for anti-affinity and zones.
///
/// Moves go only from above-share to below-share nodes, never put two replicas of a chunk on one
/// node nor onto a node that gives one of that chunk away in the same plan, and never reduce the
/// distinct zones a chunk spans (as HDFS's balancer never reduces a block's racks; so a
/// zone-safe chunk stays zone-safe). A zone-unsafe chunk (movable only under --allow-degraded)
/// moves only to a zone it is not in, and its replicas are tried before others of equal size.
/// A moved replica is not moved again.
///
/// The greedy, one move at a time while some node is out of threshold: the most-over node
/// gives to the most-under node its largest legal chunk that overshoots neither by the
/// threshold (size < min(excess, deficit) + threshold) and lowers Σ(load − share)²; ties go to
/// the smaller chunk key, and between nodes the earlier node in topology order ends with more (it
/// is the last to give and the first to receive). When that pair has no such chunk, the next
/// pairs are tried in the same order; when no pair has one, a chunk nearest half the pair's
/// combined deviation that lowers the worse of the two is moved. By count, with a threshold of
/// at least one replica and no anti-affinity or zone rule in the way, this uses the fewest moves
/// possible. The destination volume is the one with the most free space after the moves
/// already planned to it. Unhealthy chunks (but zone-unsafe ones), chunks with special files
/// and young chunks stay,
/// each with a note; nodes left out of threshold get a note (chunk empty).
/// Throws UsageError for a bad threshold or an unknown excluded node.
Plan plan_node_rebalance(const Inventory& inv, const Topology& topo, const PlanParams& params);

/// Each node's share of the data as every planner and `status` see it: the topology's `weight`
/// when any usable node has one (others count 1), else volume capacity (each filesystem once per
/// node), else equal. Unreachable nodes and nodes without a readable volume get 0; shares sum to 1.
struct NodeShares {
  std::string basis;  ///< "weights" | "capacity" | "equal"
  std::map<std::string, double> share;  ///< by node name
};
NodeShares node_shares(const Inventory& inv, const Topology& topo);

/// Balances one node's chunks over its readable volumes (`rebalance-disks`): a volume's share
/// is its filesystem's capacity split evenly among the node's volumes on that filesystem (equal
/// when capacities are unknown). Same greedy as plan_node_rebalance with volumes for nodes;
/// moves stay within the node (from.node == to.node). Chunks with a duplicate copy on the node,
/// special files or young files stay (notes). Plan::before/after are keyed "node:volume".
/// Throws UsageError for an unknown or excluded node, Error(failed) for an unreachable one.
Plan plan_disk_rebalance(const Inventory& inv,
                         const Topology& topo,
                         const std::string& node,
                         const PlanParams& params);

/// Drains a node (scale-in): every replica on `from_node` accepted by `pick` moves to `to_node`
/// when given, else to the least-loaded legal node (a move never reduces the zones a chunk
/// spans; a node that adds a zone comes first; then load relative to share, ties by node order). A
/// chunk with no legal destination (including `to_node` when it already holds a replica) gets a
/// note and stays; so do chunks with special files or with a duplicate copy on `from_node`.
/// `min_age` does not apply: a drain empties the node. Refuses the whole plan, before anything
/// moves, with Error(failed) naming the node and the replication, when the other nodes of the
/// topology (or their zones) are too few to keep some chosen chunk's replication. Throws UsageError
/// for unknown nodes, `to_node == from_node`, or an excluded or unreachable `to_node`.
Plan plan_drain_node(const Inventory& inv,
                     const Topology& topo,
                     const std::string& from_node,
                     const std::optional<std::string>& to_node,
                     const PlanParams& params,
                     const ChunkPredicate& pick = {});

/// Drains a volume: every replica on `node`:`from_volume` moves to `to_volume` when given, else
/// to the node's other readable volume with the most free space after the moves already planned
/// (ties by volume order). A chunk whose copy already exists on the target volume gets a note.
/// Throws UsageError for an unknown node or volume, or `to_volume == from_volume`.
Plan plan_drain_volume(const Inventory& inv,
                       const Topology& topo,
                       const std::string& node,
                       const std::string& from_volume,
                       const std::optional<std::string>& to_volume,
                       const PlanParams& params);

/// Where plan_move_chunks sends chunks. Empty node: the least-loaded legal node (or, with a
/// volume, that volume of the source node). A node equal to the source: another volume of it.
struct MoveTarget {
  std::string node;
  std::string volume;  ///< empty: the most-free volume of the destination
};

/// Moves the chunks `pick` accepts from `from_node` to `to` (`move-replicas --chunk`/filters).
/// Same destination rules and notes as plan_drain_node / plan_drain_volume, without the drain's
/// replication refusal (a chunk that cannot move is a note). Throws UsageError for unknown nodes
/// or volumes.
Plan plan_move_chunks(const Inventory& inv,
                      const Topology& topo,
                      const std::string& from_node,
                      const MoveTarget& to,
                      const ChunkPredicate& pick,
                      const PlanParams& params);

/// Repairs replica counts (`repair`): an under-replicated chunk gets `copy` moves from a healthy
/// replica (the source with the fewest bytes already planned to be read from it, then node order)
/// to the least-loaded legal node (preferring new zones while the chunk spans fewer than
/// min(replication, zones); most-free volume) until its count is met. Divergent chunks are never
/// repaired (note "divergent: resolve by hand or restore"); over-replicated chunks stay (note:
/// surplus goes only through clsync's intents). With `fix_duplicates`, a duplicate copy whose
/// content hash is known and equal to the node's counted replica gets a `drop_duplicate` move
/// (from: the duplicate, to: the copy kept); otherwise a note. Only chunks `pick` accepts are
/// considered. A zone-unsafe chunk with its replica count gets `move`s: while it spans fewer
/// zones than min(replicas, replication, zones of reachable nodes), a replica in a zone holding
/// two or more (the most loaded such node) moves to the least-loaded usable node of a zone the
/// chunk is not in (note when there is none). Throws UsageError for an unknown excluded node.
Plan plan_repair(const Inventory& inv,
                 const Topology& topo,
                 const PlanParams& params,
                 bool fix_duplicates,
                 const ChunkPredicate& pick = {});

/// A destination filesystem without room for what a plan sends it.
struct CapacityViolation {
  std::string node;
  std::string volume;          ///< the first volume of the filesystem that receives
  std::uint64_t needed = 0;    ///< incoming bytes + headroom × capacity
  std::uint64_t free = 0;
  bool operator==(const CapacityViolation&) const = default;
};

/// Checks every destination filesystem has the bytes all the plan's moves and copies send it
/// (the source replica's allocated bytes when the inventory knows them — copies keep holes —
/// else the move's apparent bytes) plus `headroom` × its capacity free; a move between volumes of one filesystem needs none, nor
/// does drop_duplicate. A destination volume missing from the inventory or unreadable counts as
/// 0 bytes free. Returns the violations (empty: the plan fits), in node then volume order.
std::vector<CapacityViolation> check_capacity(const Plan& plan,
                                              const Inventory& inv,
                                              double headroom);

/// Moves and bytes from one place to another, for the from→to matrix of --dry-run.
struct PlanMatrix {
  std::vector<std::string> labels;  ///< node names ("node:volume" when by_volume)
  struct Cell {
    std::uint64_t moves = 0;
    std::uint64_t bytes = 0;
  };
  std::vector<std::vector<Cell>> cells;  ///< [from][to], indexes into labels
};

/// Builds the from→to matrix of a plan. Labels are the places the moves name, in topology order
/// when `topo` is given (others after, sorted), else sorted.
PlanMatrix plan_matrix(const Plan& plan, const Topology* topo = nullptr, bool by_volume = false);

/// The loads after only the moves in `done` (the tasks that finished) were applied to
/// plan.before, keyed as plan.before is (per node, or "node:volume"): what a partial run left.
std::map<std::string, NodeLoad> loads_after(const Plan& plan, const std::vector<Move>& done);

/// The plan file format version written by plan_to_json.
inline constexpr int k_plan_format_version = 1;

/// A plan as a JSON document: {format: "clsync-plan", version, command, cluster, created, by,
/// moves: [{kind, chunk, from: {node, volume}, to: {…}, bytes, fingerprint}], notes, before,
/// after}.
nlohmann::json plan_to_json(const Plan& plan);

/// Reads a plan document; `source` names it in messages. Throws UsageError naming the source
/// and the bad field for anything that is not a valid plan of a supported version.
Plan plan_from_json(const nlohmann::json& doc, const std::string& source);

/// Writes a plan file (a temporary file, then a rename). Throws Error(failed) naming the file.
void save_plan(const Plan& plan, const std::filesystem::path& file);

/// Loads a plan file. Throws UsageError naming the file when it cannot be read or parsed.
Plan load_plan(const std::filesystem::path& file);

} // namespace clsync::core
