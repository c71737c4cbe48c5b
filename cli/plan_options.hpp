// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/options.hpp"

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

/// Planning flags of the writing commands: every one has --by, --plan-out and --plan; the
/// balancing commands (rebalance-nodes, rebalance-disks) also --threshold and --min-age.
namespace clsync::cli {

/// Adds --by, --threshold, --min-age, --plan-out and --plan bound to `p`; the threshold's text
/// lands in `threshold_text` for parse_threshold.
void add_plan_options(CLI::App& sub, core::PlanOptions& p, std::string& threshold_text);

/// Adds --by (how a destination's load is measured), --plan-out and --plan bound to `p`: the
/// planning flags of move-replicas and repair, which have no share to balance to (so no
/// --threshold) and move every chunk they choose (so no --min-age).
void add_placement_plan_options(CLI::App& sub, core::PlanOptions& p);

/// Fills p.threshold from its text: a size ("64K", "1.5M", bytes) with --by bytes, a number of
/// replicas with --by count. Throws UsageError (exit 2) when it is not a positive value.
void parse_threshold(core::PlanOptions& p, const std::string& threshold_text);

} // namespace clsync::cli
