// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/plan/plan_internal.hpp"

#include <algorithm>
#include <ctime>
#include <limits>
#include <set>
#include <unordered_map>

namespace clsync::core {

const char* to_string(BalanceBy by) noexcept
{
  return by == BalanceBy::count ? "count" : "bytes";
}

BalanceBy parse_balance_by(std::string_view text)
{
  if (text == "bytes") {
    return BalanceBy::bytes;
  }
  if (text == "count") {
    return BalanceBy::count;
  }
  throw UsageError("--by " + std::string(text) + ": expected bytes or count");
}

const char* to_string(MoveKind kind) noexcept
{
  switch (kind) {
  case MoveKind::move:
    return "move";
  case MoveKind::copy:
    return "copy";
  case MoveKind::drop_duplicate:
    return "drop_duplicate";
  case MoveKind::write:
    return "write";
  case MoveKind::remove:
    return "remove";
  }
  return "move";
}

std::vector<std::string> Move::nodes() const
{
  if (kind == MoveKind::write) {
    std::vector<std::string> out;
    for (const auto& t : targets) {
      if (std::find(out.begin(), out.end(), t.place.node) == out.end()) {
        out.push_back(t.place.node);
      }
    }
    return out;
  }
  if (from.node == to.node) {
    return {from.node};
  }
  return {from.node, to.node};
}

MoveKind parse_move_kind(std::string_view text)
{
  if (text == "move") {
    return MoveKind::move;
  }
  if (text == "copy") {
    return MoveKind::copy;
  }
  if (text == "drop_duplicate") {
    return MoveKind::drop_duplicate;
  }
  throw UsageError("move kind '" + std::string(text) + "': expected move, copy or drop_duplicate");
}

} // namespace clsync::core

namespace clsync::core::detail {

int counted_replicas(const Chunk& c)
{
  std::set<std::string_view> nodes;
  for (const auto& r : c.replicas) {
    if (!r.duplicate) {
      nodes.insert(r.node);
    }
  }
  return static_cast<int>(nodes.size());
}

bool holds(const Chunk& c, std::string_view node)
{
  return replica_on(c, node) != nullptr;
}

const Replica* replica_on(const Chunk& c, std::string_view node)
{
  for (const auto& r : c.replicas) {
    if (!r.duplicate && r.node == node) {
      return &r;
    }
  }
  return nullptr;
}

int wanted_replication(const Chunk& c, const Topology& topo)
{
  if (c.replication > 0) {
    return c.replication;
  }
  // Looked up by hand: the planner needs only the topology's values, not its loader.
  for (const auto& db : topo.databases) {
    if (db.name == c.db && db.replication) {
      return *db.replication;
    }
  }
  return topo.replication;
}

bool has_special(const Chunk& c)
{
  return std::any_of(c.replicas.begin(), c.replicas.end(),
                     [](const Replica& r) { return r.has_special; });
}

bool has_duplicate(const Chunk& c)
{
  return c.health == ChunkHealth::duplicate_on_node ||
         std::any_of(c.replicas.begin(), c.replicas.end(),
                     [](const Replica& r) { return r.duplicate; });
}

bool is_young(const Chunk& c, const PlanParams& params)
{
  if (params.min_age.count() <= 0) {
    return false;
  }
  std::int64_t newest = 0;
  for (const auto& r : c.replicas) {
    newest = std::max(newest, r.newest_mtime_ns);
  }
  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          params.now.time_since_epoch())
                          .count();
  return now_ns - newest < params.min_age.count();
}

