// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/plan/plan_check.hpp"

#include "core/error.hpp"
#include "core/plan/replica_planner.hpp"
#include "core/units.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace clsync::core {
namespace {

const Replica* replica_at(const Chunk& c, const Place& p)
{
  for (const auto& r : c.replicas) {
    if (r.node == p.node && r.volume == p.volume) {
      return &r;
    }
  }
  return nullptr;
}

bool usable(const Inventory& inv, const std::vector<std::string>& excluded, const std::string& n)
{
  const NodeState* s = inv.node(n);
  return s && s->reachable && std::find(excluded.begin(), excluded.end(), n) == excluded.end();
}

/// Whether `m` leaves `c` spanning fewer zones than it does now (a move never may, SPEC §8).
bool reduces_zones(const Chunk& c, const Move& m, const Inventory& inv, const Topology& topo)
{
  const ZoneMap zones = zone_map(topo, inv.nodes);
  if (!zones.zoned) {
    return false;
  }
  std::vector<std::string> before;
  for (const auto& r : c.replicas) {
    if (!r.duplicate) {
      before.push_back(r.node);
    }
  }
  std::vector<std::string> after = before;
  if (m.kind == MoveKind::move) {
    std::erase(after, m.from.node);
  }
  after.push_back(m.to.node);
  return zones.distinct(after) < zones.distinct(before);
}

/// Why `m` can no longer run as planned, or "" when it still can.
std::string stale_reason(const Move& m,
                         const Inventory& inv,
                         const Topology& topo,
                         const std::vector<std::string>& excluded)
{
  const Chunk* c = inv.chunk(m.chunk);
  if (!c) {
    return "the chunk no longer exists";
  }
  for (const auto* p : {&m.from, &m.to}) {
    if (!usable(inv, excluded, p->node)) {
      return "node " + p->node + " is excluded, unreachable or unknown";
    }
    const NodeSpec* spec = topo.find_node(p->node);
    if (!spec ||
        std::find(spec->volumes.begin(), spec->volumes.end(), p->volume) == spec->volumes.end()) {
      return p->volume + " is not a volume of node " + p->node;
    }
  }
  const Replica* src = replica_at(*c, m.from);
  if (!src) {
    return "the source replica on " + m.from.node + ":" + m.from.volume + " is gone";
  }
  if (!m.fingerprint.empty() && src->fingerprint != m.fingerprint) {
    return "the source replica changed since the plan was made";
  }
  if (src->has_special) {
    return "the source holds special files";
  }
  if (m.kind == MoveKind::drop_duplicate) {
    if (m.from.node != m.to.node || !replica_at(*c, m.to)) {
      return "the copy to keep is no longer on " + m.to.node + ":" + m.to.volume;
    }
    return {};
  }
  if (replica_at(*c, m.to)) {
    return "the chunk is already on " + m.to.node + ":" + m.to.volume;
  }
  if (m.from.node != m.to.node && c->on_node(m.to.node)) {
    return "node " + m.to.node + " already holds a replica";
  }
  if (m.from.node != m.to.node && reduces_zones(*c, m, inv, topo)) {
    return "it would reduce the zones the chunk spans";
  }
  return {};
}

} // namespace

void check_reachable(const Inventory& inv)
{
  std::string names, why;
  for (const auto& n : inv.nodes) {
    if (!n.reachable && !n.excluded) {
      names += (names.empty() ? "" : ", ") + n.name;
      if (why.empty()) {
        why = n.error;
      }
    }
  }
  if (!names.empty()) {
    throw Error(ExitCode::failed,
                "cannot reach node " + names + " (" + why + "); nothing was changed",
                "bring it back, or leave it out with --exclude-node NAME");
  }
}

void check_not_degraded(const Inventory& inv, bool allow_degraded)
{
  if (allow_degraded) {
    return;
  }
  std::uint64_t under = 0, divergent = 0, zone_unsafe = 0;
  std::string examples;
  int shown = 0;
  for (const auto& c : inv.chunks) {
    bool bad = false;
    for (auto h : c.issues) {
      if (h == ChunkHealth::under_replicated) {
        ++under;
        bad = true;
      } else if (h == ChunkHealth::divergent) {
        ++divergent;
        bad = true;
      } else if (h == ChunkHealth::zone_unsafe) {
        ++zone_unsafe;
        bad = true;
      }
    }
    if (bad && shown < 3) {
      examples += (shown++ ? ", " : "") + c.key;
    }
  }
  if (under + divergent + zone_unsafe == 0) {
    return;
  }
  std::string counts = std::to_string(under) + " under-replicated";
  if (zone_unsafe > 0) {
    counts += ", " + std::to_string(divergent) + " divergent and " + std::to_string(zone_unsafe) +
              " zone-unsafe";
  } else {
    counts += " and " + std::to_string(divergent) + " divergent";
  }
  throw Error(ExitCode::failed,
              "the cluster is degraded: " + counts + " chunks (e.g. " + examples +
                  "); nothing was changed",
              "run 'clsync repair' first, or pass --allow-degraded");
}

