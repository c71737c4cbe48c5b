// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"

namespace clsync::cli {

Command make_demo(CLI::App& app) { return make_not_built(app, "demo", "Build local demo clusters that replay the seed scenarios"); }

} // namespace clsync::cli
