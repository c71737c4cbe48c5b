// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/run/direct_route.hpp"
#include "core/run/executor.hpp"
#include "core/run/journal.hpp"
#include "core/run/recount.hpp"
#include "core/run/transfer.hpp"
#include "core/run/trash_remover.hpp"

#include <atomic>
#include <functional>
#include <string>

/// One task of the executor, step by step (SPEC §5). Internal to core/run/executor.cpp.
namespace clsync::core {

/// What a running task shares with the rest of the run.
struct TaskEnv {
  Context& ctx;
  Journal& journal;
  const ExecSettings& settings;
  RateLimits& limits;
  /// Called with each block of bytes streamed (progress).
  std::function<void(std::uint64_t)> on_bytes;
  /// The re-count every removal goes through (never null while a plan runs).
  Recount* recount = nullptr;
  /// `transfer: direct` routes and the byte counts by route; null: everything relays.
  DirectRoutes* direct = nullptr;
  TransferCounters* counters = nullptr;
  /// Where a finished task leaves its trash and intents (trash_remover.hpp); null: the task
  /// removes them itself before it ends.
  TrashRemover* remover = nullptr;
};

/// Runs one move, copy or drop_duplicate with id `id`, retrying retryable transport errors and a
/// source that changed while copying (up to --retries more times, exponential backoff). Records
/// every state change in the journal and as task events. Returns the final state: finished,
/// failed or rolled_back (a stop request before commit). Never throws.
TaskResult run_task(TaskEnv& env, const Move& move, const std::string& id);

/// Records a task's state change in the journal and sends it to ctx.events as a task event.
void announce_task(TaskEnv& env,
                   const Move& move,
                   const std::string& id,
                   const std::string& state,
                   const std::string& error = {});

/// The intent record a task writes at its volume roots (JSON: run, task, chunk, kind, source,
/// destination, created).
std::string intent_record(const std::string& run_id, const std::string& id, const Move& move);

} // namespace clsync::core
