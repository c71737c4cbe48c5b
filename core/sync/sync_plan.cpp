// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/sync/sync_plan.hpp"

#include "core/cluster/filter.hpp"
#include "core/error.hpp"
#include "core/plan/plan_check.hpp"
#include "core/units.hpp"

#include <algorithm>
#include <map>

namespace clsync::core::sync {
namespace {

/// The targets of one chunk to copy, or a note saying why it cannot be copied.
std::vector<Target> targets_of(const ChunkDecision& d,
                               const Topology& b_topo,
                               Placement& placement,
                               std::vector<PlanNote>& notes)
{
  int replication = d.b_replication;
  if (replication == 0) {
    Chunk parsed;
    if (!parse_chunk_key(b_topo, d.key, parsed)) {
      notes.push_back({d.key, "chunk " + d.key + " belongs to no database of " + b_topo.file +
                                  " at that depth; not copied"});
      return {};
    }
    replication = parsed.replication;
  }
  replication = std::max(1, replication);
  std::vector<Target> targets;
  std::vector<std::string> holding;
  for (const Place& p : d.b_replicas) {
    holding.push_back(p.node);
    if (d.state != ChunkState::differing) {
      continue;
    }
    if (!placement.reserve(p, d.bytes)) {
      notes.push_back({d.key, "no room on " + place_str(p) + " for the new version of " + d.key});
      return {};
    }
    targets.push_back({p, true});
  }
  const int need = replication - static_cast<int>(d.b_replicas.size());
  if (need > 0) {
    const auto places = placement.choose(need, d.bytes, holding);
    for (const auto& p : places) {
      targets.push_back({p, false});
    }
    if (static_cast<int>(places.size()) < need) {
      notes.push_back({d.key, "only " + std::to_string(d.b_replicas.size() + places.size()) +
                                  " of " + std::to_string(replication) + " replicas of " + d.key +
                                  " fit: no further node has room (with headroom) or takes it"});
    }
  }
  return targets;
}

} // namespace

std::vector<const Chunk*>
select_chunks(const Inventory& inv, const Topology& topo, const FilterOptions& filter)
{
  ChunkFilter f(filter, topo);
  std::vector<const Chunk*> out;
  for (const auto& c : inv.chunks) {
    if (f.matches(c)) {
      out.push_back(&c);
    }
  }
  return out;
}

Plan plan_copies(const Comparison& cmp,
                 const Topology& b_topo,
                 Placement& placement,
                 const std::string& a_cluster)
{
  Plan plan;
  for (const auto& d : cmp.chunks) {
    if (d.state == ChunkState::same || d.state == ChunkState::extra) {
      continue;
    }
    if (d.a_replicas.empty()) {
      plan.notes.push_back({d.key, "chunk " + d.key + " has no readable replica on " + a_cluster});
      continue;
    }
    auto targets = targets_of(d, b_topo, placement, plan.notes);
    if (targets.empty()) {
      continue;
    }
    Move m;
    m.kind = MoveKind::write;
    m.chunk = d.key;
    m.from = {"", "cluster " + a_cluster};
    m.to = targets.front().place;
    m.bytes = d.bytes;
    m.targets = std::move(targets);
    plan.moves.push_back(std::move(m));
  }
  return plan;
}

void plan_deletes(const Comparison& cmp,
                  std::uint64_t b_selected,
                  const std::string& max_delete,
                  Plan& plan)
{
  std::vector<const ChunkDecision*> gone;
  for (const auto& d : cmp.chunks) {
    if (d.state == ChunkState::extra) {
      gone.push_back(&d);
    }
  }
  const std::uint64_t limit = parse_count_or_percent(max_delete, b_selected, "--max-delete");
  if (gone.size() > limit) {
    throw Error(ExitCode::failed,
                "--delete would remove " + std::to_string(gone.size()) + " of the " +
                    std::to_string(b_selected) + " selected chunks of the destination, more " +
                    "than --max-delete " + max_delete + " (" + std::to_string(limit) +
                    "); nothing was changed",
                "check the filters and the source cluster, or raise --max-delete");
  }
  for (const ChunkDecision* d : gone) {
    for (const Place& p : d->b_replicas) {
      Move m;
      m.kind = MoveKind::remove;
      m.chunk = d->key;
      m.from = m.to = p;
      m.bytes = d->bytes;
      plan.moves.push_back(std::move(m));
    }
  }
}

void check_source_for_delete(const Inventory& a_inv,
                             const std::vector<const Chunk*>& a_selected,
                             const SyncState& state,
                             const Topology& a_topo,
                             const FilterOptions& filter)
{
  const char* hint = "--delete trusts only a fully readable source; fix it, or run without "
                     "--delete";
  for (const auto& n : a_inv.nodes) {
    if (!n.reachable) {
      throw Error(ExitCode::failed, "source node " + n.name + " is unreachable (" + n.error +
                                        "): --delete cannot tell what the source lacks", hint);
    }
    for (const auto& v : n.volumes) {
      if (!v.ok) {
        throw Error(ExitCode::failed, "source volume " + n.name + ":" + v.path +
                                          " cannot be read (" + v.error +
                                          "): --delete cannot tell what the source lacks", hint);
      }
    }
  }
  // Volumes the last round read selected chunks from, against what they hold now.
  ChunkFilter f(filter, a_topo);
  std::map<std::pair<std::string, std::string>, std::uint64_t> before, now;
  for (const auto& [key, st] : state.chunks) {
    Chunk c;
    if (parse_chunk_key(a_topo, key, c) && f.matches(c)) {
      ++before[{st.a_node, st.a_volume}];
    }
  }
  for (const Chunk* c : a_selected) {
    for (const auto& r : c->replicas) {
      ++now[{r.node, r.volume}];
    }
  }
  for (const auto& [vol, n] : before) {
    if (!now.count(vol) && a_inv.volume(vol.first, vol.second)) {
      throw Error(ExitCode::failed,
                  "source volume " + vol.first + ":" + vol.second + " holds none of the " +
                      std::to_string(n) + " selected chunks the last round read from it " +
                      "(emptied or not mounted?); --delete refused, nothing was changed",
                  "mount the volume, or move the sync state away if the data is really gone");
    }
  }
}

void check_others_healthy(const Inventory& inv,
                          const Topology& topo,
                          const FilterOptions& filter,
                          bool allow_degraded)
{
  if (allow_degraded) {
    return;
  }
  ChunkFilter f(filter, topo);
  Inventory others = inv;
  std::erase_if(others.chunks, [&](const Chunk& c) { return f.matches(c); });
  check_not_degraded(others, false);
}

} // namespace clsync::core::sync
