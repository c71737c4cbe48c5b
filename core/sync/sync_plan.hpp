// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/inventory.hpp"
#include "core/options.hpp"
#include "core/plan/plan.hpp"
#include "core/repo/placement.hpp"
#include "core/sync/sync_compare.hpp"
#include "core/sync/sync_state.hpp"

#include <cstdint>
#include <string>
#include <vector>

/// From a comparison of A and B to the tasks of a round (issue 9 items 2 and 5), and the checks
/// that refuse a round before anything changes.
namespace clsync::core::sync {

/// The chunks of `inv` that `filter` selects (by key order).
std::vector<const Chunk*>
select_chunks(const Inventory& inv, const Topology& topo, const FilterOptions& filter);


/// One `write` task per chunk to copy: B's replicas of a differing chunk are replaced in place,
/// missing replicas placed with `placement` on B's `replication` distinct nodes. A chunk that
/// cannot be placed (no room, no database of B at that depth) gets a note instead.
Plan plan_copies(const Comparison& cmp,
                 const Topology& b_topo,
                 Placement& placement,
                 const std::string& a_cluster);

/// --delete: one `remove` task per replica of each extra chunk. Throws Error(failed) when there
/// are more than --max-delete of `b_selected` chunks; nothing ran.
void plan_deletes(const Comparison& cmp,
                  std::uint64_t b_selected,
                  const std::string& max_delete,
                  Plan& plan);

/// Before --delete trusts what A lacks: throws Error(failed) when a node of A is unreachable or
/// one of its volumes unreadable, or when a volume the last round read selected chunks from now
/// holds none of them (emptied or unmounted): never "delete everything".
void check_source_for_delete(const Inventory& a_inv,
                             const std::vector<const Chunk*>& a_selected,
                             const SyncState& state,
                             const Topology& a_topo,
                             const FilterOptions& filter);

/// Refuses a cluster B degraded outside the selected chunks (the round heals those).
void check_others_healthy(const Inventory& inv,
                          const Topology& topo,
                          const FilterOptions& filter,
                          bool allow_degraded);

} // namespace clsync::core::sync
