// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/repo_options.hpp"

namespace clsync::cli {

void add_repo_options(CLI::App& sub, core::repo::RepoConnect& c, const std::string& prefix)
{
  const std::string group = "Repository over SSH";
  auto env = [&prefix](CLI::Option* o, const char* name) {
    if (prefix.empty()) {
      o->envname(name);
    }
    return o;
  };
  env(sub.add_option("--" + prefix + "identity", c.identity,
                     "ssh:// repository: private key file (default: ssh-agent, then ~/.ssh keys)"),
      "CLSYNC_SSH_IDENTITY")
      ->group(group);
  env(sub.add_option("--" + prefix + "known-hosts", c.known_hosts,
                     "ssh:// repository: known_hosts file (default ~/.ssh/known_hosts)"),
      "CLSYNC_SSH_KNOWN_HOSTS")
      ->group(group);
  env(sub.add_option("--" + prefix + "host-key-policy", c.host_key_policy,
                     "ssh:// repository: strict, or accept-new to record an unknown host key "
                     "(a changed key is always refused)"),
      "CLSYNC_HOST_KEY_POLICY")
      ->check(CLI::IsMember({"strict", "accept-new"}))
      ->capture_default_str()
      ->group(group);
  env(sub.add_option("--" + prefix + "agent-command", c.agent_command,
                     "ssh:// repository: the clsync command on the repository host"),
      "CLSYNC_AGENT_COMMAND")
      ->capture_default_str()
      ->group(group);
}

void apply_run_connect(core::repo::RepoConnect& c, const core::Context& ctx)
{
  c.agent_persist_s = ctx.connect.agent_persist_s.value_or(0);
  c.agent_memory_dir = ctx.connect.agent_memory_dir;
}

} // namespace clsync::cli
