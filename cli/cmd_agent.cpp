// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"

namespace clsync::cli {

Command make_agent(CLI::App& app) { return make_not_built(app, "agent", "Node-side agent (started by clsync over SSH)"); }

} // namespace clsync::cli
