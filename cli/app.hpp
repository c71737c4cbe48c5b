// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <iosfwd>

namespace clsync::cli {

/// Parses the command line, builds the context, runs one subcommand and returns the exit code.
/// The only catch site: errors become "clsync: error: …" on stderr (or a JSON exit_error).
int run(int argc, char** argv);

} // namespace clsync::cli
