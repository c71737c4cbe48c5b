// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "cli/command.hpp"
#include "core/sync/sync_online.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

/// `sync-online --every`: the long-running syncer's output. Each round's document goes to stdout
/// as it ends (one compact JSON line per round under --json, else the round's text under a
/// heading), each round's result and lag to the log on stderr (an NDJSON `round` event with
/// --log-format json), and SIGUSR1 asks for the current lag (a `lag` event, or a line).
namespace clsync::cli {

/// Renderings of one round, from cmd_sync_online.cpp.
struct RoundRenderers {
  std::function<nlohmann::json(const core::sync::RoundResult&)> json;
  std::function<std::string(const core::sync::RoundResult&)> text;
};

/// Runs core::sync::sync_continuous with SIGUSR1 handled; returns its exit code (130 after
/// SIGINT/SIGTERM).
ExitCode run_sync_every(core::Context& a,
                        core::Context& b,
                        const core::sync::SyncOptions& opts,
                        const GlobalOptions& g,
                        const RoundRenderers& render);

} // namespace clsync::cli
