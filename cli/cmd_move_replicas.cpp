// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/plan_options.hpp"
#include "cli/render_plan.hpp"
#include "core/rebalance.hpp"

namespace clsync::cli {

Command make_move_replicas(CLI::App& app)
{
  auto opts = std::make_shared<core::MoveReplicasOptions>();
  auto* sub = app.add_subcommand(
      "move-replicas", "Drain a node or a volume, or move chosen chunks to another place");
  sub->footer(k_exit_status_help);
  const char* g = "What to move";
  auto* from_node =
      sub->add_option("--from-node", opts->from_node, "drain this node (scale-in)")->group(g);
  sub->add_option("--to-node", opts->to_node, "move to this node (default: least loaded)")
      ->needs(from_node)
      ->group(g);
  auto* node = sub->add_option("--node", opts->node, "the node whose volume is drained")->group(g);
  auto* from_volume =
      sub->add_option("--from-volume", opts->from_volume, "drain this volume of --node")
          ->needs(node)
          ->group(g);
  node->needs(from_volume);
  sub->add_option("--to-volume", opts->to_volume, "move to this volume (default: most free)")
      ->needs(from_volume)
      ->group(g);
  from_node->excludes(node);
  node->excludes(from_node);
  add_placement_plan_options(*sub, opts->plan);
  add_write_options(*sub, opts->write);
  add_direct_option(*sub, opts->write);
  add_filter_options(*sub, opts->filter);
  return {sub, Needs::topology,
          [opts](core::Context& ctx, const GlobalOptions& gl, std::ostream& out) {
            return run_rebalance_command(
                "move-replicas", opts->write.dry_run,
                [&] { return core::move_replicas(ctx, *opts); }, ctx, gl, out);
          }};
}

} // namespace clsync::cli
