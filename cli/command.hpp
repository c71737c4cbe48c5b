// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/node_set.hpp"
#include "core/context.hpp"
#include "core/error.hpp"
#include "core/options.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <ostream>
#include <string>

/// The command table: each cli/cmd_*.cpp binds its flags to an options struct and returns a
/// Command whose runner calls one core function and renders the result.
namespace clsync::cli {

/// Options every subcommand accepts (before or after the subcommand name).
struct GlobalOptions {
  std::string config;  ///< -c/--config, else $CLSYNC_CONFIG
  bool json = false;
  int verbose = 0;
  bool quiet = false;
  std::string log_file;
  std::string log_format = "text";  ///< text | json (progress events on stderr)
  std::string state_dir;            ///< default: $XDG_STATE_HOME/clsync or ~/.local/state/clsync
  bool no_progress = false;
  bool deploy_agent = false;  ///< upload the static agent to SSH nodes that lack agent_command
  std::string agent_persist;  ///< --agent-persist DURATION (0: off); empty: the topology's
  /// --connections of the commands that take an inventory: nodes connected and scanned at once
  int connections = core::k_default_connections;
  bool fake_tty = false;  ///< hidden: render progress as if stderr were a terminal (tests)
};

/// What app.cpp must prepare before the runner is called.
enum class Needs {
  nothing,   ///< no topology (demo, agent, repository commands)
  topology,  ///< -c is required; Context::topology and ::nodes are set
};

/// Runs the parsed command and writes its result (text or one JSON document) to `out`.
using Runner =
    std::function<ExitCode(core::Context& ctx, const GlobalOptions& global, std::ostream& out)>;

struct Command {
  CLI::App* sub = nullptr;
  Needs needs = Needs::nothing;
  Runner run;
};

using CommandMaker = Command (*)(CLI::App& app);

// One per subcommand, in --help order.
Command make_status(CLI::App& app);
Command make_backup(CLI::App& app);
Command make_push(CLI::App& app);
Command make_restore(CLI::App& app);
Command make_sync_online(CLI::App& app);
Command make_rebalance_nodes(CLI::App& app);
Command make_rebalance_disks(CLI::App& app);
Command make_move_replicas(CLI::App& app);
Command make_repair(CLI::App& app);
Command make_snapshots(CLI::App& app);
Command make_verify(CLI::App& app);
Command make_prune(CLI::App& app);
Command make_demo(CLI::App& app);
Command make_agent(CLI::App& app);

/// A subcommand that exists in --help but is not built yet: exits 1 saying so.
Command make_not_built(CLI::App& app, const std::string& name, const std::string& description);

/// Adds the SPEC §4 filter flags to `sub`, bound to `f`.
void add_filter_options(CLI::App& sub, core::FilterOptions& f, bool with_columns = false);
/// Adds the flags shared by writing commands (SPEC §5, §8), bound to `w`.
void add_write_options(CLI::App& sub, core::WriteOptions& w);
/// --direct-only, for the commands that move replicas between nodes (`transfer: direct`).
void add_direct_option(CLI::App& sub, core::WriteOptions& w);

/// The EXIT STATUS paragraph appended to every --help.
extern const char* const k_exit_status_help;

} // namespace clsync::cli
