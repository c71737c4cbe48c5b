// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/repo_options.hpp"
#include "cli/size_options.hpp"
#include "cli/text_table.hpp"
#include "core/json_names.hpp"
#include "core/repo/prune.hpp"

#include <nlohmann/json.hpp>

#include <memory>

namespace clsync::cli {
namespace {

nlohmann::json prune_json(const core::repo::PruneResult& r)
{
  nlohmann::json doc = nlohmann::json::object();
  core::put_name(doc, "repository", r.repository);
  doc["dry_run"] = r.dry_run;
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : r.groups) {
    nlohmann::json j = nlohmann::json::object();
    core::put_name(j, "group", g.group);
    core::put_name(j, "cluster", g.cluster);
    core::put_name(j, "tag", g.tag);
    j["kept"] = g.kept;
    j["removed"] = g.removed;
    groups.push_back(std::move(j));
  }
  doc["groups"] = std::move(groups);
  doc["unreadable"] = r.unreadable;
  doc["snapshots_kept"] = r.snapshots_kept;
  doc["snapshots_removed"] = r.snapshots_removed;
  doc["objects_kept"] = r.objects_kept;
  doc["objects_removed"] = r.objects_removed;
  doc["bytes_freed"] = r.bytes_freed;
  doc["objects_swept"] = r.objects_swept;
  nlohmann::json partials = nlohmann::json::array();
  for (const auto& p : r.partials_removed) {
    partials.push_back(core::lossy_utf8(p));
  }
  doc["partials_removed"] = std::move(partials);
  doc["partial_bytes_freed"] = r.partial_bytes_freed;
  doc["errors"] = r.errors;
  doc["exit_code"] = static_cast<int>(r.exit_code);
  return doc;
}

std::string prune_text(const core::repo::PruneResult& r)
{
  std::string out;
  TextTable t;
  t.column("GROUP").column("SNAPSHOT").column("ACTION");
  for (const auto& g : r.groups) {
    for (const auto& id : g.kept) {
      t.add_row({g.group, id, "keep"});
    }
    for (const auto& id : g.removed) {
      t.add_row({g.group, id, r.dry_run ? "would remove" : "removed"});
    }
  }
  out += t.render();
  for (const auto& u : r.unreadable) {
    out += "unreadable snapshot kept: " + u + "\n";
  }
  const std::string verb = r.dry_run ? "would remove " : "removed ";
  out += verb + std::to_string(r.snapshots_removed) + " snapshot(s), kept " +
         std::to_string(r.snapshots_kept) + "; ";
  if (r.objects_swept) {
    out += verb + std::to_string(r.objects_removed) + " object(s) (" + human_size(r.bytes_freed) +
           "), kept " + std::to_string(r.objects_kept) + "\n";
  } else {
    out += "no object removed: a snapshot could not be read and may name any of them\n";
  }
  if (!r.partials_removed.empty()) {
    out += verb + std::to_string(r.partials_removed.size()) + " stale partial object(s) (" +
           human_size(r.partial_bytes_freed) + ")\n";
  }
  for (const auto& e : r.errors) {
    out += "error: " + e + "\n";
  }
  return out;
}

} // namespace

Command make_prune(CLI::App& app)
{
  auto repo_text = std::make_shared<std::string>();
  auto opts = std::make_shared<core::repo::PruneOptions>();
  auto connect = std::make_shared<core::repo::RepoConnect>();
  auto* sub = app.add_subcommand("prune", "Remove old snapshots and unreferenced objects");
  sub->add_option("REPO", *repo_text, "repository: a local path or ssh://[user@]host[:port]/path")
      ->required();
  sub->add_option("--keep-last", opts->keep.last, "keep the newest N snapshots of each group");
  sub->add_option("--keep-daily", opts->keep.daily,
                  "keep the newest snapshot of each of the last N days (UTC) with snapshots");
  sub->add_option("--keep-weekly", opts->keep.weekly,
                  "keep the newest snapshot of each of the last N ISO weeks with snapshots");
  sub->add_option("--keep-monthly", opts->keep.monthly,
                  "keep the newest snapshot of each of the last N months with snapshots");
  sub->add_flag("--dry-run", opts->dry_run, "show what would be removed; change nothing");
  sub->add_option("--keep-partial-for", opts->keep_partial_for_s,
                  "remove partial objects of interrupted pushes and backups untouched this long")
      ->transform(duration_transform())
      ->capture_default_str()
      ->type_name("DURATION");
  add_repo_options(*sub, *connect);
  sub->footer(std::string(k_exit_status_help) +
              "\n  prune: 3 when a snapshot could not be read (no object is removed then) or a\n"
              "  removal failed; 4 while a backup, push or prune holds the repository lock");
  return {sub, Needs::nothing,
          [=](core::Context& ctx, const GlobalOptions& global, std::ostream& out) {
            apply_run_connect(*connect, ctx);
            const auto where = core::repo::parse_repo_location(*repo_text);
            if (opts->keep.empty()) {
              // Before connecting: a usage error needs no repository.
              throw UsageError("prune needs a policy: --keep-last, --keep-daily, --keep-weekly "
                               "or --keep-monthly with a count above 0",
                               "e.g. 'clsync prune REPO --keep-daily 7 --keep-weekly 4'");
            }
            const auto repo = core::repo::Repository::open(where, *connect, false);
            const auto result = core::repo::prune(repo, *opts, *ctx.events);
            if (global.json) {
              out << core::dump_json(prune_json(result), 2) << '\n';
            } else {
              out << prune_text(result);
            }
            return result.exit_code;
          }};
}

} // namespace clsync::cli
