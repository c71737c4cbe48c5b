// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/run/hooks.hpp"
#include "core/cluster/inventory.hpp"
#include "core/run/journal.hpp"
#include "core/options.hpp"
#include "core/plan/plan.hpp"
#include "core/run/fan_out.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

/// The task executor: runs a plan's moves as tasks with the safe protocol of SPEC §5 (intents,
/// hashed streaming into a temp directory, fingerprint checks, RENAME_NOREPLACE commit, trash,
/// cleanup), under the scheduling limits of SPEC §8. A failing task is recorded (journal and a
/// "failed" task event) and the run goes on; nothing here throws for one chunk's failure.
namespace clsync::core {

/// How a plan runs. `write` carries the operator's limits; the rest names the run.
struct ExecSettings {
  WriteOptions write;
  HookRun run; ///< run id, command and cluster (journal, intents, hooks)
  /// No task starts after this moment (--until, parsed by parse_until).
  std::optional<std::chrono::system_clock::time_point> until;
  /// Extra reason to start no new task (a lost lease); checked before each task. May be empty.
  std::function<bool()> hold;
  /// The run's inventory: each chunk's count before the run and the volume identities, for the
  /// re-count before every removal (core/run/recount.hpp). Null: execute_plan takes one itself.
  const Inventory* inventory = nullptr;
  /// Where `write` tasks (fan-out) read their bytes: restore's repository. Null: none.
  FanOutSource* source = nullptr;
};

/// What became of one task.
struct TaskResult {
  std::string id;
  Move move;
  std::string state; ///< finished | failed | rolled_back | not_started
  std::string error;
  int attempts = 0;
  int targets_written = 0; ///< kind write: destinations committed (also when the task failed)
  /// Node-to-node tasks: how the chunk travelled ("relay" or "direct"; "" when it did not), and
  /// why a task configured direct was relayed (or failed under --direct-only).
  std::string transfer;
  std::string transfer_note;
};

struct ExecResult {
  std::vector<TaskResult> tasks; ///< in plan order
  std::uint64_t finished = 0, failed = 0, rolled_back = 0, not_started = 0;
  std::uint64_t bytes = 0;      ///< bytes of finished tasks
  std::uint64_t bytes_left = 0; ///< bytes of tasks that never started
  bool interrupted = false;     ///< SIGINT/SIGTERM arrived
  /// Why tasks were left: "" (none), "interrupted", "max-bytes", "until", "lease lost",
  /// "journal" (a journal line could not be written).
  std::string stopped_by;
  /// Journal::write_error() when a journal line could not be written: no task started after it,
  /// and the run is partial (or failed) even when every task it ran finished.
  std::string journal_error;
  /// Accounting, for the operator and the tests: the bytes streamed through this process, the
  /// bytes charged to the bandwidth limiter (the run's bucket, and each node's), and the most
  /// tasks that ever ran at once touching each node (never above --per-node).
  std::uint64_t bytes_streamed = 0;
  /// Chunk bytes of node-to-node tasks streamed through this process (relay), and pulled by
  /// destination nodes from source nodes themselves (`transfer: direct`), retries included.
  std::uint64_t bytes_relayed = 0;
  std::uint64_t bytes_direct = 0;
  std::uint64_t bytes_charged = 0;
  std::map<std::string, std::uint64_t> bytes_charged_per_node;
  std::map<std::string, int> max_busy_per_node;
  double seconds = 0;
  /// "ok" | "partial" | "failed" | "interrupted": the journal footer and CLSYNC_RESULT.
  std::string result() const;
};

/// Parses --until: "HH:MM" (the next such local time, today or tomorrow) or RFC 3339
/// ("2024-06-01T06:00:00Z", offsets allowed). Empty: no limit. Throws UsageError otherwise.
std::optional<std::chrono::system_clock::time_point> parse_until(const std::string& text);

/// A task id for the n-th task of a run: "<run-id>-<n>" (safe in file names).
std::string task_id(const std::string& run_id, std::size_t n);

/// Runs every move of `plan` (moves with kind move, copy, drop_duplicate, and write — one read
/// from `settings.source` fanned out to every target; one failing target fails the task, the
/// others commit) on `ctx.nodes`.
/// Scheduling: at most `concurrency` tasks (0: 2 × nodes in the topology), at most `per_node`
/// touching one node, bandwidth limits on the bytes streamed through this process, retries with
/// exponential backoff for retryable transport errors, never two tasks on one chunk at once (a
/// later move of a chunk waits for the earlier one), no new task after --max-bytes, --until,
/// a lost lease or ctx.stopping(); tasks interrupted before their commit roll back, tasks past it
/// complete. Every state change goes to `journal` and ctx.events; a journal line that cannot be
/// written starts no further task. --on-move runs after each finished task on a thread of its
/// own, one hook at a time, holding no node's slot (a failing or timed-out hook is a warning).
/// An exception of any type from a task is that task's failure, never std::terminate. Throws
/// only for errors that concern the whole run (none today); per-task failures are in the result.
ExecResult
execute_plan(Context& ctx, const Plan& plan, const ExecSettings& settings, Journal& journal);

} // namespace clsync::core
