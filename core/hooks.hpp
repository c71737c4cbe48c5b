// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/plan.hpp"

#include <cstdint>
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

/// Runs `command` with /bin/sh -c and the extra environment `env`; returns its exit status
/// (128 + signal when it was killed; 127 when the shell could not start). Never throws for a
/// failing command; throws clsync::Error when no process can be started at all.
int run_hook(const std::string& command, const std::map<std::string, std::string>& env);

/// --pre-hook: runs it (if set) with CLSYNC_RUN_ID, CLSYNC_COMMAND, CLSYNC_CLUSTER. A non-zero
/// status throws clsync::Error (exit 1) saying nothing was changed.
void run_pre_hook(const std::string& command, const HookRun& run);

/// --post-hook: runs it (if set) once at the end with CLSYNC_RESULT=ok|partial|failed|interrupted.
/// Returns its exit status (0 when unset); a failure is the caller's to report.
int run_post_hook(const std::string& command, const HookRun& run, const std::string& result);

/// --on-move: runs it (if set) after a finished task with CLSYNC_CHUNK, CLSYNC_SRC_NODE,
/// CLSYNC_SRC_VOLUME, CLSYNC_DST_NODE, CLSYNC_DST_VOLUME, CLSYNC_BYTES, CLSYNC_KIND,
/// CLSYNC_TASK_ID. Returns its exit status (0 when unset).
int run_on_move_hook(const std::string& command,
                     const HookRun& run,
                     const Move& move,
                     const std::string& task_id);

} // namespace clsync::core
