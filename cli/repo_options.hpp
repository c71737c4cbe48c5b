// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/repo/repository.hpp"

#include <CLI/CLI.hpp>

/// The options that stand in for a topology's `ssh:` block when a repository is
/// ssh://[user@]host[:port]/path (SPEC §7): backup, push, restore, snapshots, verify, prune.
namespace clsync::cli {

/// Adds --identity, --known-hosts, --host-key-policy and --agent-command (environment
/// CLSYNC_SSH_IDENTITY, CLSYNC_SSH_KNOWN_HOSTS, CLSYNC_HOST_KEY_POLICY, CLSYNC_AGENT_COMMAND)
/// to `sub`, bound to `c`. With `prefix` (push: "dest-"), the names get it (--dest-identity …)
/// and no environment variables, so two repositories can be reached differently.
void add_repo_options(CLI::App& sub, core::repo::RepoConnect& c, const std::string& prefix = {});

/// The run-wide connection settings an ssh:// repository shares with SSH nodes: the global
/// --agent-persist (CLSYNC_SSH_AGENT_PERSIST) and where agent sockets are remembered.
void apply_run_connect(core::repo::RepoConnect& c, const core::Context& ctx);

} // namespace clsync::cli
