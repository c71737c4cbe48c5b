// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/inventory.hpp"
#include "core/context.hpp"
#include "core/run/recovery.hpp"

#include <set>
#include <string>

/// Recovery of commit sets (the all-or-nothing fan-out writes of core/run/fan_out_task.hpp).
/// Internal to core/run/recovery.cpp.
namespace clsync::core {

/// Decides and finishes or rolls back every commit set whose intents lie on `nodes` (the leased
/// nodes; those unreachable in `inv` count as not visible), as recover() documents. Counts in
/// `report`, notes there what is left alone. Returns the task ids of every commit set found:
/// their temps, trash and intents are this function's, the rest of recovery leaves them alone.
/// Never throws for node errors.
std::set<std::string> recover_commit_sets(Context& ctx,
                                          const Inventory& inv,
                                          const std::set<std::string>& nodes,
                                          RecoveryReport& report);

} // namespace clsync::core
