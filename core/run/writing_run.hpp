// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/error.hpp"
#include "core/options.hpp"
#include "core/plan/plan.hpp"
#include "core/run/executor.hpp"
#include "core/run/recovery.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

/// The one run every writing command shares (SPEC §5, §8): pre-run checks, plan, --dry-run stop,
/// pre-hook, leases on the nodes it writes, recovery of an earlier run's leftovers, a plan made
/// again from the real state when recovery changed it, the journal, execution, post-hook, notes
/// for tasks not started and the exit code. Commands differ only in their planner and checks.
namespace clsync::core {

/// Makes a command's plan from an inventory (called again after recovery changed the state).
using Planner = std::function<Plan(const Inventory&)>;

/// One writing command, described for run_writing_job.
struct WritingJob {
  std::string command;
  const WriteOptions& write;
  const PlanOptions* plan_opts = nullptr; ///< --plan/--plan-out, when the command has them
  bool exempt_from_degraded = false;      ///< repair, restore (which check what they select)
  bool verify = false;                    ///< content hashes in the inventory (--fix-duplicates)
  std::vector<std::string> lease_nodes{}; ///< empty: every node taking part
  Planner planner{};
  /// Checks the plan before anything runs; throws to refuse. Empty: validate_plan + check_room.
  std::function<void(const Plan&, const Inventory&)> check{};
  /// Where `write` tasks read their bytes (ExecSettings::source); null when there are none.
  FanOutSource* source = nullptr;
};

/// What a writing run did (or would do, under --dry-run).
struct RunResult {
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

/// Throws UsageError for execution options out of range (--concurrency, --per-node, --retries,
/// --headroom, --lease-ttl, --max-memory, --hook-timeout).
void validate_write(const WriteOptions& w);

/// Runs `job`: see the namespace comment. Throws UsageError for bad options, Error(failed) for a
/// refused pre-run check (unreachable node, degraded cluster, no room), LockHeld when another run
/// holds a lease. Per-task failures are in the result, never thrown.
RunResult run_writing_job(Context& ctx, const WritingJob& job);

} // namespace clsync::core
