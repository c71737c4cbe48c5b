// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"

namespace clsync::cli {

Command make_status(CLI::App& app) { return make_not_built(app, "status", "Show where every replica lives, health and balance"); }

} // namespace clsync::cli
