// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/repo_options.hpp"
#include "cli/text_table.hpp"
#include "cli/verify_against.hpp"
#include "core/json_names.hpp"
#include "core/repo/verify_repo.hpp"

#include <nlohmann/json.hpp>

#include <memory>

namespace clsync::cli {
namespace {

nlohmann::json verify_json(const core::repo::VerifyRepoResult& r)
{
  nlohmann::json doc = nlohmann::json::object();
  core::put_name(doc, "repository", r.repository);
  doc["snapshots_checked"] = r.snapshots_checked;
  doc["chunks_checked"] = r.chunks_checked;
  doc["objects_checked"] = r.objects_checked;
  doc["objects_read"] = r.objects_read;
  doc["bytes_read"] = r.bytes_read;
  doc["unreferenced_objects"] = r.unreferenced_objects;
  nlohmann::json problems = nlohmann::json::array();
  for (const auto& p : r.problems) {
    nlohmann::json j = {{"snapshot", p.snapshot}, {"object", p.object}};
    core::put_name(j, "chunk", p.chunk);
    core::put_name(j, "problem", p.problem);
    problems.push_back(std::move(j));
  }
  doc["problems"] = std::move(problems);
  doc["result"] = r.problems.empty() ? "ok" : "problems";
  doc["exit_code"] = static_cast<int>(r.exit_code);
  return doc;
}

std::string verify_text(const core::repo::VerifyRepoResult& r)
{
  std::string out;
  if (!r.problems.empty()) {
    TextTable t;
    t.column("SNAPSHOT").column("CHUNK").column("OBJECT").column("PROBLEM");
    for (const auto& p : r.problems) {
      t.add_row({p.snapshot, p.chunk, p.object.substr(0, 16), p.problem});
    }
    out += t.render();
  }
  out += "checked " + std::to_string(r.snapshots_checked) + " snapshot(s), " +
         std::to_string(r.chunks_checked) + " chunk(s), " + std::to_string(r.objects_checked) +
         " object(s)";
  if (r.objects_read > 0) {
    out += "; read " + std::to_string(r.objects_read) + " object(s) (" + human_size(r.bytes_read) +
           ")";
  }
  if (r.unreferenced_objects > 0) {
    out += "; " + std::to_string(r.unreferenced_objects) +
           " object(s) no snapshot names (prune removes them)";
  }
  out += r.problems.empty() ? ": no problems\n"
                            : ": " + std::to_string(r.problems.size()) + " problem(s)\n";
  return out;
}

} // namespace

Command make_verify(CLI::App& app)
{
  auto repo_text = std::make_shared<std::string>();
  auto opts = std::make_shared<core::repo::VerifyRepoOptions>();
  auto subset = std::make_shared<std::string>();
  auto connect = std::make_shared<core::repo::RepoConnect>();
  auto* sub = app.add_subcommand("verify", "Check a repository's objects or a cluster's replicas");
  sub->add_option("REPO", *repo_text, "repository: a local path or ssh://[user@]host[:port]/path");
  sub->add_option("--snapshot", opts->snapshot, "check only this snapshot (an id, or latest)");
  auto* rd = sub->add_flag("--read-data", opts->read_data,
                           "also read every object and check every file against the snapshot "
                           "(over SSH next to the repository)");
  sub->add_option("--read-data-subset", *subset,
                  "read only this share of the objects, chosen at random (e.g. 10%)")
      ->excludes(rd);
  add_repo_options(*sub, *connect);
  auto against = std::make_shared<core::repo::VerifyAgainstOptions>();
  add_verify_against_options(*sub, *against);
  sub->footer(std::string(k_exit_status_help) +
              "\n  verify -c FILE --against REPO: 3 when a chunk differs, is missing from the\n"
              "  cluster or is not in the snapshot" +
              "\n  verify REPO: 3 when problems were found (a snapshot that does not parse, an\n"
              "  object missing, of the wrong size or whose bytes differ); 1 when the\n"
              "  repository cannot be read at all");
  return {sub, Needs::nothing,
          [=](core::Context& ctx, const GlobalOptions& global, std::ostream& out) {
            apply_run_connect(*connect, ctx);
            if (!against->repo.empty()) {
              if (!repo_text->empty()) {
                throw UsageError("verify takes REPO or -c FILE --against REPO, not both");
              }
              against->connect = *connect;
              against->snapshot = opts->snapshot.empty() ? "latest" : opts->snapshot;
              return run_verify_against(*against, ctx, global, out);
            }
            if (repo_text->empty()) {
              throw UsageError("verify needs a repository", "clsync verify REPO");
            }
            if (!subset->empty()) {
              std::string s = *subset;
              if (s.back() == '%') {
                s.pop_back();
              }
              std::size_t used = 0;
              double pct = 0;
              try {
                pct = std::stod(s, &used);
              } catch (const std::exception&) {
                used = 0;
              }
              if (used != s.size() || s.empty() || !(pct > 0 && pct <= 100)) {
                throw UsageError("--read-data-subset: '" + *subset +
                                 "' is not a percentage above 0 and at most 100 (e.g. 10%)");
              }
              opts->read_subset_pct = pct;
            }
            const auto where = core::repo::parse_repo_location(*repo_text);
            const auto repo = core::repo::Repository::open(where, *connect, false);
            const auto result =
                core::repo::verify_repository(repo, *opts, *ctx.events, ctx.stop_requested);
            if (global.json) {
              out << core::dump_json(verify_json(result), 2) << '\n';
            } else {
              out << verify_text(result);
            }
            return result.exit_code;
          }};
}

} // namespace clsync::cli
