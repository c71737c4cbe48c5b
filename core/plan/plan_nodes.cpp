// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/plan/plan_balance.hpp"
#include "core/plan/plan_internal.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

namespace clsync::core {

namespace detail {

std::string format_amount(double v, BalanceBy by)
{
  char buf[64];
  if (by == BalanceBy::count) {
    std::snprintf(buf, sizeof buf, "%.2f replicas", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f bytes", v);
  }
  return buf;
}

std::string left_out_reason(const NodeIndex& idx, int i)
{
  const auto& n = idx.state(i);
  if (idx.excluded(i) || n.excluded) {
    return n.name + ": excluded, takes no part";
  }
  if (!n.reachable) {
    return n.name + ": unreachable (" + n.error + "), takes no part";
  }
  return n.name + ": no readable volume, takes no part";
}

/// Why a chunk may not be rebalanced, or empty when it may.
std::string rebalance_refusal(const Chunk& c, const PlanParams& params)
{
  // A chunk whose only issue is its zones may move (it runs only under --allow-degraded): a
  // move of it must spread it (plan_node_rebalance's legality).
  const bool only_zones = c.issues.size() == 1 && c.issues[0] == ChunkHealth::zone_unsafe;
  if (c.health != ChunkHealth::healthy && !only_zones) {
    return std::string(to_string(c.health)) + ": not moved (repair it first)";
  }
  if (has_special(c)) {
    return "holds symlinks, devices, FIFOs or sockets: never moved";
  }
  if (is_young(c, params)) {
    return "modified within --min-age: left in place";
  }
  return {};
}

} // namespace detail

Plan plan_node_rebalance(const Inventory& inv, const Topology& topo, const PlanParams& params)
{
  using namespace detail;
  const NodeIndex idx(inv, topo, params.exclude_nodes);
  Plan plan = new_plan("rebalance-nodes", topo, params);
  plan.before = node_loads(inv);
  const int n = idx.size();
  for (int i = 0; i < n; ++i) {
    if (!idx.usable(i)) {
      plan.notes.push_back({"", left_out_reason(idx, i)});
    }
  }
  std::unordered_map<std::string_view, int> by_name;
  for (int i = 0; i < n; ++i) {
    by_name.emplace(idx.name(i), i);
  }

  // Flat per-chunk node lists (counted replicas, every node) for the anti-affinity checks.
  const std::size_t chunk_count = inv.chunks.size();
  std::vector<std::uint32_t> offset(chunk_count + 1, 0);
  std::vector<int> slots;
  std::vector<std::uint32_t> item_chunk;
  std::vector<std::uint32_t> item_replica;
  BalanceProblem p;
  p.load.assign(static_cast<std::size_t>(n), 0.0);
  p.share.assign(static_cast<std::size_t>(n), 0.0);
  p.items.resize(static_cast<std::size_t>(n));
  p.active.assign(static_cast<std::size_t>(n), false);
  for (int i = 0; i < n; ++i) {
    p.active[static_cast<std::size_t>(i)] = idx.usable(i);
  }
  const bool by_count = params.by == BalanceBy::count;
  std::uint64_t replicas = 0;
  double total = 0;
  // Chunks whose replicas may move: zone-unsafe ones first, so that among equal sizes the
  // greedy spreads them before it moves a chunk that is already safe.
  std::vector<std::size_t> unsafe_movable, safe_movable;
  std::vector<bool> unsafe(chunk_count, false);

  for (std::size_t ci = 0; ci < chunk_count; ++ci) {
    const Chunk& c = inv.chunks[ci];
    offset[ci] = static_cast<std::uint32_t>(slots.size());
    bool eligible = !params.movable || params.movable(c);
    bool on_usable = false;
    for (const auto& r : c.replicas) {
      const auto it = by_name.find(r.node);
      if (r.duplicate || it == by_name.end()) {
        continue;
      }
      slots.push_back(it->second);
      if (idx.usable(it->second)) {
        on_usable = true;
        const double unit = by_count ? 1.0 : static_cast<double>(r.bytes);
        p.load[static_cast<std::size_t>(it->second)] += unit;
        total += unit;
        ++replicas;
      }
    }
    if (!eligible || !on_usable) {
      continue;
    }
    if (auto why = rebalance_refusal(c, params); !why.empty()) {
      plan.notes.push_back({c.key, std::move(why)});
      continue;
    }
    unsafe[ci] = c.health == ChunkHealth::zone_unsafe;
    (unsafe[ci] ? unsafe_movable : safe_movable).push_back(ci);
  }
  offset[chunk_count] = static_cast<std::uint32_t>(slots.size());
  const auto add_items = [&](std::size_t ci) {
    const Chunk& c = inv.chunks[ci];
    for (std::size_t ri = 0; ri < c.replicas.size(); ++ri) {
      const auto& r = c.replicas[ri];
      const auto it = by_name.find(r.node);
      if (r.duplicate || it == by_name.end() || !idx.usable(it->second)) {
        continue;
      }
      const std::uint64_t size = by_count ? 1 : r.bytes;
      p.items[static_cast<std::size_t>(it->second)].push_back(
          {size, static_cast<std::uint32_t>(item_chunk.size())});
      item_chunk.push_back(static_cast<std::uint32_t>(ci));
      item_replica.push_back(static_cast<std::uint32_t>(ri));
    }
  };
  for (const std::size_t ci : unsafe_movable) {
    add_items(ci);
  }
  for (const std::size_t ci : safe_movable) {
    add_items(ci);
  }

  for (int i = 0; i < n; ++i) {
    p.share[static_cast<std::size_t>(i)] = idx.weights()[static_cast<std::size_t>(i)] * total;
  }
  p.threshold = resolve_threshold(params, total, replicas);

  // Nodes that gave a replica of a chunk away in this plan: such a node may not take one back,
  // or the executor could find the old copy still in place.
  std::unordered_map<std::uint32_t, std::vector<int>> vacated;
  std::vector<int> nodes_of;
  const auto legal = [&](std::uint32_t id, int from, int to) {
    const std::uint32_t ci = item_chunk[id];
    const int* begin = slots.data() + offset[ci];
    const int* end = slots.data() + offset[ci + 1];
    if (std::find(begin, end, to) != end) {
      return false;
    }
    if (const auto v = vacated.find(ci); v != vacated.end()) {
      if (std::find(v->second.begin(), v->second.end(), to) != v->second.end()) {
        return false;
      }
    }
    if (!idx.zoned()) {
      return true;
    }
    nodes_of.assign(begin, end);
    // A zone-unsafe chunk moves only to spread; the others never lose a zone.
    return unsafe[ci] ? zones_gain(idx, nodes_of, from, to) : zones_allow(idx, nodes_of, from, to);
  };
  const auto apply = [&](std::uint32_t id, int from, int to) {
    const std::uint32_t ci = item_chunk[id];
    int* begin = slots.data() + offset[ci];
    int* end = slots.data() + offset[ci + 1];
    *std::find(begin, end, from) = to;
    vacated[ci].push_back(from);
  };
  const auto steps = balance(p, legal, apply);

  VolumePicker picker(inv);
  plan.moves.reserve(steps.size());
  for (const auto& step : steps) {
    const Chunk& c = inv.chunks[item_chunk[step.id]];
    const Replica& r = c.replicas[item_replica[step.id]];
    const VolumeState* vol = picker.pick(step.to);
    picker.take(step.to, vol->path, r.bytes);
    plan.moves.push_back(make_move(MoveKind::move, c, r, idx.name(step.to), vol->path));
  }
  plan.after = plan.before;
  apply_moves(plan.after, plan.moves, false);

  for (int i = 0; i < n; ++i) {
    const auto b = static_cast<std::size_t>(i);
    const double dev = p.load[b] - p.share[b];
    if (p.active[b] && std::abs(dev) >= p.threshold) {
      plan.notes.push_back(
          {"", idx.name(i) + ": stays " + format_amount(std::abs(dev), params.by) +
                   (dev > 0 ? " over" : " under") + " its share of " +
                   format_amount(p.share[b], params.by) + " (threshold " +
                   format_amount(p.threshold, params.by) + "): no legal move left"});
    }
  }
  return plan;
}

} // namespace clsync::core
