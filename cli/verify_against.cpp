// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/verify_against.hpp"

#include "core/json_names.hpp"

#include <cstdio>

namespace clsync::cli {
namespace {

nlohmann::json difference_json(const core::repo::ChunkDifference& d, bool with_hashes)
{
  nlohmann::json j;
  core::put_name(j, "chunk", d.chunk);
  if (!d.object.empty()) {
    j["object"] = d.object;
  }
  if (!d.replicas.empty()) {
    auto reps = nlohmann::json::array();
    for (const auto& r : d.replicas) {
      nlohmann::json x{{"node", r.node}};
      core::put_name(x, "volume", r.volume);
      if (with_hashes) {
        x["content_hash"] = r.content_hash;
      }
      reps.push_back(x);
    }
    j["replicas"] = reps;
  }
  return j;
}

} // namespace

void add_verify_against_options(CLI::App& sub, core::repo::VerifyAgainstOptions& o)
{
  const char* g = "Against a cluster";
  sub.add_option("--against", o.repo,
                 "with -c FILE: compare the cluster's chunks with a snapshot of this repository")
      ->type_name("REPO")
      ->group(g);
  sub.add_option("--concurrency", o.concurrency, "replicas hashed at once (default 2 x nodes)")
      ->group(g);
  sub.add_option("--per-node", o.per_node, "replicas hashed at once on one node")
      ->capture_default_str()
      ->group(g);
  sub.add_option("--exclude-node", o.exclude_nodes, "leave this node out (repeatable)")->group(g);
  add_filter_options(sub, o.filter);
}

nlohmann::json verify_against_json(const core::repo::VerifyAgainstResult& r)
{
  nlohmann::json j;
  j["snapshot"] = r.snapshot;
  j["repository"] = core::lossy_utf8(r.repository);
  j["cluster"] = r.cluster;
  j["chunks"] = r.chunks;
  j["same"] = r.same;
  auto list = [](const std::vector<core::repo::ChunkDifference>& v, bool hashes) {
    auto a = nlohmann::json::array();
    for (const auto& d : v) {
      a.push_back(difference_json(d, hashes));
    }
    return a;
  };
  j["missing"] = list(r.missing, false);
  j["differ"] = list(r.differ, true);
  j["absent"] = list(r.absent, false);
  auto errors = nlohmann::json::array();
  for (const auto& e : r.errors) {
    nlohmann::json x{{"node", e.node}, {"error", core::lossy_utf8(e.error)}};
    core::put_name(x, "chunk", e.chunk);
    core::put_name(x, "volume", e.volume);
    errors.push_back(x);
  }
  j["errors"] = errors;
  j["seconds"] = r.seconds;
  j["result"] = r.code == ExitCode::ok ? "same" : "different";
  return j;
}

ExitCode run_verify_against(const core::repo::VerifyAgainstOptions& o,
                            core::Context& ctx,
                            const GlobalOptions& global,
                            std::ostream& out)
{
  const core::repo::VerifyAgainstResult r = core::repo::verify_against(ctx, o);
  if (global.json) {
    out << core::dump_json(verify_against_json(r), 2) << '\n';
    return r.code;
  }
  out << r.cluster << " against snapshot " << r.snapshot << " of " << r.repository << ": "
      << r.chunks << " chunks, " << r.same << " the same, " << r.differ.size() << " differ, "
      << r.missing.size() << " missing from the cluster, " << r.absent.size()
      << " not in the snapshot\n";
  std::size_t shown = 0;
  auto list = [&](const std::vector<core::repo::ChunkDifference>& v, const char* what) {
    for (const auto& d : v) {
      if (global.verbose == 0 && shown >= 20) {
        return;
      }
      ++shown;
      out << "  " << what << ": " << d.chunk << '\n';
    }
  };
  list(r.differ, "differs");
  list(r.missing, "missing");
  list(r.absent, "not in snapshot");
  for (const auto& e : r.errors) {
    out << "  error: " << e.error << '\n';
  }
  return r.code;
}

} // namespace clsync::cli
