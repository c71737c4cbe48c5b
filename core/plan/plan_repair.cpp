// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/plan/plan_internal.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace clsync::core {

namespace {

using namespace detail;

/// Notes or drop_duplicate moves for the duplicate copies of a chunk.
void plan_duplicates(const Chunk& c, bool fix, Plan& plan)
{
  for (const auto& d : c.replicas) {
    if (!d.duplicate) {
      continue;
    }
    const std::string where = d.node + ":" + d.volume;
    const Replica* kept = replica_on(c, d.node);
    if (!fix) {
      plan.notes.push_back({c.key, "duplicate copy on " + where +
                                       ": repair --fix-duplicates removes it once hashes match"});
      continue;
    }
    if (kept == nullptr) {
      plan.notes.push_back({c.key, "duplicate copy on " + where + " without a counted copy"});
      continue;
    }
    // Only equal content hashes prove the copy is surplus; the caller computes them (--verify).
    if (d.content_hash.empty() || kept->content_hash.empty()) {
      plan.notes.push_back(
          {c.key, "duplicate copy on " + where + ": content hashes unknown, not removed"});
      continue;
    }
    if (d.content_hash != kept->content_hash) {
      plan.notes.push_back({c.key, "duplicate copy on " + where + " differs from " + kept->node +
                                       ":" + kept->volume + ": resolve by hand"});
      continue;
    }
    Move m = make_move(MoveKind::drop_duplicate, c, d, kept->node, kept->volume);
    plan.moves.push_back(std::move(m));
  }
}

/// Moves that spread a zone-unsafe chunk: while it spans fewer zones than it could, a replica
/// leaves a zone holding two or more of them (from its most loaded node) for the least-loaded
/// usable node of a zone the chunk is not in. A move, not a copy then a trim: the executor's
/// protocol removes the source only once the new copy is in place and re-counted.
void plan_zone_moves(const Chunk& c,
                     const NodeIndex& idx,
                     const std::vector<const Replica*>& sources,
                     std::vector<int> counted,
                     std::set<int> any,
                     int rep,
                     LoadTracker& loads,
                     VolumePicker& picker,
                     Plan& plan)
{
  std::set<int> zones_usable;
  for (int i = 0; i < idx.size(); ++i) {
    if (idx.state(i).reachable) {
      zones_usable.insert(idx.zone(i));
    }
  }
  const int target =
      std::min({static_cast<int>(counted.size()), rep, static_cast<int>(zones_usable.size())});
  std::set<int> gone; // nodes this plan moves the chunk away from: no longer a source
  while (distinct_zones(idx, counted, -1, -1) < target) {
    std::map<int, int> per_zone;
    for (int n : counted) {
      ++per_zone[idx.zone(n)];
    }
    const Replica* src = nullptr;
    int from = -1;
    for (const Replica* r : sources) {
      const int i = idx.find(r->node);
      if (gone.count(i) != 0 || per_zone[idx.zone(i)] < 2) {
        continue;
      }
      if (from < 0 || loads.less(from, i)) {
        src = r;
        from = i;
      }
    }
    int dest = -1;
    for (int cand = 0; cand < idx.size() && from >= 0; ++cand) {
      if (idx.usable(cand) && any.count(cand) == 0 && per_zone.count(idx.zone(cand)) == 0 &&
          (dest < 0 || loads.less(cand, dest))) {
        dest = cand;
      }
    }
    if (from < 0 || dest < 0) {
      plan.notes.push_back({c.key, "zone-unsafe: no usable node of another zone can take a "
                                   "replica; add one, or bring it back"});
      return;
    }
    const VolumeState* vol = picker.pick(dest);
    picker.take(dest, vol->path, src->bytes);
    loads.move(from, dest, src->bytes);
    plan.moves.push_back(make_move(MoveKind::move, c, *src, idx.name(dest), vol->path));
    *std::find(counted.begin(), counted.end(), from) = dest;
    any.insert(dest);
    gone.insert(from);
  }
}

} // namespace

