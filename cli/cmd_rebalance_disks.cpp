// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"

namespace clsync::cli {

Command make_rebalance_disks(CLI::App& app) { return make_not_built(app, "rebalance-disks", "Spread a node's chunks over its volumes"); }

} // namespace clsync::cli
