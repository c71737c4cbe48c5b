// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"

namespace clsync::cli {

Command make_rebalance_nodes(CLI::App& app) { return make_not_built(app, "rebalance-nodes", "Move replicas so every node holds its share"); }

} // namespace clsync::cli
