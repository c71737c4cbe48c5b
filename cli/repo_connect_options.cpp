// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/repo_connect_options.hpp"

namespace clsync::cli {

void add_repo_connect_options(CLI::App& sub, core::repo::RepoConnect& c)
{
  const char* g = "Repository over SSH";
  sub.add_option("--identity", c.identity, "private key for an ssh:// repository")
      ->envname("CLSYNC_SSH_IDENTITY")
      ->group(g);
  sub.add_option("--known-hosts", c.known_hosts, "known_hosts file for an ssh:// repository")
      ->envname("CLSYNC_SSH_KNOWN_HOSTS")
      ->group(g);
  sub.add_option("--host-key-policy", c.host_key_policy, "strict or accept-new")
      ->envname("CLSYNC_HOST_KEY_POLICY")
      ->check(CLI::IsMember({"strict", "accept-new"}))
      ->group(g);
  sub.add_option("--agent-command", c.agent_command, "clsync on the repository host")
      ->envname("CLSYNC_AGENT_COMMAND")
      ->group(g);
}

} // namespace clsync::cli
