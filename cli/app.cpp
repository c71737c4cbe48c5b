// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/app.hpp"
#include "cli/text_table.hpp"

#include "cli/command.hpp"
#include "cli/output_spool.hpp"
#include "cli/progress.hpp"
#include "core/exceptions.hpp"
#include "core/json_names.hpp"
#include "core/cluster/topology.hpp"
#include "core/units.hpp"
#include "transport/errors.hpp"
#include "transport/open.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string_view>
#include <unistd.h>

#ifndef CLSYNC_VERSION
#define CLSYNC_VERSION "0.0.0"
#endif

namespace clsync::cli {

const char* const k_app_description =
    "clsync: back up, ship, restore, mirror and rebalance the chunk replicas of a data cluster";

const char* const k_exit_status_help =
    "EXIT STATUS:\n"
    "  0 done; 1 failed; 2 usage or topology error; 3 partly done; 4 another run holds a lease;\n"
    "  5 status --check found unhealthy chunks; 130 interrupted";

namespace {

constexpr std::array<CommandMaker, 14> k_commands{
    &make_status,          &make_backup,          &make_push,          &make_restore,
    &make_sync_online,     &make_rebalance_nodes, &make_rebalance_disks, &make_move_replicas,
    &make_repair,          &make_snapshots,       &make_verify,        &make_prune,
    &make_demo,            &make_agent,
};

/// The commands that take an inventory of a cluster: they accept --connections.
constexpr std::array<std::string_view, 9> k_inventory_commands{
    "status",          "backup",       "restore", "sync-online", "rebalance-nodes",
    "rebalance-disks", "move-replicas", "repair",  "verify",
};

/// Adds --connections to `sub`, bound to `connections` (NodeSet refuses less than 1).
void add_connections_option(CLI::App& sub, int& connections)
{
  sub.add_option("--connections", connections,
                 "nodes connected to and scanned at once by the inventory (SSH sessions)")
      ->capture_default_str()
      ->group("Nodes");
}

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) { g_stop.store(true); }

void install_signal_handlers()
{
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A closed pipe (`clsync status | head`) must be an error return, not a silent death.
  signal(SIGPIPE, SIG_IGN);
}

void setup_logging(const GlobalOptions& g)
{
  std::vector<spdlog::sink_ptr> sinks;
  auto err = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(
      std::getenv("NO_COLOR") ? spdlog::color_mode::never : spdlog::color_mode::automatic);
  err->set_pattern("clsync: %l: %v");
  sinks.push_back(err);
  if (!g.log_file.empty()) {
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(g.log_file);
    file->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
    file->set_level(spdlog::level::debug);
    sinks.push_back(file);
  }
  auto logger = std::make_shared<spdlog::logger>("clsync", sinks.begin(), sinks.end());
  // Under --json, stderr stays quiet but for warnings unless -v was asked for (as mamba).
  auto level = spdlog::level::info;
  if (g.quiet) {
    level = spdlog::level::err;
  } else if (g.verbose >= 2) {
    level = spdlog::level::trace;
  } else if (g.verbose == 1) {
    level = spdlog::level::debug;
  } else if (g.json) {
    level = spdlog::level::warn;
  }
  err->set_level(level);
  logger->set_level(g.log_file.empty() ? level : spdlog::level::debug);
  spdlog::set_default_logger(logger);
}

std::filesystem::path default_state_dir()
{
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) {
    return std::filesystem::path(x) / "clsync";
  }
  if (const char* h = std::getenv("HOME"); h && *h) {
    return std::filesystem::path(h) / ".local/state/clsync";
  }
  return "/var/tmp/clsync-state";
}

void print_error(const GlobalOptions& g, int code, const std::string& what, const std::string& hint)
{
  if (g.json) {
    nlohmann::json j{{"type", "exit_error"}, {"code", code}, {"message", what}};
    if (!hint.empty()) {
      j["hint"] = hint;
    }
    std::cerr << core::dump_json(j) << '\n';
    return;
  }
  // Messages name chunks and files, whose names may hold newlines or escape sequences.
  std::cerr << "clsync: error: " << terminal_safe(what);
  if (!hint.empty()) {
    std::cerr << "; " << terminal_safe(hint);
  }
  std::cerr << '\n';
}

/// Whether --json is among the arguments (before a lone "--"): a parse error is reported before
/// CLI11 has stored any flag, and must still be one JSON document.
bool json_requested(int argc, char** argv)
{
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") {
      return false;
    }
    if (a == "--json") {
      return true;
    }
  }
  return false;
}

/// The subcommand named on the command line, when one is (for the error document).
std::string command_named(int argc, char** argv, const std::vector<Command>& commands)
{
  for (int i = 1; i < argc; ++i) {
    for (const auto& c : commands) {
      if (c.sub->get_name() == argv[i]) {
        return argv[i];
      }
    }
  }
  return {};
}

/// The document --json prints when the command printed none: what failed, and the exit code.
void print_error_document(std::ostream& out,
                          const std::string& command,
                          int code,
                          const std::string& what)
{
  nlohmann::json doc{{"command", command.empty() ? nlohmann::json() : nlohmann::json(command)},
                     {"result", "failed"},
                     {"error", what},
                     {"exit_code", code}};
  out << doc.dump(2) << '\n';
}

/// Under --json, stdout carries exactly one document: the command's when it printed a whole one
/// (a refused run prints its own, with `error`), else the error document.
void flush_json(OutputSpool& printed,
                const std::string& command,
                int code,
                const std::string& error)
{
  if (printed.holds_one_document()) {
    printed.copy_to(std::cout);
  } else if (!error.empty()) {
    print_error_document(std::cout, command, code, error);
  } else {
    printed.copy_to(std::cout);
  }
}

} // namespace

