// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "cli/command.hpp"

#include <vector>

namespace clsync::cli {

extern const char* const k_app_description;

/// Adds the global flags and every subcommand to `app`, bound to `global` and `commands`.
/// Shared by `run` and the documentation generator, so docs follow the real options.
void build_app(CLI::App& app, GlobalOptions& global, std::vector<Command>& commands);

/// Parses the command line, builds the context, runs one subcommand and returns the exit code.
/// The only catch site: errors become "clsync: error: …" on stderr (or a JSON exit_error).
int run(int argc, char** argv);

} // namespace clsync::cli
