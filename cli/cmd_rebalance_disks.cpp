// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/plan_options.hpp"
#include "cli/render_plan.hpp"
#include "core/rebalance.hpp"

namespace clsync::cli {

Command make_rebalance_disks(CLI::App& app)
{
  auto opts = std::make_shared<core::RebalanceDisksOptions>();
  auto threshold = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("rebalance-disks", "Spread each node's chunks over its volumes");
  sub->footer(k_exit_status_help);
  auto* node = sub->add_option("--node", opts->nodes, "balance this node's volumes (repeatable)");
  auto* all = sub->add_flag("--all-nodes", opts->all_nodes, "balance every node's volumes");
  node->excludes(all);
  all->excludes(node);
  add_plan_options(*sub, opts->plan, *threshold);
  add_write_options(*sub, opts->write);
  return {sub, Needs::topology,
          [opts, threshold](core::Context& ctx, const GlobalOptions& g, std::ostream& out) {
            return run_rebalance_command(
                "rebalance-disks", opts->write.dry_run,
                [&] {
                  parse_threshold(opts->plan, *threshold);
                  return core::rebalance_disks(ctx, *opts);
                },
                ctx, g, out);
          }};
}

} // namespace clsync::cli
