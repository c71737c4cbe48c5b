// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "cli/command.hpp"
#include "core/rebalance.hpp"
#include "core/cluster/topology.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <ostream>
#include <string>

/// Output of the writing commands (rebalance-nodes, rebalance-disks, move-replicas, repair).
namespace clsync::cli {

/// The human report: the moves (the first 20, all with `all_moves`), their bytes, the from→to
/// matrix, the before/after table per node (per node:volume for disks), the tasks' outcome and
/// the notes.
std::string
render_rebalance_text(const core::RebalanceResult& r, const core::Topology* topo, bool all_moves);

/// The --json document: {dry_run, command, run_id, moves: [{chunk, kind, from: {node, volume},
/// to: {…}, bytes, state?}], summary: {moves, bytes}, before: {NODE: {chunks, bytes}}, after,
/// tasks: {finished, failed, rolled_back, not_started}, notes: [{chunk, reason}], recovery,
/// result, journal}. Field names are stable; changes are additive.
nlohmann::json rebalance_json(const core::RebalanceResult& r);

/// Writes the --json document (the bytes of core::dump_json(rebalance_json(r), 2), no final
/// newline) move by move, without building the moves array.
void write_rebalance_json(std::ostream& out, const core::RebalanceResult& r);

/// Writes the result to `out` (the JSON document under --json, else the text, all moves with
/// -v) and returns the run's exit code.
ExitCode emit_rebalance(const core::RebalanceResult& r,
                        const core::Context& ctx,
                        const GlobalOptions& global,
                        std::ostream& out);

/// Runs `run` and emits its result. When it throws clsync::Error under --json, first prints the
/// document of a run that did nothing, with `error` and `exit_code` (SPEC §9: the document is
/// printed whatever the outcome), then rethrows for app.cpp's message and exit code.
ExitCode run_rebalance_command(const std::string& command,
                               bool dry_run,
                               const std::function<core::RebalanceResult()>& run,
                               const core::Context& ctx,
                               const GlobalOptions& global,
                               std::ostream& out);

} // namespace clsync::cli
