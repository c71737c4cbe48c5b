// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"

namespace clsync::cli {

Command make_move_replicas(CLI::App& app) { return make_not_built(app, "move-replicas", "Drain a node or a volume, or move chosen chunks"); }

} // namespace clsync::cli