void build_app(CLI::App& app, GlobalOptions& global, std::vector<Command>& commands)
{
  app.footer(k_exit_status_help);
  app.set_version_flag("--version", std::string("clsync ") + CLSYNC_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  app.add_option("-c,--config", global.config, "topology file (SPEC §2)")->envname("CLSYNC_CONFIG");
  app.add_flag("--json", global.json, "print one JSON document on stdout");
  app.add_flag("-v,--verbose", global.verbose, "more log output (repeat for more)");
  app.add_flag("-q,--quiet", global.quiet, "only errors on stderr");
  app.add_option("--log-file", global.log_file, "also write a debug log to this file");
  app.add_option("--log-format", global.log_format, "progress on stderr: text or json (NDJSON)")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--state-dir", global.state_dir, "task journal and caches")
      ->envname("CLSYNC_STATE_DIR");
  app.add_flag("--no-progress", global.no_progress, "no progress display on stderr");
  app.add_flag("--deploy-agent", global.deploy_agent,
               "upload a static clsync agent to SSH nodes where agent_command is missing");
  app.add_option("--agent-persist", global.agent_persist,
                 "keep each SSH node's agent running this long after a run, reached next time "
                 "without a login shell (0: off, the default)")
      ->envname("CLSYNC_SSH_AGENT_PERSIST");
  app.add_flag("--fake-tty", global.fake_tty)->group("");  // hidden: tests

  commands.reserve(k_commands.size());
  for (auto make : k_commands) {
    commands.push_back(make(app));
    const std::string name = commands.back().sub->get_name();
    if (std::find(k_inventory_commands.begin(), k_inventory_commands.end(), name) !=
        k_inventory_commands.end()) {
      add_connections_option(*commands.back().sub, global.connections);
    }
    if (!commands.back().sub->get_prefix_command()) {
      commands.back().sub->fallthrough();
    }
  }
}

int run(int argc, char** argv)
{
  CLI::App app{k_app_description, "clsync"};
  GlobalOptions global;
  std::vector<Command> commands;
  build_app(app, global, commands);

  // Parse first: parse errors and run errors never share a try (STYLE.md).
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const int code = static_cast<int>(ExitCode::usage);
    if (json_requested(argc, argv)) {
      global.json = true;
      print_error(global, code, e.what(), "see 'clsync --help'");
      print_error_document(std::cout, command_named(argc, argv, commands), code, e.what());
      return code;
    }
    std::cerr << "clsync: error: " << e.what() << "; see 'clsync --help'\n";
    return code;
  }

  const Command* chosen = nullptr;
  for (const auto& c : commands) {
    if (c.sub->parsed()) {
      chosen = &c;
    }
  }
  if (!chosen) {
    const int code = static_cast<int>(ExitCode::usage);
    if (global.json) {
      print_error(global, code, "no subcommand given", "see 'clsync --help'");
      print_error_document(std::cout, {}, code, "no subcommand given");
      return code;
    }
    std::cerr << "clsync: error: no subcommand given; see 'clsync --help'\n";
    return code;
  }

  setup_logging(global);
  transport::set_transport_debug_log([](const std::string& line) { spdlog::debug("{}", line); });
  install_signal_handlers();
  auto events = make_events(global);

  core::Context ctx;
  ctx.events = events.get();
  ctx.stop_requested = &g_stop;
  ctx.state_dir = global.state_dir.empty() ? default_state_dir()
                                           : std::filesystem::path(global.state_dir);
  int code = 0;
  std::string error;
  // Under --json the command's output is held until the end, so that whatever happens stdout
  // ends up with exactly one document (SPEC §9); past a MiB it is held on disk, not in memory.
  OutputSpool held;
  std::ostream& out = global.json ? held.stream() : std::cout;
  ctx.connect.connections = global.connections;
  ctx.connect.agent_memory_dir = (ctx.state_dir / "agents").string();
  try {
    if (!global.agent_persist.empty()) {
      const auto s = core::parse_duration(global.agent_persist, "--agent-persist").count();
      if (s > 7 * 86400) {
        throw UsageError("--agent-persist: at most 7d, got '" + global.agent_persist + "'",
                         "0 turns it off");
      }
      ctx.connect.agent_persist_s = static_cast<int>(s);
    }
    if (chosen->needs == Needs::topology || !global.config.empty()) {
      if (global.config.empty()) {
        throw UsageError("'" + chosen->sub->get_name() + "' needs a topology file",
                         "pass -c FILE or set CLSYNC_CONFIG");
      }
      ctx.topology = std::make_shared<core::Topology>(core::load_topology(global.config));
      ctx.connect.deploy_agent = global.deploy_agent;
      ctx.nodes = std::make_shared<core::NodeSet>(*ctx.topology, ctx.connect);
    }
    code = static_cast<int>(chosen->run(ctx, global, out));
  } catch (const Error& e) {
    print_error(global, static_cast<int>(e.code()), e.what(), e.hint());
    code = static_cast<int>(e.code());
    error = e.what();
  } catch (const transport::TransportError& e) {
    print_error(global, 1, e.what(), {});
    code = static_cast<int>(ExitCode::failed);
    error = e.what();
  } catch (...) {
    error = core::current_exception_text();
    print_error(global, 1, error, {});
    code = static_cast<int>(ExitCode::failed);
  }
  if (global.json) {
    flush_json(held, chosen->sub->get_name(), code, error);
  }
  std::cout.flush();
  if (!std::cout) {
    // stdout closed early (a pipe into head): not worth an error message.
    code = code == 0 ? static_cast<int>(ExitCode::failed) : code;
  }
  events->finish();
  spdlog::shutdown();
  return code;
}

} // namespace clsync::cli
