// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/status.hpp"

#include "core/cluster/filter.hpp"
#include "core/plan/replica_planner.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace clsync::core {
namespace {

double deviation_pct(double value, double target)
{
  return target > 0 ? (value - target) / target * 100.0 : 0.0;
}

Spread spread_of(const std::vector<NodeBalance>& nodes, bool bytes)
{
  Spread s;
  if (nodes.empty()) {
    return s;
  }
  auto value = [bytes](const NodeBalance& n) {
    return static_cast<double>(bytes ? n.bytes : n.chunks);
  };
  s.min = s.max = value(nodes[0]);
  double sum = 0;
  for (const auto& n : nodes) {
    double v = value(n);
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
    sum += v;
    double dev = std::fabs(bytes ? n.bytes_deviation_pct : n.chunks_deviation_pct);
    s.max_deviation_pct = std::max(s.max_deviation_pct, dev);
  }
  s.mean = sum / static_cast<double>(nodes.size());
  return s;
}

} // namespace

Balance compute_balance(const Topology& topo, const Inventory& inv)
{
  // The same shares the planners balance towards, so status and rebalance never disagree.
  const NodeShares shares = node_shares(inv, topo);
  Balance b;
  b.shares = shares.basis;
  std::uint64_t total_chunks = 0, total_bytes = 0;
  for (const auto& n : inv.nodes) {
    if (n.reachable) {
      total_chunks += n.chunks;
      total_bytes += n.bytes;
    }
  }
  for (const auto& n : inv.nodes) {
    if (!n.reachable) {
      continue;
    }
    NodeBalance nb;
    nb.node = n.name;
    nb.share = shares.share.at(n.name);
    nb.chunks = n.chunks;
    nb.bytes = n.bytes;
    nb.target_chunks = nb.share * static_cast<double>(total_chunks);
    nb.target_bytes = nb.share * static_cast<double>(total_bytes);
    nb.chunks_deviation_pct = deviation_pct(static_cast<double>(nb.chunks), nb.target_chunks);
    nb.bytes_deviation_pct = deviation_pct(static_cast<double>(nb.bytes), nb.target_bytes);
    b.nodes.push_back(nb);
  }
  b.bytes = spread_of(b.nodes, true);
  b.chunks = spread_of(b.nodes, false);
  return b;
}

std::vector<StatusGroup> group_chunks(const Inventory& inv, const std::string& by)
{
  if (by != "db" && by != "table" && by != "volume") {
    throw UsageError("--by " + by + ": expected db, table or volume");
  }
  std::map<std::string, StatusGroup> groups;
  std::vector<std::string> volume_order;  // by volume: topology order, not name order
  if (by == "volume") {
    for (const auto& n : inv.nodes) {
      for (const auto& v : n.volumes) {
        std::string name = n.name + ":" + v.path;
        StatusGroup& g = groups[name];
        g.name = name;
        g.node = n.name;
        g.volume = v.path;
        volume_order.push_back(name);
      }
    }
  }
  for (const auto& c : inv.chunks) {
    std::set<std::string> counted;  // a chunk counts once per group
    for (const auto& r : c.replicas) {
      if (r.duplicate) {
        continue;
      }
      std::string name = by == "db"      ? c.db.str()
                         : by == "table" ? c.db + "/" + c.table
                                         : r.node + ":" + r.volume;
      StatusGroup& g = groups[name];
      if (g.name.empty()) {
        g.name = name;
        g.db = c.db;
        g.table = by == "table" ? c.table : "";
        g.node = by == "volume" ? r.node : "";
        g.volume = by == "volume" ? r.volume : "";
        if (by == "volume") {
          volume_order.push_back(name);
        } else {
          for (const auto& n : inv.nodes) {
            g.per_node[n.name];  // every node has a row, zero when it holds none of the group
          }
        }
      }
      if (counted.insert(name).second) {
        ++g.chunks;
      }
      ++g.replicas;
      g.bytes += r.bytes;
      if (by != "volume") {
        GroupLoad& load = g.per_node[r.node];
        ++load.replicas;
        load.bytes += r.bytes;
      }
    }
  }
  std::vector<StatusGroup> out;
  if (by == "volume") {
    for (const auto& name : volume_order) {
      out.push_back(std::move(groups[name]));
    }
  } else {
    for (auto& [name, g] : groups) {
      out.push_back(std::move(g));
    }
  }
  return out;
}

StatusResult status(Context& ctx, const StatusOptions& opts)
{
  const Topology& topo = ctx.topo();
  // Compile the filters and check --by before touching any node: usage errors come first.
  ChunkFilter filter(opts.filter, topo);
  if (!opts.by.empty() && opts.by != "db" && opts.by != "table" && opts.by != "volume") {
    throw UsageError("--by " + opts.by + ": expected db, table or volume");
  }
  InventoryOptions inv_opts;
  inv_opts.verify = opts.verify;
  inv_opts.exclude_nodes = opts.exclude_nodes;
  NullEvents quiet;
  Events& events = ctx.events ? *ctx.events : quiet;

  StatusResult result;
  result.cluster = topo.cluster;
  result.replication = topo.replication;
  result.inventory = take_inventory(topo, *ctx.nodes, inv_opts, events);
  if (ctx.stopping()) {
    throw Interrupted();
  }
  Inventory& inv = result.inventory;
  result.filtered = !filter.selects_all();
  if (result.filtered) {
    std::erase_if(inv.chunks, [&](const Chunk& c) { return !filter.matches(c); });
    recount(inv);
  }
  if (!opts.by.empty()) {
    result.groups = group_chunks(inv, opts.by);
  }
  result.balance = compute_balance(topo, inv);
  for (std::size_t i = 0; i < inv.chunks.size(); ++i) {
    if (inv.chunks[i].health != ChunkHealth::healthy) {
      result.unhealthy.push_back(i);
    }
  }
  const bool unreachable = std::any_of(inv.nodes.begin(), inv.nodes.end(), [](const NodeState& n) {
    return !n.reachable && !n.excluded;
  });
  // A volume that is missing or cannot be read hides its replicas as surely as a node that
  // does not answer: the report is partial.
  const bool unreadable_volume =
      std::any_of(inv.nodes.begin(), inv.nodes.end(), [](const NodeState& n) {
        return n.reachable && std::any_of(n.volumes.begin(), n.volumes.end(),
                                          [](const VolumeState& v) { return !v.ok; });
      });
  if (opts.check && !result.unhealthy.empty()) {
    result.exit_code = ExitCode::unhealthy;
  } else if (unreachable || unreadable_volume) {
    result.exit_code = ExitCode::partial;
  }
  return result;
}

} // namespace clsync::core
