// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/error.hpp"
#include "core/run/executor.hpp"
#include "core/options.hpp"
#include "core/plan/plan.hpp"
#include "core/run/recovery.hpp"

#include <optional>
#include <string>
#include <vector>

/// The writing commands of SPEC §8: one core function per command. Each takes the inventory,
/// runs the pre-run checks of SPEC §5, plans (or re-validates a saved plan), stops there under
/// --dry-run, and otherwise runs the pre-hook, takes leases, recovers an earlier run's leftovers,
/// plans again from the real state when recovery changed anything, executes, and runs the
/// post-hook.
namespace clsync::core {

struct RebalanceResult {
  std::string command;
  bool dry_run = false;
  std::string run_id; ///< empty under --dry-run
  Plan plan;          ///< what was (or would be) run; stale moves of a saved plan removed
  /// The plan's notes, moves of a saved plan skipped as stale, what recovery reported, and what
  /// the run left (max-bytes, until, interrupt).
  std::vector<PlanNote> notes;
  RecoveryReport recovery;
  std::optional<ExecResult> exec; ///< set when tasks ran
  std::string journal;            ///< the journal file, when tasks ran
  int post_hook_status = 0;
  /// 0 done (or dry run), 1 all failed, 3 some failed, 130 interrupted.
  ExitCode code = ExitCode::ok;
};

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
