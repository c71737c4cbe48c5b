// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/verify_against.hpp"

#include <memory>

namespace clsync::cli {

Command make_not_built(CLI::App& app, const std::string& name, const std::string& description)
{
  auto* sub = app.add_subcommand(name, description + " (not built yet)");
  sub->footer(k_exit_status_help);
  // Take any arguments (and keep them from falling through to clsync itself): the answer is
  // "not built yet", not a usage error.
  sub->prefix_command();
  sub->fallthrough(false);
  return {sub, Needs::nothing, [name](core::Context&, const GlobalOptions&, std::ostream&) -> ExitCode {
            throw NotImplemented(name);
          }};
}

Command make_push(CLI::App& app)
{
  return make_not_built(app, "push", "Send a backup repository to another place");
}
Command make_restore(CLI::App& app)
{
  return make_not_built(app, "restore", "Put chunks from a backup repository onto a cluster");
}
Command make_sync_online(CLI::App& app)
{
  return make_not_built(app, "sync-online", "Copy chunks from one live cluster to another");
}
Command make_snapshots(CLI::App& app)
{
  return make_not_built(app, "snapshots", "List the snapshots of a backup repository");
}
Command make_verify(CLI::App& app)
{
  // `verify REPO` is the repository half (branch `repo`); `--against` is built here.
  auto opts = std::make_shared<core::repo::VerifyAgainstOptions>();
  auto* sub = app.add_subcommand("verify", "Check a repository's objects or a cluster's replicas");
  sub->footer(std::string(k_exit_status_help) +
              "\n  verify --against: 3 when a chunk differs, is missing or is not in the snapshot");
  add_verify_against_options(*sub, *opts);
  return {sub, Needs::nothing,
          [opts](core::Context& ctx, const GlobalOptions& g, std::ostream& out) -> ExitCode {
            if (opts->repo.empty()) {
              throw NotImplemented("verify REPO");
            }
            return run_verify_against(*opts, ctx, g, out);
          }};
}
Command make_prune(CLI::App& app)
{
  return make_not_built(app, "prune", "Remove old snapshots and unreferenced objects");
}

} // namespace clsync::cli