Plan plan_repair(const Inventory& inv,
                 const Topology& topo,
                 const PlanParams& params,
                 bool fix_duplicates,
                 const ChunkPredicate& pick)
{
  const NodeIndex idx(inv, topo, params.exclude_nodes);
  Plan plan = new_plan("repair", topo, params);
  plan.before = node_loads(inv);
  for (int i = 0; i < idx.size(); ++i) {
    if (!idx.state(i).reachable || idx.excluded(i)) {
      plan.notes.push_back({"", left_out_reason(idx, i) +
                                    "; its replicas are not counted, so a repair may add "
                                    "copies it still holds"});
    }
  }
  LoadTracker loads(inv, idx, params.by);
  VolumePicker picker(inv);
  std::vector<std::uint64_t> reads(static_cast<std::size_t>(idx.size()), 0);
  std::vector<int> counted;
  std::set<int> any;

  for (const auto& c : inv.chunks) {
    if (pick && !pick(c)) {
      continue;
    }
    // An under-replicated chunk can be divergent too (health names only the most urgent
    // condition): copying one of its replicas would spread a version nobody chose.
    if (c.health == ChunkHealth::divergent ||
        std::find(c.issues.begin(), c.issues.end(), ChunkHealth::divergent) != c.issues.end()) {
      plan.notes.push_back({c.key, "divergent: resolve by hand or restore"});
      continue;
    }
    plan_duplicates(c, fix_duplicates, plan);
    counted.clear();
    any.clear();
    std::vector<const Replica*> sources;
    for (const auto& r : c.replicas) {
      const int i = idx.find(r.node);
      if (i < 0) {
        continue;
      }
      any.insert(i);
      if (!r.duplicate) {
        counted.push_back(i);
        if (idx.usable(i)) {
          sources.push_back(&r);
        }
      }
    }
    const int rep = wanted_replication(c, topo);
    const int count = static_cast<int>(counted.size());
    if (count > rep) {
      plan.notes.push_back({c.key, "over-replicated: " + std::to_string(count) +
                                       " replicas for replication " + std::to_string(rep) +
                                       "; surplus is removed only where clsync's intents "
                                       "explain it"});
      continue;
    }
    if (count >= rep) {
      if (std::find(c.issues.begin(), c.issues.end(), ChunkHealth::zone_unsafe) != c.issues.end()) {
        if (has_special(c)) {
          plan.notes.push_back({c.key, "zone-unsafe, but holds symlinks, devices, FIFOs or "
                                       "sockets: cannot be moved"});
        } else {
          plan_zone_moves(c, idx, sources, counted, any, rep, loads, picker, plan);
        }
      }
      continue;
    }
    if (has_special(c)) {
      plan.notes.push_back({c.key, "under-replicated, but holds symlinks, devices, FIFOs or "
                                   "sockets: cannot be copied"});
      continue;
    }
    if (sources.empty()) {
      plan.notes.push_back({c.key, "under-replicated, and no replica on a usable node to copy"});
      continue;
    }
    const int zone_target = std::min(rep, idx.zone_count());
    for (int k = count; k < rep; ++k) {
      const int zones_now = distinct_zones(idx, counted, -1, -1);
      const bool want_zone = idx.zoned() && zones_now < zone_target;
      int dest = -1;
      bool dest_new_zone = false;
      for (int cand = 0; cand < idx.size(); ++cand) {
        if (!idx.usable(cand) || any.count(cand) != 0) {
          continue;
        }
        const bool new_zone = want_zone && distinct_zones(idx, counted, -1, cand) > zones_now;
        if (dest < 0 || (new_zone && !dest_new_zone) ||
            (new_zone == dest_new_zone && loads.less(cand, dest))) {
          dest = cand;
          dest_new_zone = new_zone;
        }
      }
      if (dest < 0) {
        plan.notes.push_back({c.key, "under-replicated: no legal destination for " +
                                         std::to_string(rep - k) + " more replica(s)"});
        break;
      }
      // The source read least so far, so repairs spread their reads over the healthy replicas.
      const Replica* src = sources.front();
      for (const Replica* s : sources) {
        if (reads[static_cast<std::size_t>(idx.find(s->node))] <
            reads[static_cast<std::size_t>(idx.find(src->node))]) {
          src = s;
        }
      }
      reads[static_cast<std::size_t>(idx.find(src->node))] += src->bytes;
      const VolumeState* vol = picker.pick(dest);
      picker.take(dest, vol->path, src->bytes);
      loads.move(-1, dest, src->bytes);
      plan.moves.push_back(make_move(MoveKind::copy, c, *src, idx.name(dest), vol->path));
      counted.push_back(dest);
      any.insert(dest);
    }
  }
  plan.after = plan.before;
  apply_moves(plan.after, plan.moves, false);
  return plan;
}

} // namespace clsync::core