std::string rfc3339(std::chrono::system_clock::time_point t)
{
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

NodeIndex::NodeIndex(const Inventory& inv,
                     const Topology& topo,
                     const std::vector<std::string>& exclude)
    : m_inv(inv)
{
  const auto n = inv.nodes.size();
  m_usable.assign(n, false);
  m_excluded.assign(n, false);
  m_zone.assign(n, 0);
  m_weights.assign(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    m_by_name.emplace(inv.nodes[i].name, static_cast<int>(i));
  }
  for (const auto& name : exclude) {
    m_excluded[static_cast<std::size_t>(require(name, "--exclude-node"))] = true;
  }
  std::map<std::string, int> zone_ids;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& node = inv.nodes[i];
    const bool readable = std::any_of(node.volumes.begin(), node.volumes.end(),
                                      [](const VolumeState& v) { return v.ok; });
    m_usable[i] = node.reachable && !m_excluded[i] && readable;
    const NodeSpec* spec = topo.find_node(node.name);
    const std::string zone = spec != nullptr ? spec->zone : std::string();
    m_zoned = m_zoned || !zone.empty();
    // A node without a zone is a failure domain of its own.
    const std::string key = zone.empty() ? "\n" + node.name : zone;
    auto [it, fresh] = zone_ids.emplace(key, static_cast<int>(zone_ids.size()));
    m_zone[i] = it->second;
  }
  m_zone_count = static_cast<int>(zone_ids.size());

  bool any_weight = false;
  for (std::size_t i = 0; i < n; ++i) {
    const NodeSpec* spec = topo.find_node(inv.nodes[i].name);
    any_weight = any_weight || (m_usable[i] && spec != nullptr && spec->weight);
  }
  std::vector<double> raw(n, 0.0);
  bool all_capacity = true;
  for (std::size_t i = 0; i < n; ++i) {
    if (!m_usable[i]) {
      continue;
    }
    const NodeSpec* spec = topo.find_node(inv.nodes[i].name);
    if (any_weight) {
      raw[i] = spec != nullptr && spec->weight ? std::max(0.0, *spec->weight) : 1.0;
      continue;
    }
    // Capacity belongs to filesystems: count each once per node.
    std::set<std::uint64_t> seen;
    double cap = 0;
    for (std::size_t v = 0; v < inv.nodes[i].volumes.size(); ++v) {
      const auto& vol = inv.nodes[i].volumes[v];
      const std::uint64_t fs = vol.filesystem_id != 0 ? vol.filesystem_id : ~std::uint64_t(v);
      if (vol.ok && seen.insert(fs).second) {
        cap += static_cast<double>(vol.capacity_bytes);
      }
    }
    if (cap <= 0) {
      cap = static_cast<double>(inv.nodes[i].capacity_bytes);
    }
    raw[i] = cap;
    all_capacity = all_capacity && cap > 0;
  }
  m_basis = any_weight ? "weights" : all_capacity ? "capacity" : "equal";
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (m_usable[i] && !any_weight && !all_capacity) {
      raw[i] = 1.0;
    }
    sum += raw[i];
  }
  if (sum <= 0) {
    // Every usable node has weight 0: fall back to equal shares rather than divide by zero.
    m_basis = "equal";
    for (std::size_t i = 0; i < n; ++i) {
      raw[i] = m_usable[i] ? 1.0 : 0.0;
      sum += raw[i];
    }
  }
  for (std::size_t i = 0; i < n && sum > 0; ++i) {
    m_weights[i] = raw[i] / sum;
  }
}

int NodeIndex::find(std::string_view name) const
{
  const auto it = m_by_name.find(name);
  return it == m_by_name.end() ? -1 : it->second;
}

int NodeIndex::require(std::string_view name, std::string_view what) const
{
  const int i = find(name);
  if (i < 0) {
    throw UsageError(std::string(what) + " " + std::string(name) + ": no such node",
                     "the nodes are listed by `clsync status`");
  }
  return i;
}

int distinct_zones(const NodeIndex& idx, const std::vector<int>& nodes, int from, int to)
{
  std::vector<int> zones;
  bool replaced = false;
  for (int n : nodes) {
    if (n == from && !replaced) {
      replaced = true;
      continue;
    }
    zones.push_back(idx.zone(n));
  }
  if (to >= 0) {
    zones.push_back(idx.zone(to));
  }
  std::sort(zones.begin(), zones.end());
  return static_cast<int>(std::unique(zones.begin(), zones.end()) - zones.begin());
}

