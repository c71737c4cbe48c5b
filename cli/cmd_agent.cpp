// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "transport/agent_server.hpp"

#include <csignal>
#include <unistd.h>

namespace clsync::cli {

Command make_agent(CLI::App &app) {
  auto *sub = app.add_subcommand(
      "agent", "Node-side agent: speaks the agent protocol on stdin/stdout (started over SSH)");
  sub->footer(k_exit_status_help);
  return {sub, Needs::nothing, [](core::Context &, const GlobalOptions &, std::ostream &) {
            // The agent stops when its client goes away or on a plain signal; the run-wide
            // "stop after this task" handlers of app.cpp make no sense here.
            std::signal(SIGINT, SIG_DFL);
            std::signal(SIGTERM, SIG_DFL);
            return transport::serve_agent(STDIN_FILENO, STDOUT_FILENO) == 0 ? ExitCode::ok
                                                                            : ExitCode::failed;
          }};
}

} // namespace clsync::cli
