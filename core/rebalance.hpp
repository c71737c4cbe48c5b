// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/error.hpp"
#include "core/run/executor.hpp"
#include "core/options.hpp"
#include "core/plan/plan.hpp"
#include "core/run/recovery.hpp"
#include "core/run/writing_run.hpp"

#include <optional>
#include <string>
#include <vector>

/// The writing commands of SPEC §8: one core function per command. Each takes the inventory,
/// runs the pre-run checks of SPEC §5, plans (or re-validates a saved plan), stops there under
/// --dry-run, and otherwise runs the pre-hook, takes leases, recovers an earlier run's leftovers,
/// plans again from the real state when recovery changed anything, executes, and runs the
/// post-hook.
namespace clsync::core {

/// What a writing command did: the shared writing run's result (core/run/writing_run.hpp).
using RebalanceResult = RunResult;

/// `rebalance-nodes`: plan_node_rebalance over the chunks the filters select.
/// Throws UsageError for bad options, Error(failed) for a refused pre-run check (unreachable
/// node, degraded cluster, no room), LockHeld when another run holds a lease.
RebalanceResult rebalance_nodes(Context& ctx, const RebalanceNodesOptions& opts);

/// `rebalance-disks`: plan_disk_rebalance for each named node (or every node with all_nodes);
/// leases only those nodes. Errors as rebalance_nodes.
RebalanceResult rebalance_disks(Context& ctx, const RebalanceDisksOptions& opts);

/// `move-replicas`: drain a node (--from-node [--to-node]), drain a volume (--node --from-volume
/// [--to-volume]), or move the chunks chosen by --chunk and filters. A drain that cannot keep
/// the replication is refused before anything moves. Errors as rebalance_nodes.
RebalanceResult move_replicas(Context& ctx, const MoveReplicasOptions& opts);

/// `repair`: copy under-replicated chunks to legal nodes; with fix_duplicates, drop duplicate
/// copies whose hashes match. Exempt from the degraded-cluster refusal. Errors as
/// rebalance_nodes.
RebalanceResult repair(Context& ctx, const RepairOptions& opts);

} // namespace clsync::core
