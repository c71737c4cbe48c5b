// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/repo_options.hpp"
#include "cli/size_options.hpp"
#include "core/json_names.hpp"
#include "core/repo/push.hpp"
#include "core/units.hpp"

#include <memory>

namespace clsync::cli {

namespace {

nlohmann::json push_json(const core::repo::PushResult& r, bool dry_run)
{
  nlohmann::json j{{"source", r.source},
                   {"destination", r.destination},
                   {"objects_sent", r.objects_sent},
                   {"objects_skipped", r.objects_skipped},
                   {"snapshots_sent", r.snapshots_sent},
                   {"snapshots_skipped", r.snapshots_skipped},
                   {"bytes", r.bytes},
                   {"resumed", r.resumed},
                   {"resumed_bytes", r.resumed_bytes},
                   {"unreferenced", r.unreferenced},
                   {"errors", r.errors},
                   {"seconds", r.seconds}};
  if (dry_run) {
    j["dry_run"] = true;
    j["would_send"] = r.would_send;
  }
  return j;
}

std::string render_push_text(const core::repo::PushResult& r, bool dry_run)
{
  std::string out;
  if (dry_run) {
    for (const auto& p : r.would_send) {
      out += "would send " + p + "\n";
    }
    out += "dry run: " + std::to_string(r.would_send.size()) + " files (" +
           core::format_size(r.bytes) + ") would be sent to " + r.destination + "\n";
  } else if (r.nothing_to_push()) {
    out += "nothing to push: " + std::to_string(r.objects_skipped) + " objects, " +
           std::to_string(r.snapshots_skipped) + " snapshots already at " + r.destination + "\n";
  } else {
    out += "pushed " + std::to_string(r.objects_sent) + " objects";
    if (r.resumed > 0) {
      out += " (" + std::to_string(r.resumed) + " resumed from a partial)";
    }
    out += " and " + std::to_string(r.snapshots_sent) + " snapshots to " + r.destination + ": " +
           core::format_size(r.bytes) + " sent; " + std::to_string(r.objects_skipped) +
           " objects and " + std::to_string(r.snapshots_skipped) + " snapshots were there\n";
  }
  for (const auto& e : r.errors) {
    out += "error: " + e + "\n";
  }
  return out;
}

} // namespace

Command make_push(CLI::App& app)
{
  auto opts = std::make_shared<core::repo::PushOptions>();
  auto* sub = app.add_subcommand(
      "push", "Send the objects, then the snapshots, a repository lacks (resumes partials)");
  sub->add_option("SRC", opts->source, "the repository to send from (path or ssh://)")
      ->required();
  sub->add_option("DEST", opts->destination,
                  "the repository to send to (path or ssh://; created 0700 when missing)")
      ->required();
  sub->add_option("--parallel", opts->parallel, "objects in flight at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  sub->add_option("--bwlimit", opts->bwlimit, "bytes per second over the run, e.g. 50M (0: none)")
      ->transform(rate_transform())
      ->type_name("RATE");
  sub->add_flag("-n,--dry-run", opts->dry_run, "list what would be sent and change nothing");
  add_repo_options(*sub, opts->connect);
  add_repo_options(*sub, opts->dest_connect, "dest-");
  sub->footer(std::string(k_exit_status_help) +
              "\n  push: 3 when an object was refused on arrival (its hash differs) or a snapshot "
              "names an object SRC lacks (that snapshot is not sent)");
  return {sub, Needs::nothing,
          [opts, sub](core::Context& ctx, const GlobalOptions& global, std::ostream& out) {
            // DEST is reached like SRC unless a --dest-* option says otherwise.
            bool dest_own = false;
            for (const char* name : {"--dest-identity", "--dest-known-hosts",
                                     "--dest-host-key-policy", "--dest-agent-command"}) {
              auto* opt = sub->get_option_no_throw(name);
              dest_own = dest_own || (opt != nullptr && opt->count() > 0);
            }
            if (!dest_own) {
              opts->dest_connect = opts->connect;
            }
            opts->connect.deploy_agent = opts->connect.deploy_agent || global.deploy_agent;
            opts->dest_connect.deploy_agent =
                opts->dest_connect.deploy_agent || global.deploy_agent;
            apply_run_connect(opts->connect, ctx);
            apply_run_connect(opts->dest_connect, ctx);
            auto result = core::repo::push(ctx, *opts);
            if (global.json) {
              out << core::dump_json(push_json(result, opts->dry_run), 2) << '\n';
            } else {
              out << render_push_text(result, opts->dry_run);
            }
            return result.code;
          }};
}

} // namespace clsync::cli
