// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/repo_options.hpp"
#include "cli/text_table.hpp"
#include "core/json_names.hpp"
#include "core/repo/snapshots.hpp"
#include "core/units.hpp"

#include <nlohmann/json.hpp>

#include <ctime>
#include <memory>

namespace clsync::cli {
namespace {

nlohmann::json snapshots_json(const core::repo::SnapshotsResult& r)
{
  nlohmann::json doc = nlohmann::json::object();
  core::put_name(doc, "repository", r.repository);
  nlohmann::json snaps = nlohmann::json::array();
  for (const auto& s : r.snapshots) {
    nlohmann::json j = {{"id", s.id}};
    if (!s.error.empty()) {
      j["error"] = s.error;
      snaps.push_back(std::move(j));
      continue;
    }
    j["created"] = s.created;
    core::put_name(j, "cluster", s.cluster);
    core::put_name(j, "host", s.host);
    core::put_name(j, "tag", s.tag);
    core::put_name(j, "group", s.group);
    j["chunks"] = s.chunks;
    j["bytes"] = s.bytes;
    j["object_bytes"] = s.object_bytes;
    j["latest"] = s.latest;
    snaps.push_back(std::move(j));
  }
  doc["snapshots"] = std::move(snaps);
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : r.groups) {
    nlohmann::json j = nlohmann::json::object();
    core::put_name(j, "group", g.group);
    core::put_name(j, "cluster", g.cluster);
    core::put_name(j, "tag", g.tag);
    j["snapshots"] = g.snapshots;
    j["latest"] = g.latest;
    j["latest_created"] = g.latest_created;
    j["age_seconds"] = g.age_seconds;
    j["too_old"] = g.too_old;
    groups.push_back(std::move(j));
  }
  doc["groups"] = std::move(groups);
  doc["exit_code"] = static_cast<int>(r.exit_code);
  return doc;
}

std::string snapshots_text(const core::repo::SnapshotsResult& r)
{
  if (r.snapshots.empty()) {
    return "no snapshots in repository " + quote_name(r.repository) + "\n";
  }
  TextTable t;
  t.column("ID").column("CREATED").column("CLUSTER").column("TAG").column("GROUP");
  t.column("CHUNKS", TextTable::Align::right).column("BYTES", TextTable::Align::right);
  t.column("LATEST");
  for (const auto& s : r.snapshots) {
    if (!s.error.empty()) {
      t.add_row({s.id, "unreadable: " + s.error});
      continue;
    }
    t.add_row({s.id, s.created, s.cluster, s.tag.empty() ? "-" : s.tag, s.group,
               std::to_string(s.chunks), human_size(s.bytes), s.latest ? "latest" : ""});
  }
  std::string out = t.render();
  for (const auto& g : r.groups) {
    if (g.too_old) {
      out += "group " + quote_name(g.group) + ": newest snapshot " + g.latest + " is " +
             core::format_duration(std::chrono::seconds(g.age_seconds)) + " old\n";
    }
  }
  return out;
}

} // namespace

Command make_snapshots(CLI::App& app)
{
  auto repo_text = std::make_shared<std::string>();
  auto check_age = std::make_shared<std::string>();
  auto connect = std::make_shared<core::repo::RepoConnect>();
  auto* sub = app.add_subcommand("snapshots", "List the snapshots of a backup repository");
  sub->add_option("REPO", *repo_text, "repository: a local path or ssh://[user@]host[:port]/path")
      ->required();
  sub->add_option("--check-age", *check_age,
                  "exit 5 when the newest snapshot of any group is older than this (e.g. 26h), "
                  "or when there is none");
  add_repo_options(*sub, *connect);
  sub->footer(std::string(k_exit_status_help) +
              "\n  snapshots: 3 when a snapshot could not be read; 5 with --check-age when the\n"
              "  newest snapshot of a group is too old or there is none (5 wins over 3)");
  return {sub, Needs::nothing,
          [=](core::Context& ctx, const GlobalOptions& global, std::ostream& out) {
            apply_run_connect(*connect, ctx);
            core::repo::SnapshotsOptions opts;
            if (!check_age->empty()) {
              opts.check_age = core::parse_duration(*check_age, "--check-age");
            }
            const auto where = core::repo::parse_repo_location(*repo_text);
            const auto repo = core::repo::Repository::open(where, *connect, false);
            const auto result = core::repo::list_snapshots(
                repo, opts, static_cast<std::int64_t>(std::time(nullptr)));
            if (global.json) {
              out << core::dump_json(snapshots_json(result), 2) << '\n';
            } else {
              out << snapshots_text(result);
            }
            return result.exit_code;
          }};
}

} // namespace clsync::cli
