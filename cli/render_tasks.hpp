// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/run/journal.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

/// The task journal as `status --tasks` shows it (SPEC §8), like DolphinDB's
/// getRecoveryTaskStatus plus bytes and speed.
namespace clsync::cli {

/// One block per run (newest first): a line naming the run, its command, start, finish, result,
/// bytes and MB/s, then a table of its tasks (TASK, CHUNK, SOURCE, DESTINATION, BYTES, STATE,
/// START, FINISH, DELETE SOURCE, MB/S, ERROR). With `tasks_per_run` > 0 only the last that many
/// tasks of each run are listed, with a line saying how many were left out. "" for no runs.
std::string render_runs_text(const std::vector<core::RunRecord>& runs,
                             std::size_t tasks_per_run = 0);

/// `{runs: [{id, command, start, finish, result, bytes, mb_per_s, tasks_finished, tasks_failed,
/// error? (a run refused as a whole), tasks: [{id, chunk, kind, source: {node, volume},
/// destination: {…}, bytes, state, start, finish, delete_source, error, mb_per_s}]}]}`; finish
/// is null for an interrupted run, as are a task's start and finish before they happen.
nlohmann::json runs_json(const std::vector<core::RunRecord>& runs);

} // namespace clsync::cli
