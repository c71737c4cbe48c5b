// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/inventory.hpp"
#include "core/options.hpp"
#include "core/plan/plan.hpp"
#include "core/cluster/topology.hpp"

#include <string>
#include <vector>

/// The pre-run checks of SPEC §5 and the re-validation of a saved plan (SPEC §8, `--plan`).
namespace clsync::core {

/// Refuses (Error, exit 1) when a node that is not excluded could not be reached, naming it and
/// why, with the hint to pass --exclude-node.
void check_reachable(const Inventory& inv);

/// Refuses (Error, exit 1) a cluster with under-replicated, divergent or zone-unsafe chunks unless
/// `allow_degraded`; names the counts and the first few chunks.
void check_not_degraded(const Inventory& inv, bool allow_degraded);

/// Refuses (Error, exit 1) a plan whose destinations lack room for what it sends plus the
/// headroom (check_capacity of the planner), naming each filesystem, needed and free bytes.
void check_room(const Plan& plan, const Inventory& inv, double headroom);

/// Re-validates every move of a saved plan against the live inventory: the plan's cluster must
/// be this topology's (else UsageError); a move whose source replica is gone or changed (quick
/// fingerprint), whose nodes are excluded or unreachable, whose destination volume is not the
/// node's, or whose destination is no longer legal (the chunk already there, or on that node for
/// a move between nodes, or the move would reduce the zones the chunk spans) is dropped, and a
/// note says why. Returns the notes.
std::vector<PlanNote> revalidate_plan(Plan& plan,
                                      const Inventory& inv,
                                      const Topology& topo,
                                      const std::vector<std::string>& exclude_nodes);

/// Simulates the plan move by move on the inventory before anything runs (SPEC §5, issue 7):
/// each move's source must be there at that point, a destination must not hold the chunk
/// already (nor its node, for a move between nodes), a drop_duplicate's kept copy must be on
/// the same node, and no chunk may fall below min(its count before, its replication) at any
/// step. Throws Error (exit 1) naming the chunk and the moves involved; nothing ran.
void validate_plan(const Plan& plan, const Inventory& inv);

} // namespace clsync::core
