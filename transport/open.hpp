// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/node.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace clsync::transport {

/// Where and how to reach a remote node's agent (the topology's ssh settings, resolved).
struct SshTarget {
  std::string name;  ///< node name, for messages
  std::string host;
  std::string user;  ///< empty: current user
  int port = 22;
  std::string identity;     ///< private key file; empty: ssh-agent, then default keys
  std::string known_hosts;  ///< empty: ~/.ssh/known_hosts
  bool accept_new = false;  ///< accept (and record) an unknown host key; a changed key never
  std::string agent_command = "clsync";
  std::vector<std::string> roots;  ///< volumes (or a repository root) the agent may touch
  int connect_timeout_s = 10;
  int io_timeout_s = 60;
  int pool_size = 4;  ///< agent connections kept open to this node
  bool deploy_agent = false;
  /// The static agent build --deploy-agent uploads; empty: $CLSYNC_AGENT_STATIC, else
  /// `clsync-agent-static` next to the running executable.
  std::string deploy_agent_binary;
  /// zstd on the wire for file bytes (--compress), both directions. Loses on fast links
  /// (the CPU becomes the limit); for WANs.
  bool compress = false;
  /// Persistent agent (--agent-persist, agent_daemon.hpp): seconds the node's agent waits
  /// for the next run on a unix socket; 0: off (every run starts its agent over exec).
  int agent_persist_s = 0;
  /// Where the client remembers each node's agent socket (a file per node); required when
  /// agent_persist_s > 0, else persistence is off.
  std::string agent_memory_dir;
};

/// Where the SSH transport writes its debug lines (a fallback from the persistent agent to
/// exec, say); by default nowhere. Set once, before any node connects.
void set_transport_debug_log(std::function<void(const std::string&)> log);

/// A node whose volumes are on this machine. `roots` are its volumes (absolute paths).
std::shared_ptr<Node> make_local_node(const std::string& name, std::vector<std::string> roots);

/// A node reached over SSH; connects lazily on first use (errors then name node and host).
std::shared_ptr<Node> make_ssh_node(const SshTarget& target);

} // namespace clsync::transport
