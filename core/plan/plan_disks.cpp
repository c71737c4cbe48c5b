// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/plan/plan_balance.hpp"
#include "core/plan/plan_internal.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>

namespace clsync::core {

namespace {

/// Share weights of a node's volumes: the filesystem's capacity split over the node's readable
/// volumes on it; equal when any capacity is unknown.
std::vector<double> volume_weights(const NodeState& node)
{
  const auto fs_of = [&](std::size_t v) {
    const auto& vol = node.volumes[v];
    return vol.filesystem_id != 0 ? vol.filesystem_id : ~std::uint64_t(v);
  };
  std::map<std::uint64_t, int> per_fs;
  bool known = true;
  for (std::size_t v = 0; v < node.volumes.size(); ++v) {
    if (node.volumes[v].ok) {
      ++per_fs[fs_of(v)];
      known = known && node.volumes[v].capacity_bytes > 0;
    }
  }
  std::vector<double> w(node.volumes.size(), 0.0);
  double sum = 0;
  for (std::size_t v = 0; v < node.volumes.size(); ++v) {
    if (node.volumes[v].ok) {
      w[v] = known ? static_cast<double>(node.volumes[v].capacity_bytes) / per_fs[fs_of(v)] : 1.0;
      sum += w[v];
    }
  }
  for (auto& x : w) {
    x = sum > 0 ? x / sum : 0;
  }
  return w;
}

} // namespace

Plan plan_disk_rebalance(const Inventory& inv,
                         const Topology& topo,
                         const std::string& node,
                         const PlanParams& params)
{
  using namespace detail;
  const NodeIndex idx(inv, topo, params.exclude_nodes);
  const int ni = idx.require(node, "--node");
  if (idx.excluded(ni)) {
    throw UsageError("--node " + node + ": the node is also excluded with --exclude-node");
  }
  const NodeState& state = idx.state(ni);
  if (!state.reachable) {
    throw Error(ExitCode::failed, "node " + node + " is unreachable: " + state.error,
                "check the node, or leave it out");
  }
  Plan plan = new_plan("rebalance-disks", topo, params);
  plan.before = volume_loads(inv, state);

  const std::size_t nv = state.volumes.size();
  std::unordered_map<std::string_view, int> by_path;
  for (std::size_t v = 0; v < nv; ++v) {
    by_path.emplace(state.volumes[v].path, static_cast<int>(v));
  }
  BalanceProblem p;
  p.load.assign(nv, 0.0);
  p.share.assign(nv, 0.0);
  p.items.resize(nv);
  p.active.assign(nv, false);
  for (std::size_t v = 0; v < nv; ++v) {
    p.active[v] = state.volumes[v].ok;
  }
  const bool by_count = params.by == BalanceBy::count;
  std::vector<std::uint32_t> item_chunk, item_replica;
  std::vector<std::uint32_t> item_range;  // per item: its chunk's entry in `ranges`
  std::vector<int> slots;                 // volumes holding each chunk, chunk after chunk
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;  // per chunk: slot range
  double total = 0;
  std::uint64_t copies = 0;

  for (std::size_t ci = 0; ci < inv.chunks.size(); ++ci) {
    const Chunk& c = inv.chunks[ci];
    const auto first = static_cast<std::uint32_t>(slots.size());
    std::vector<std::size_t> mine;
    for (std::size_t ri = 0; ri < c.replicas.size(); ++ri) {
      const auto& r = c.replicas[ri];
      if (r.node != node) {
        continue;
      }
      const auto it = by_path.find(r.volume);
      if (it == by_path.end() || !p.active[static_cast<std::size_t>(it->second)]) {
        continue;
      }
      slots.push_back(it->second);
      mine.push_back(ri);
      const double unit = by_count ? 1.0 : static_cast<double>(r.bytes);
      p.load[static_cast<std::size_t>(it->second)] += unit;
      total += unit;
      ++copies;
    }
    if (mine.empty() || (params.movable && !params.movable(c))) {
      continue;
    }
    std::string why;
    if (mine.size() > 1 || has_duplicate(c)) {
      why = "duplicate copies on " + node + ": not moved (repair --fix-duplicates)";
    } else if (has_special(c)) {
      why = "holds symlinks, devices, FIFOs or sockets: never moved";
    } else if (is_young(c, params)) {
      why = "modified within --min-age: left in place";
    }
    if (!why.empty()) {
      plan.notes.push_back({c.key, std::move(why)});
      continue;
    }
    const auto range_index = static_cast<std::uint32_t>(ranges.size());
    ranges.emplace_back(first, static_cast<std::uint32_t>(slots.size()));
    for (auto ri : mine) {
      const auto& r = c.replicas[ri];
      const int v = by_path.at(r.volume);
      p.items[static_cast<std::size_t>(v)].push_back(
          {by_count ? 1 : r.bytes, static_cast<std::uint32_t>(item_chunk.size())});
      item_chunk.push_back(static_cast<std::uint32_t>(ci));
      item_replica.push_back(static_cast<std::uint32_t>(ri));
      item_range.push_back(range_index);
    }
  }

  const auto weights = volume_weights(state);
  for (std::size_t v = 0; v < nv; ++v) {
    p.share[v] = weights[v] * total;
  }
  p.threshold = resolve_threshold(params, total, copies);

  std::unordered_map<std::uint32_t, std::vector<int>> vacated;
  const auto legal = [&](std::uint32_t id, int, int to) {
    const auto [b, e] = ranges[item_range[id]];
    if (std::find(slots.begin() + b, slots.begin() + e, to) != slots.begin() + e) {
      return false;
    }
    const auto v = vacated.find(item_range[id]);
    return v == vacated.end() ||
           std::find(v->second.begin(), v->second.end(), to) == v->second.end();
  };
  const auto apply = [&](std::uint32_t id, int from, int to) {
    const auto [b, e] = ranges[item_range[id]];
    *std::find(slots.begin() + b, slots.begin() + e, from) = to;
    vacated[item_range[id]].push_back(from);
  };
  for (const auto& step : balance(p, legal, apply)) {
    const Chunk& c = inv.chunks[item_chunk[step.id]];
    const Replica& r = c.replicas[item_replica[step.id]];
    plan.moves.push_back(make_move(MoveKind::move, c, r, node,
                                   state.volumes[static_cast<std::size_t>(step.to)].path));
  }
  plan.after = plan.before;
  apply_moves(plan.after, plan.moves, true);

  for (std::size_t v = 0; v < nv; ++v) {
    const double dev = p.load[v] - p.share[v];
    if (p.active[v] && std::abs(dev) >= p.threshold) {
      plan.notes.push_back({"", node + ":" + state.volumes[v].path + ": stays " +
                                    format_amount(std::abs(dev), params.by) +
                                    (dev > 0 ? " over" : " under") + " its share of " +
                                    format_amount(p.share[v], params.by) +
                                    ": no legal move left"});
    }
  }
  return plan;
}

} // namespace clsync::core
