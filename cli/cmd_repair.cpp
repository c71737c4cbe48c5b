// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/plan_options.hpp"
#include "cli/render_plan.hpp"
#include "core/rebalance.hpp"

namespace clsync::cli {

Command make_repair(CLI::App& app)
{
  auto opts = std::make_shared<core::RepairOptions>();
  auto* sub = app.add_subcommand("repair", "Restore the replica count of under-replicated chunks");
  sub->footer(k_exit_status_help);
  sub->add_flag("--fix-duplicates", opts->fix_duplicates,
                "remove second copies of a chunk on one node once their hashes match");
  add_placement_plan_options(*sub, opts->plan);
  add_write_options(*sub, opts->write);
  add_direct_option(*sub, opts->write);
  add_filter_options(*sub, opts->filter);
  return {
      sub, Needs::topology, [opts](core::Context& ctx, const GlobalOptions& g, std::ostream& out) {
        return run_rebalance_command(
            "repair", opts->write.dry_run, [&] { return core::repair(ctx, *opts); }, ctx, g, out);
      }};
}

} // namespace clsync::cli
