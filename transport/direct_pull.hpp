// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/node.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

/// `transfer: direct` on the destination node's side (SPEC §6): the node's own OpenSSH client
/// reaches the source node's agent, and the chunk goes from that agent straight into this
/// node's writer. LocalNode::pull_chunk runs it, so it serves both `clsync agent` on a node and
/// a `host: local` destination. It knows nothing of plans: the caller says where to read.
namespace clsync::transport {

/// Why `source` cannot be used for a pull ("" when it can): a host, user, port, file path or
/// agent command that ssh or the remote shell would read as something else, or a source
/// volume / key outside what the source names.
std::string direct_source_problem(const DirectSource& source);

/// The argv (for execvp; no local shell) of the ssh client that runs the source's agent:
/// `ssh -T -x -a -o BatchMode=yes -o StrictHostKeyChecking=yes … -p PORT [-l USER] -- HOST
/// '<agent_command> agent'`. The remote command is one word the source's login shell runs, as
/// an SSH node's exec channel does.
std::vector<std::string> direct_ssh_argv(const DirectSource& source);

/// Pulls chunks into a node from sources over ssh, keeping one agent connection pool per
/// source (a pull after the first costs no ssh handshake). Thread-safe.
class DirectPuller {
public:
  /// Pulls `source.key` into `<volume>/.clsync-tmp-<task>/` of `self` (see Node::pull_chunk).
  PullResult pull(Node& self,
                  const std::string& volume,
                  const std::string& task,
                  const DirectSource& source,
                  const std::function<void(std::uint64_t)>& on_bytes);

private:
  std::shared_ptr<Node> source_node(const std::string& self, const DirectSource& source);

  std::mutex m_mutex;
  std::map<std::string, std::shared_ptr<Node>> m_sources;
};

} // namespace clsync::transport
