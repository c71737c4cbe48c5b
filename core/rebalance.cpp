// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/rebalance.hpp"

#include "core/error.hpp"
#include "core/cluster/filter.hpp"
#include "core/cluster/inventory.hpp"
#include "core/run/writing_run.hpp"
#include "core/plan/plan_check.hpp"
#include "core/plan/replica_planner.hpp"
#include "core/units.hpp"

#include <algorithm>
#include <functional>

namespace clsync::core {
namespace {

ChunkPredicate predicate_of(const FilterOptions& f, const Topology& topo)
{
  ChunkFilter filter(f, topo);
  if (filter.selects_all()) {
    return {};
  }
  return [filter](const Chunk& c) { return filter.matches(c); };
}

PlanParams params_of(const PlanOptions* po, const WriteOptions& w, ChunkPredicate movable)
{
  PlanParams p;
  if (po) {
    p.by = parse_balance_by(po->by);
    p.threshold = po->threshold;
    if (!po->min_age.empty()) {
      p.min_age = parse_duration(po->min_age, "--min-age");
    }
  }
  p.now = std::chrono::system_clock::now();
  p.exclude_nodes = w.exclude_nodes;
  p.headroom = w.headroom;
  p.movable = std::move(movable);
  return p;
}

void merge_into(Plan& all, Plan&& one)
{
  for (auto& m : one.moves) {
    all.moves.push_back(std::move(m));
  }
  all.notes.insert(all.notes.end(), one.notes.begin(), one.notes.end());
  all.before.insert(one.before.begin(), one.before.end());
  all.after.insert(one.after.begin(), one.after.end());
}

} // namespace

RebalanceResult rebalance_nodes(Context& ctx, const RebalanceNodesOptions& opts)
{
  const Topology& topo = ctx.topo();
  auto params = params_of(&opts.plan, opts.write, predicate_of(opts.filter, topo));
  WritingJob job{"rebalance-nodes", opts.write, &opts.plan, false, false, {}, [&](const Inventory& inv) {
            return plan_node_rebalance(inv, topo, params);
          }};
  return run_writing_job(ctx, job);
}

RebalanceResult rebalance_disks(Context& ctx, const RebalanceDisksOptions& opts)
{
  const Topology& topo = ctx.topo();
  if (opts.all_nodes == !opts.nodes.empty()) {
    throw UsageError("rebalance-disks needs --node NAME (repeatable) or --all-nodes, not both");
  }
  std::vector<std::string> nodes = opts.nodes;
  if (opts.all_nodes) {
    for (const auto& n : topo.nodes) {
      if (std::find(opts.write.exclude_nodes.begin(), opts.write.exclude_nodes.end(), n.name) ==
          opts.write.exclude_nodes.end()) {
        nodes.push_back(n.name);
      }
    }
  }
  for (const auto& n : nodes) {
    if (!topo.find_node(n)) {
      throw UsageError("--node " + n + ": no such node in " + topo.file);
    }
  }
  auto params = params_of(&opts.plan, opts.write, {});
  WritingJob job{
      "rebalance-disks", opts.write, &opts.plan, false, false, nodes, [&](const Inventory& inv) {
        Plan all;
        all.by = to_string(params.by);
        for (const auto& n : nodes) {
          merge_into(all, plan_disk_rebalance(inv, topo, n, params));
        }
        return all;
      }};
  return run_writing_job(ctx, job);
}

RebalanceResult move_replicas(Context& ctx, const MoveReplicasOptions& opts)
{
  const Topology& topo = ctx.topo();
  const bool node_drain = !opts.from_node.empty();
  const bool volume_drain = !opts.node.empty() || !opts.from_volume.empty();
  if (!opts.plan.plan_in.empty()) {
    // A saved plan says what moves; its moves are re-validated like any plan's.
    if (node_drain || volume_drain) {
      throw UsageError("--plan runs a saved plan: leave out --from-node, --node and --from-volume");
    }
    WritingJob job{"move-replicas", opts.write, &opts.plan, false, false, {}, {}};
    return run_writing_job(ctx, job);
  }
  if (node_drain == volume_drain) {
    throw UsageError("move-replicas needs --from-node NAME, or --node NAME --from-volume PATH",
                     "add --chunk KEY or filters to move only some chunks");
  }
  if (!opts.to_node.empty() && !node_drain) {
    throw UsageError("--to-node goes with --from-node");
  }
  if (volume_drain && (opts.node.empty() || opts.from_volume.empty())) {
    throw UsageError("--from-volume and --node go together");
  }
  if (!opts.to_volume.empty() && opts.from_volume.empty()) {
    throw UsageError("--to-volume goes with --from-volume");
  }
  ChunkPredicate pick = predicate_of(opts.filter, topo);
  auto params = params_of(&opts.plan, opts.write, {});
  Planner planner;
  if (node_drain) {
    std::optional<std::string> to;
    if (!opts.to_node.empty()) {
      to = opts.to_node;
    }
    planner = [&, to, pick](const Inventory& inv) {
      return plan_drain_node(inv, topo, opts.from_node, to, params, pick);
    };
  } else {
    std::optional<std::string> to;
    if (!opts.to_volume.empty()) {
      to = opts.to_volume;
    }
    planner = [&, to, pick](const Inventory& inv) {
      Plan p = plan_drain_volume(inv, topo, opts.node, opts.from_volume, to, params);
      if (pick) {
        // Filters narrow a volume drain to the chunks they choose.
        std::erase_if(p.moves, [&](const Move& m) {
          const Chunk* c = inv.chunk(m.chunk);
          return !c || !pick(*c);
        });
      }
      return p;
    };
  }
  WritingJob job{"move-replicas",
          opts.write,
          &opts.plan,
          false,
          false,
          volume_drain ? std::vector<std::string>{opts.node} : std::vector<std::string>{},
          planner};
  return run_writing_job(ctx, job);
}

RebalanceResult repair(Context& ctx, const RepairOptions& opts)
{
  const Topology& topo = ctx.topo();
  ChunkPredicate pick = predicate_of(opts.filter, topo);
  auto params = params_of(&opts.plan, opts.write, {});
  WritingJob job{"repair", opts.write, &opts.plan, true, opts.fix_duplicates, {}, [&](const Inventory& inv) {
            return plan_repair(inv, topo, params, opts.fix_duplicates, pick);
          }};
  return run_writing_job(ctx, job);
}

} // namespace clsync::core