void check_room(const Plan& plan, const Inventory& inv, double headroom)
{
  auto violations = check_capacity(plan, inv, headroom);
  if (violations.empty()) {
    return;
  }
  std::string what;
  for (const auto& v : violations) {
    what += (what.empty() ? "" : "; ") + v.node + ":" + v.volume + " needs " +
            format_size(v.needed) + " free (with headroom), has " + format_size(v.free);
  }
  throw Error(ExitCode::failed,
              "not enough room on the destinations: " + what + "; nothing was changed",
              "free space, add a volume, or lower --headroom");
}

namespace {

std::string move_str(const Plan& plan, std::size_t i)
{
  const Move& m = plan.moves[i];
  return "move " + std::to_string(i + 1) + " (" + to_string(m.kind) + " " + m.from.node + ":" +
         m.from.volume + " -> " + m.to.node + ":" + m.to.volume + ")";
}

/// One chunk's simulated replicas and the last move that touched it.
struct SimChunk {
  std::vector<Place> places;
  std::optional<std::size_t> last;
  int floor = 0;
  bool has(const Place& p) const { return std::find(places.begin(), places.end(), p) != places.end(); }
  bool on_node(const std::string& n) const
  {
    return std::any_of(places.begin(), places.end(), [&](const Place& p) { return p.node == n; });
  }
  int count() const
  {
    std::set<std::string> nodes;
    for (const auto& p : places) {
      nodes.insert(p.node);
    }
    return static_cast<int>(nodes.size());
  }
};

/// Why move `m` cannot run on the simulated state `s`, or "".
std::string sim_problem(const Move& m, const SimChunk& s)
{
  if (!s.has(m.from)) {
    return "its source " + m.from.node + ":" + m.from.volume + " does not hold the chunk then";
  }
  if (m.from == m.to) {
    return "its source and destination are one volume";
  }
  if (m.kind == MoveKind::drop_duplicate) {
    if (m.from.node != m.to.node || !s.has(m.to)) {
      return "the copy it keeps is not on " + m.to.node + ":" + m.to.volume + " then";
    }
    return {};
  }
  if (s.has(m.to)) {
    return "its destination " + m.to.node + ":" + m.to.volume + " already holds the chunk then";
  }
  if (m.from.node != m.to.node && s.on_node(m.to.node)) {
    return "node " + m.to.node + " already holds a replica then";
  }
  return {};
}

} // namespace

void validate_plan(const Plan& plan, const Inventory& inv)
{
  std::map<std::string, SimChunk> sim;
  for (std::size_t i = 0; i < plan.moves.size(); ++i) {
    const Move& m = plan.moves[i];
    auto [it, inserted] = sim.try_emplace(m.chunk);
    SimChunk& s = it->second;
    if (inserted) {
      const Chunk* c = inv.chunk(m.chunk);
      if (!c) {
        throw Error(ExitCode::failed,
                    "the plan is refused: " + move_str(plan, i) + " of chunk " + m.chunk +
                        ": no such chunk in the inventory; nothing was changed",
                    "make the plan again");
      }
      for (const auto& r : c->replicas) {
        s.places.push_back({r.node, r.volume});
      }
      s.floor = std::min(c->replica_count(), c->replication);
    }
    std::string why = sim_problem(m, s);
    if (why.empty()) {
      if (m.kind != MoveKind::drop_duplicate) {
        s.places.push_back(m.to);
      }
      if (m.delete_source()) {
        std::erase(s.places, m.from);
      }
      if (s.count() < s.floor) {
        why = "it would leave " + std::to_string(s.count()) + " replica(s), fewer than " +
              std::to_string(s.floor);
      }
    }
    if (!why.empty()) {
      std::string moves = s.last ? move_str(plan, *s.last) + " and " + move_str(plan, i)
                                 : move_str(plan, i);
      throw Error(ExitCode::failed,
                  "the plan is refused: chunk " + m.chunk + ", " + moves + ": " +
                      (s.last ? "after the first, the second cannot run: " : "") + why +
                      "; nothing was changed",
                  "a plan moves each replica once; make the plan again");
    }
    s.last = i;
  }
}

std::vector<PlanNote> revalidate_plan(Plan& plan,
                                      const Inventory& inv,
                                      const Topology& topo,
                                      const std::vector<std::string>& exclude_nodes)
{
  if (!plan.cluster.empty() && plan.cluster != topo.cluster) {
    throw UsageError("the plan is for cluster '" + plan.cluster + "', not '" + topo.cluster + "'",
                     "pass the topology the plan was made with");
  }
  std::vector<PlanNote> notes;
  std::vector<Move> kept;
  for (auto& m : plan.moves) {
    if (auto why = stale_reason(m, inv, topo, exclude_nodes); !why.empty()) {
      notes.push_back({m.chunk, "stale move from " + m.from.node + ":" + m.from.volume + " to " +
                                    m.to.node + ":" + m.to.volume + " skipped: " + why});
      continue;
    }
    kept.push_back(std::move(m));
  }
  plan.moves = std::move(kept);
  return notes;
}

} // namespace clsync::core