bool zones_allow(const NodeIndex& idx, const std::vector<int>& nodes, int from, int to)
{
  if (!idx.zoned()) {
    return true;
  }
  return distinct_zones(idx, nodes, from, to) >= distinct_zones(idx, nodes, -1, -1);
}

bool zones_gain(const NodeIndex& idx, const std::vector<int>& nodes, int from, int to)
{
  return idx.zoned() && distinct_zones(idx, nodes, from, to) > distinct_zones(idx, nodes, -1, -1);
}

VolumePicker::VolumePicker(const Inventory& inv) : m_inv(inv), m_planned(inv.nodes.size()) {}

std::uint64_t VolumePicker::fs_key(const VolumeState& v, std::size_t index) const
{
  return v.filesystem_id != 0 ? v.filesystem_id : ~std::uint64_t(index);
}

const VolumeState* VolumePicker::pick(int node,
                                      const std::function<bool(const std::string&)>& avoid) const
{
  const auto& state = m_inv.nodes[static_cast<std::size_t>(node)];
  const auto& planned = m_planned[static_cast<std::size_t>(node)];
  const VolumeState* best = nullptr;
  std::int64_t best_free = 0;
  for (std::size_t v = 0; v < state.volumes.size(); ++v) {
    const auto& vol = state.volumes[v];
    if (!vol.ok || (avoid && avoid(vol.path))) {
      continue;
    }
    const auto it = planned.find(fs_key(vol, v));
    const std::uint64_t taken = it == planned.end() ? 0 : it->second;
    const auto free = static_cast<std::int64_t>(vol.free_bytes) - static_cast<std::int64_t>(taken);
    if (best == nullptr || free > best_free) {
      best = &vol;
      best_free = free;
    }
  }
  return best;
}

void VolumePicker::take(int node, const std::string& volume, std::uint64_t bytes)
{
  const auto& state = m_inv.nodes[static_cast<std::size_t>(node)];
  for (std::size_t v = 0; v < state.volumes.size(); ++v) {
    if (state.volumes[v].path == volume) {
      m_planned[static_cast<std::size_t>(node)][fs_key(state.volumes[v], v)] += bytes;
      return;
    }
  }
}

LoadTracker::LoadTracker(const Inventory& inv, const NodeIndex& idx, BalanceBy by)
    : m_idx(idx), m_by(by), m_load(static_cast<std::size_t>(idx.size()), 0.0)
{
  for (const auto& c : inv.chunks) {
    for (const auto& r : c.replicas) {
      if (const int i = idx.find(r.node); i >= 0 && !r.duplicate) {
        m_load[static_cast<std::size_t>(i)] +=
            by == BalanceBy::count ? 1.0 : static_cast<double>(r.bytes);
      }
    }
  }
}

double LoadTracker::relative(int i) const
{
  const double w = m_idx.weights()[static_cast<std::size_t>(i)];
  return w > 0 ? load(i) / w : std::numeric_limits<double>::infinity();
}

void LoadTracker::move(int from, int to, std::uint64_t bytes)
{
  const double unit = m_by == BalanceBy::count ? 1.0 : static_cast<double>(bytes);
  if (from >= 0) {
    m_load[static_cast<std::size_t>(from)] -= unit;
  }
  m_load[static_cast<std::size_t>(to)] += unit;
}

bool LoadTracker::less(int a, int b) const
{
  const double ra = relative(a), rb = relative(b);
  if (ra != rb) {
    return ra < rb;
  }
  if (load(a) != load(b)) {
    return load(a) < load(b);
  }
  return a < b;
}

