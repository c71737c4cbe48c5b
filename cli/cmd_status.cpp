// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/render_status.hpp"
#include "cli/render_tasks.hpp"
#include "core/run/journal.hpp"
#include "core/json_names.hpp"
#include "core/status.hpp"

#include <memory>

namespace clsync::cli {

Command make_status(CLI::App& app)
{
  auto opts = std::make_shared<core::StatusOptions>();
  auto* sub = app.add_subcommand("status", "Show where every replica lives, health and balance");
  sub->add_option("--by", opts->by, "also group chunks by db, table or volume")
      ->check(CLI::IsMember({"db", "table", "volume"}));
  sub->add_flag("--chunks", opts->chunks, "one row per chunk with its replicas");
  sub->add_flag("--verify", opts->verify,
                "hash every replica's bytes: divergence by content too (reads all data)");
  sub->add_flag("--check", opts->check, "exit 5 when any chunk is unhealthy (for monitoring)");
  sub->add_option("--exclude-node", opts->exclude_nodes, "do not contact this node (repeatable)");
  auto runs = std::make_shared<std::size_t>(5);
  sub->add_flag("--tasks", opts->tasks,
                "the task journal of the latest writing runs instead of the inventory");
  sub->add_option("--runs", *runs, "with --tasks: how many runs to show (0: all)")
      ->capture_default_str();
  add_filter_options(*sub, opts->filter);
  sub->footer(std::string(k_exit_status_help) +
              "\n  status: 3 when a node was unreachable (the others are still reported);\n"
              "  5 with --check when a chunk is unhealthy (5 wins over 3)");
  return {sub, Needs::topology,
          [opts, runs](core::Context& ctx, const GlobalOptions& global, std::ostream& out) {
            if (opts->tasks) {
              // The journal alone, like DolphinDB's getRecoveryTaskStatus: no node is contacted.
              const auto records = core::read_runs(ctx.state_dir, ctx.topo().cluster, *runs);
              for (const auto& r : records) {
                for (const auto& w : r.warnings) {
                  ctx.events->warning(w);
                }
              }
              if (global.json) {
                out << core::dump_json(runs_json(records), 2) << '\n';
              } else if (records.empty()) {
                out << "no runs in the journal of " << ctx.topo().cluster << " ("
                    << (ctx.state_dir / ctx.topo().cluster).string() << ")\n";
              } else {
                out << render_runs_text(records, global.verbose > 0 ? 0 : 20);
              }
              return ExitCode::ok;
            }
            core::StatusResult result = core::status(ctx, *opts);
            if (global.json) {
              write_status_json(out, result, *opts);
              out << '\n';
            } else {
              out << render_status_text(result, *opts);
            }
            return result.exit_code;
          }};
}

} // namespace clsync::cli
