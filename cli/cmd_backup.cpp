// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/render_backup.hpp"
#include "cli/repo_options.hpp"
#include "cli/size_options.hpp"
#include "core/repo/backup.hpp"

#include <memory>

namespace clsync::cli {

Command make_backup(CLI::App& app)
{
  auto opts = std::make_shared<core::repo::BackupOptions>();
  auto* sub = app.add_subcommand("backup", "Write chosen chunks into a backup repository");
  sub->footer(std::string(k_exit_status_help) +
              "\n  backup: 3 when chunks were skipped (divergent, special files) or failed, or"
              "\n  when --until/--max-bytes stopped the run (then no snapshot is written)");
  sub->add_option("--to", opts->to, "the repository: a directory or ssh://[user@]host[:port]/path")
      ->required()
      ->type_name("REPO");
  const char* g = "Backup";
  sub->add_option("--compress-level", opts->compress_level, "zstd level, 1 to 19")
      ->capture_default_str()
      ->group(g);
  sub->add_option("--zstd-threads", opts->zstd_threads,
                  "zstd worker threads per node at most (0: one thread per object)")
      ->capture_default_str()
      ->group(g);
  sub->add_option("--tag", opts->tag, "a label kept in the snapshot (snapshots are grouped by it)")
      ->group(g);
  sub->add_option("--prefer-node", opts->prefer_node,
                  "back up a divergent chunk from this node's replica")
      ->type_name("NODE")
      ->group(g);
  const char* e = "Execution";
  sub->add_flag("-n,--dry-run", opts->dry_run, "say what would be read and written; change nothing")
      ->group(e);
  sub->add_option("--concurrency", opts->concurrency, "chunks packed at once (default 2 x nodes)")
      ->type_name("N")
      ->group(e);
  sub->add_option("--parallel", opts->concurrency, "the same as --concurrency")
      ->type_name("N")
      ->group(e);
  sub->add_option("--per-node", opts->per_node, "chunks packed at once on one node")
      ->capture_default_str()
      ->group(e);
  sub->add_option("--bwlimit", opts->bwlimit, "object bytes per second over the run, e.g. 50M")
      ->transform(rate_transform())
      ->type_name("RATE")
      ->group(e);
  sub->add_option("--bwlimit-per-node", opts->bwlimit_per_node,
                  "object bytes per second per node, e.g. 20M")
      ->transform(rate_transform())
      ->type_name("RATE")
      ->group(e);
  sub->add_option("--max-bytes", opts->max_bytes, "start no chunk after this many bytes, e.g. 500G")
      ->transform(size_transform())
      ->type_name("SIZE")
      ->group(e);
  sub->add_option("--until", opts->until, "start no chunk after this time (HH:MM or RFC 3339)")
      ->group(e);
  sub->add_option("--exclude-node", opts->exclude_nodes, "leave this node out (repeatable)")
      ->group(e);
  add_filter_options(*sub, opts->filter, true);
  add_repo_options(*sub, opts->connect);
  return {sub, Needs::topology,
          [opts](core::Context& ctx, const GlobalOptions& global, std::ostream& out) {
            core::repo::BackupResult r;
            apply_run_connect(opts->connect, ctx);
            try {
              r = core::repo::backup(ctx, *opts);
            } catch (const Error& err) {
              if (global.json) {
                core::repo::BackupResult none;
                none.dry_run = opts->dry_run;
                none.repository = opts->to;
                auto doc = backup_json(none);
                doc["result"] = "failed";
                doc["error"] = core::lossy_utf8(err.what());
                doc["exit_code"] = static_cast<int>(err.code());
                out << core::dump_json(doc, 2) << '\n';
              }
              throw;
            }
            if (global.json) {
              out << core::dump_json(backup_json(r), 2) << '\n';
            } else {
              out << render_backup_text(r, global.verbose > 0);
            }
            return r.code;
          }};
}

} // namespace clsync::cli