std::map<std::string, NodeLoad> node_loads(const Inventory& inv)
{
  std::map<std::string, NodeLoad> loads;
  // A hash index in front of the map: this runs over every replica of the inventory.
  std::unordered_map<std::string_view, NodeLoad*> fast;
  for (const auto& n : inv.nodes) {
    fast.emplace(n.name, &loads[n.name]);
  }
  for (const auto& c : inv.chunks) {
    for (const auto& r : c.replicas) {
      if (r.duplicate) {
        continue;
      }
      auto it = fast.find(r.node);
      if (it == fast.end()) {
        it = fast.emplace(r.node, &loads[r.node]).first;
      }
      ++it->second->chunks;
      it->second->bytes += r.bytes;
    }
  }
  return loads;
}

std::map<std::string, NodeLoad> volume_loads(const Inventory& inv, const NodeState& node)
{
  std::map<std::string, NodeLoad> loads;
  for (const auto& v : node.volumes) {
    loads[node.name + ":" + v.path];
  }
  for (const auto& c : inv.chunks) {
    for (const auto& r : c.replicas) {
      if (r.node == node.name) {
        auto& l = loads[node.name + ":" + r.volume];
        ++l.chunks;
        l.bytes += r.bytes;
      }
    }
  }
  return loads;
}

void apply_moves(std::map<std::string, NodeLoad>& loads,
                 const std::vector<Move>& moves,
                 bool by_volume)
{
  const auto key = [by_volume](const Place& p) {
    return by_volume ? p.node + ":" + p.volume : p.node;
  };
  for (const auto& m : moves) {
    // At node level a duplicate copy was never counted, so dropping it changes nothing.
    if (m.kind == MoveKind::drop_duplicate && !by_volume) {
      continue;
    }
    if (m.kind != MoveKind::copy) {
      auto& from = loads[key(m.from)];
      from.chunks -= std::min<std::uint64_t>(from.chunks, 1);
      from.bytes -= std::min(from.bytes, m.bytes);
    }
    if (m.kind != MoveKind::drop_duplicate) {
      auto& to = loads[key(m.to)];
      ++to.chunks;
      to.bytes += m.bytes;
    }
  }
}

Plan new_plan(const char* command, const Topology& topo, const PlanParams& params)
{
  Plan plan;
  plan.command = command;
  plan.cluster = topo.cluster;
  plan.created = rfc3339(params.now);
  plan.by = to_string(params.by);
  return plan;
}

double resolve_threshold(const PlanParams& params, double total, std::uint64_t replicas)
{
  if (params.threshold) {
    if (!(*params.threshold > 0)) {
      throw UsageError("--threshold " + std::to_string(*params.threshold) +
                       ": must be greater than 0");
    }
    return *params.threshold;
  }
  if (params.by == BalanceBy::count || replicas == 0) {
    return 1.0;
  }
  return std::max(1.0, total / static_cast<double>(replicas));
}

Move make_move(MoveKind kind,
               const Chunk& c,
               const Replica& src,
               const std::string& to_node,
               const std::string& to_volume)
{
  Move m;
  m.kind = kind;
  m.chunk = c.key;
  m.from = {src.node, src.volume};
  m.to = {to_node, to_volume};
  m.bytes = src.bytes;
  m.fingerprint = src.fingerprint;
  return m;
}

} // namespace clsync::core::detail

namespace clsync::core {

NodeShares node_shares(const Inventory& inv, const Topology& topo)
{
  const detail::NodeIndex idx(inv, topo, {});
  NodeShares shares;
  shares.basis = idx.basis();
  for (int i = 0; i < idx.size(); ++i) {
    shares.share[idx.name(i)] = idx.weights()[static_cast<std::size_t>(i)];
  }
  return shares;
}

std::map<std::string, NodeLoad> loads_after(const Plan& plan, const std::vector<Move>& done)
{
  // Node names hold no ':', so "node:volume" keys say the loads are per volume.
  const bool by_volume = std::any_of(plan.before.begin(), plan.before.end(), [](const auto& kv) {
    return kv.first.find(':') != std::string::npos;
  });
  auto loads = plan.before;
  detail::apply_moves(loads, done, by_volume);
  return loads;
}

} // namespace clsync::core
