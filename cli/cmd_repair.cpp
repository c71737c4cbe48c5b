// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"

namespace clsync::cli {

Command make_repair(CLI::App& app) { return make_not_built(app, "repair", "Restore the replica count of under-replicated chunks"); }

} // namespace clsync::cli
