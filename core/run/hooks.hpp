// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/plan/plan.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

/// The hooks of SPEC §1: commands that tell the database what clsync did. Each runs with
/// `/bin/sh -c`, inherits clsync's environment plus CLSYNC_* variables, and writes its output to
/// clsync's stderr (stdout holds results only).
namespace clsync::core {

/// What every hook of a run is told.
struct HookRun {
  std::string run_id;
  std::string command; ///< "rebalance-nodes", …
  std::string cluster;
};

/// How long a hook may take.
struct HookLimits {
  /// A hook still running after this is killed with its whole process group (--hook-timeout).
  /// Zero: no deadline.
  std::chrono::milliseconds timeout = std::chrono::minutes(10);
  /// A stop request (SIGINT/SIGTERM) kills a running hook as well. May be empty.
  std::function<bool()> stopping;
};

/// How one hook ended.
struct HookOutcome {
  int status = 0;           ///< exit status; 128 + signal when killed; 127: no shell
  bool timed_out = false;   ///< killed at its deadline
  bool interrupted = false; ///< killed for a stop request
  bool ok() const { return status == 0 && !timed_out && !interrupted; }
  /// "exited with status 3", "was killed after the --hook-timeout of 10 s", "was killed: the run
  /// was interrupted".
  std::string describe() const;
};

/// Runs `command` with /bin/sh -c and the extra environment `env`, in a process group of its
/// own; past `limits.timeout`, or on `limits.stopping()`, sends the group SIGTERM, then SIGKILL a
/// second later. Never throws for a failing command; throws clsync::Error when no process can be
/// started at all.
HookOutcome run_hook(const std::string& command,
                     const std::map<std::string, std::string>& env,
                     const HookLimits& limits = {});

/// --pre-hook: runs it (if set) with CLSYNC_RUN_ID, CLSYNC_COMMAND, CLSYNC_CLUSTER. A non-zero
/// status or a timeout throws clsync::Error (exit 1), a stop request Interrupted (exit 130), both
/// saying nothing was changed.
void run_pre_hook(const std::string& command, const HookRun& run, const HookLimits& limits = {});

/// --post-hook: runs it (if set) once at the end with CLSYNC_RESULT=ok|partial|failed|interrupted.
/// Returns how it ended (ok when unset); a failure is the caller's to report.
HookOutcome run_post_hook(const std::string& command,
                          const HookRun& run,
                          const std::string& result,
                          const HookLimits& limits = {});

/// --on-move: runs it (if set) after a finished task with CLSYNC_CHUNK, CLSYNC_SRC_NODE,
/// CLSYNC_SRC_VOLUME, CLSYNC_DST_NODE, CLSYNC_DST_VOLUME, CLSYNC_BYTES, CLSYNC_KIND,
/// CLSYNC_TASK_ID. Returns how it ended (ok when unset).
HookOutcome run_on_move_hook(const std::string& command,
                             const HookRun& run,
                             const Move& move,
                             const std::string& task_id,
                             const HookLimits& limits = {});

} // namespace clsync::core
