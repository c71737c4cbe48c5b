// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/plan/plan_internal.hpp"

#include <algorithm>
#include <limits>
#include <set>

namespace clsync::core {

namespace {

using namespace detail;

/// Node indexes of a chunk's counted replicas and of every node holding any copy.
void chunk_nodes(const NodeIndex& idx, const Chunk& c, std::vector<int>& counted,
                 std::set<int>& any)
{
  counted.clear();
  any.clear();
  for (const auto& r : c.replicas) {
    const int i = idx.find(r.node);
    if (i < 0) {
      continue;
    }
    any.insert(i);
    if (!r.duplicate) {
      counted.push_back(i);
    }
  }
}

const VolumeState* find_volume(const NodeState& node, const std::string& path)
{
  for (const auto& v : node.volumes) {
    if (v.path == path) {
      return &v;
    }
  }
  return nullptr;
}

void require_reachable(const NodeIndex& idx, int i)
{
  const auto& n = idx.state(i);
  if (!n.reachable) {
    throw Error(ExitCode::failed, "node " + n.name + " is unreachable: " + n.error,
                "check the node, or leave it out");
  }
}

/// A destination volume named by the operator: it must exist and be readable.
void require_volume(const NodeState& node, const std::string& path, const char* option)
{
  const VolumeState* v = find_volume(node, path);
  if (v == nullptr) {
    throw UsageError(std::string(option) + " " + path + ": not a volume of " + node.name);
  }
  if (!v->ok) {
    throw UsageError(std::string(option) + " " + path + " on " + node.name +
                     " cannot be read: " + v->error);
  }
}

/// Refuses a drain the rest of the cluster cannot absorb (SPEC §5), before anything moves.
void refuse_impossible_drain(const Inventory& inv, const Topology& topo, const NodeIndex& idx,
                             int from, const ChunkPredicate& pick)
{
  const int others = idx.size() - 1;
  std::set<int> other_zones;
  for (int i = 0; i < idx.size(); ++i) {
    if (i != from) {
      other_zones.insert(idx.zone(i));
    }
  }
  const std::string& name = idx.name(from);
  for (const auto& c : inv.chunks) {
    if (!holds(c, name) || (pick && !pick(c))) {
      continue;
    }
    const int rep = wanted_replication(c, topo);
    if (others < rep) {
      throw Error(ExitCode::failed,
                  "cannot drain " + name + ": " + std::to_string(others) +
                      " other nodes cannot keep replication " + std::to_string(rep) +
                      " (chunk " + c.key + ")",
                  "add a node first, or lower the replication");
    }
    const int zones = static_cast<int>(other_zones.size());
    if (idx.zoned() && zones < std::min(rep, idx.zone_count())) {
      throw Error(ExitCode::failed,
                  "cannot drain " + name + ": the " + std::to_string(zones) +
                      " other zones cannot keep replication " + std::to_string(rep) +
                      " across zones (chunk " + c.key + ")",
                  "add a node in another zone first");
    }
  }
}

/// Plans moves of the chosen replicas of node `from` to other nodes.
void plan_off_node(const Inventory& inv, const Topology& topo, const NodeIndex& idx, int from,
                   int to, const std::string& to_volume, const ChunkPredicate& pick,
                   const PlanParams& params, Plan& plan)
{
  LoadTracker loads(inv, idx, params.by);
  VolumePicker picker(inv);
  const std::string& name = idx.name(from);
  std::vector<int> counted;
  std::set<int> any;
  for (const auto& c : inv.chunks) {
    const Replica* r = replica_on(c, name);
    if (r == nullptr || (pick && !pick(c))) {
      continue;
    }
    chunk_nodes(idx, c, counted, any);
    if (std::any_of(c.replicas.begin(), c.replicas.end(),
                    [&](const Replica& x) { return x.node == name && x.duplicate; })) {
      plan.notes.push_back(
          {c.key, "duplicate copies on " + name + ": not moved (repair --fix-duplicates)"});
      continue;
    }
    if (has_special(c)) {
      plan.notes.push_back({c.key, "holds symlinks, devices, FIFOs or sockets: never moved"});
      continue;
    }
    const auto legal = [&](int cand) {
      return cand != from && idx.usable(cand) && any.count(cand) == 0 &&
             zones_allow(idx, counted, from, cand);
    };
    int dest = -1;
    if (to >= 0) {
      if (legal(to)) {
        dest = to;
      } else {
        plan.notes.push_back(
            {c.key, "no legal destination: " + idx.name(to) +
                        (any.count(to) != 0 ? " already holds a copy"
                                            : " would leave the replicas in too few zones")});
        continue;
      }
    } else {
      // A destination that spreads the chunk over more zones first, then the least loaded.
      bool dest_gain = false;
      for (int cand = 0; cand < idx.size(); ++cand) {
        if (!legal(cand)) {
          continue;
        }
        const bool gain = zones_gain(idx, counted, from, cand);
        if (dest < 0 || (gain && !dest_gain) || (gain == dest_gain && loads.less(cand, dest))) {
          dest = cand;
          dest_gain = gain;
        }
      }
      if (dest < 0) {
        plan.notes.push_back({c.key, "no legal destination: every other usable node holds a "
                                     "copy or would leave the replicas in too few zones"});
        continue;
      }
    }
    std::string volume = to_volume;
    if (volume.empty()) {
      volume = picker.pick(dest)->path;
    }
    picker.take(dest, volume, r->bytes);
    loads.move(from, dest, r->bytes);
    plan.moves.push_back(make_move(MoveKind::move, c, *r, idx.name(dest), volume));
  }
}

/// Plans moves between volumes of one node: the copies `select` chooses go to `to_volume`, or
/// to the most-free other volume that holds no copy of the chunk.
void plan_within_node(const Inventory& inv, const NodeIndex& idx, int node,
                      const std::function<bool(const Chunk&, const Replica&)>& select,
                      const std::string& to_volume, Plan& plan)
{
  VolumePicker picker(inv);
  const std::string& name = idx.name(node);
  for (const auto& c : inv.chunks) {
    for (const auto& r : c.replicas) {
      if (r.node != name || !select(c, r)) {
        continue;
      }
      if (r.has_special) {
        plan.notes.push_back({c.key, "holds symlinks, devices, FIFOs or sockets: never moved"});
        continue;
      }
      const auto copy_on = [&](const std::string& vol) {
        return std::any_of(c.replicas.begin(), c.replicas.end(),
                           [&](const Replica& x) { return x.node == name && x.volume == vol; });
      };
      std::string dest;
      if (!to_volume.empty()) {
        if (copy_on(to_volume)) {
          plan.notes.push_back({c.key, "a copy already exists on " + name + ":" + to_volume +
                                           " (duplicate): repair --fix-duplicates"});
          continue;
        }
        dest = to_volume;
      } else {
        const VolumeState* v = picker.pick(node, [&](const std::string& p) {
          return p == r.volume || copy_on(p);
        });
        if (v == nullptr) {
          plan.notes.push_back({c.key, "no other readable volume of " + name +
                                           " without a copy of the chunk"});
          continue;
        }
        dest = v->path;
      }
      picker.take(node, dest, r.bytes);
      plan.moves.push_back(make_move(MoveKind::move, c, r, name, dest));
    }
  }
}

} // namespace

Plan plan_drain_node(const Inventory& inv,
                     const Topology& topo,
                     const std::string& from_node,
                     const std::optional<std::string>& to_node,
                     const PlanParams& params,
                     const ChunkPredicate& pick)
{
  const NodeIndex idx(inv, topo, params.exclude_nodes);
  const int from = idx.require(from_node, "--from-node");
  require_reachable(idx, from);
  int to = -1;
  if (to_node) {
    to = idx.require(*to_node, "--to-node");
    if (to == from) {
      throw UsageError("--to-node " + *to_node + ": the node being drained");
    }
    if (!idx.usable(to)) {
      throw UsageError("--to-node " + left_out_reason(idx, to));
    }
  }
  refuse_impossible_drain(inv, topo, idx, from, pick);
  Plan plan = new_plan("move-replicas", topo, params);
  plan.before = node_loads(inv);
  plan_off_node(inv, topo, idx, from, to, {}, pick, params, plan);
  plan.after = plan.before;
  apply_moves(plan.after, plan.moves, false);
  return plan;
}

Plan plan_drain_volume(const Inventory& inv,
                       const Topology& topo,
                       const std::string& node,
                       const std::string& from_volume,
                       const std::optional<std::string>& to_volume,
                       const PlanParams& params)
{
  const NodeIndex idx(inv, topo, params.exclude_nodes);
  const int ni = idx.require(node, "--node");
  require_reachable(idx, ni);
  const NodeState& state = idx.state(ni);
  if (find_volume(state, from_volume) == nullptr) {
    throw UsageError("--from-volume " + from_volume + ": not a volume of " + node);
  }
  if (to_volume) {
    if (*to_volume == from_volume) {
      throw UsageError("--to-volume " + *to_volume + ": the volume being drained");
    }
    require_volume(state, *to_volume, "--to-volume");
  }
  Plan plan = new_plan("move-replicas", topo, params);
  plan.before = volume_loads(inv, state);
  plan_within_node(
      inv, idx, ni, [&](const Chunk&, const Replica& r) { return r.volume == from_volume; },
      to_volume.value_or(std::string()), plan);
  plan.after = plan.before;
  apply_moves(plan.after, plan.moves, true);
  return plan;
}

Plan plan_move_chunks(const Inventory& inv,
                      const Topology& topo,
                      const std::string& from_node,
                      const MoveTarget& to,
                      const ChunkPredicate& pick,
                      const PlanParams& params)
{
  const NodeIndex idx(inv, topo, params.exclude_nodes);
  const int from = idx.require(from_node, "--from-node");
  require_reachable(idx, from);
  Plan plan = new_plan("move-replicas", topo, params);
  const bool within = (to.node.empty() && !to.volume.empty()) || to.node == from_node;
  if (within) {
    const NodeState& state = idx.state(from);
    if (!to.volume.empty()) {
      require_volume(state, to.volume, "--to-volume");
    }
    plan.before = volume_loads(inv, state);
    plan_within_node(
        inv, idx, from,
        [&](const Chunk& c, const Replica& r) {
          // Moving a copy onto the volume it is on already would be a no-op task.
          return !r.duplicate && (!pick || pick(c)) && r.volume != to.volume;
        },
        to.volume, plan);
    plan.after = plan.before;
    apply_moves(plan.after, plan.moves, true);
    return plan;
  }
  int dest = -1;
  if (!to.node.empty()) {
    dest = idx.require(to.node, "--to-node");
    if (!idx.usable(dest)) {
      throw UsageError("--to-node " + left_out_reason(idx, dest));
    }
    if (!to.volume.empty()) {
      require_volume(idx.state(dest), to.volume, "--to-volume");
    }
  }
  plan.before = node_loads(inv);
  plan_off_node(inv, topo, idx, from, dest, to.volume, pick, params, plan);
  plan.after = plan.before;
  apply_moves(plan.after, plan.moves, false);
  return plan;
}

} // namespace clsync::core
