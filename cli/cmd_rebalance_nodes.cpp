// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/plan_options.hpp"
#include "cli/render_plan.hpp"
#include "core/rebalance.hpp"

namespace clsync::cli {

Command make_rebalance_nodes(CLI::App& app)
{
  auto opts = std::make_shared<core::RebalanceNodesOptions>();
  auto threshold = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("rebalance-nodes", "Move replicas so every node holds its share");
  sub->footer(k_exit_status_help);
  add_plan_options(*sub, opts->plan, *threshold);
  add_write_options(*sub, opts->write);
  add_direct_option(*sub, opts->write);
  add_filter_options(*sub, opts->filter);
  return {sub, Needs::topology,
          [opts, threshold](core::Context& ctx, const GlobalOptions& g, std::ostream& out) {
            return run_rebalance_command(
                "rebalance-nodes", opts->write.dry_run,
                [&] {
                  parse_threshold(opts->plan, *threshold);
                  return core::rebalance_nodes(ctx, *opts);
                },
                ctx, g, out);
          }};
}

} // namespace clsync::cli
