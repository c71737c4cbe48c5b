// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"

namespace clsync::cli {

Command make_not_built(CLI::App& app, const std::string& name, const std::string& description)
{
  auto* sub = app.add_subcommand(name, description + " (not built yet)");
  sub->footer(k_exit_status_help);
  // Take any arguments (and keep them from falling through to clsync itself): the answer is
  // "not built yet", not a usage error.
  sub->prefix_command();
  sub->fallthrough(false);
  return {sub, Needs::nothing, [name](core::Context&, const GlobalOptions&, std::ostream&) -> ExitCode {
            throw NotImplemented(name);
          }};
}

} // namespace clsync::cli
