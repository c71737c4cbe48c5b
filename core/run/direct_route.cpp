// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/direct_route.hpp"

namespace clsync::core {

DirectRoutes::DirectRoutes(const Topology& topo, bool direct_only)
    : m_topo(topo), m_direct_only(direct_only)
{
}

DirectRoute DirectRoutes::route(const Place& from, const Place& to, const std::string& key) const
{
  DirectRoute r;
  const NodeSpec* src = m_topo.find_node(from.node);
  const NodeSpec* dst = m_topo.find_node(to.node);
  if (!src || !dst || src->transfer != TransferMode::direct ||
      dst->transfer != TransferMode::direct) {
    return r;
  }
  r.direct = true;
  {
    std::lock_guard lock(m_mutex);
    if (auto it = m_unavailable.find({from.node, to.node}); it != m_unavailable.end()) {
      r.problem = it->second;
      return r;
    }
  }
  transport::DirectSource s;
  s.node = src->name;
  s.host = !src->direct.host.empty() ? src->direct.host : src->is_local() ? "" : src->host;
  if (s.host.empty()) {
    // "local" means clsync's machine, which the destination cannot name.
    r.problem = "node " + src->name + " is local to clsync and its topology entry names no " +
                "direct: host for other nodes to reach it";
    return r;
  }
  s.port = src->direct.port > 0 ? src->direct.port : src->ssh.port;
  s.user = !src->direct.user.empty() ? src->direct.user : src->ssh.user;
  s.agent_command =
      !src->direct.agent_command.empty() ? src->direct.agent_command : src->ssh.agent_command;
  s.identity = dst->direct.identity;
  s.known_hosts = dst->direct.known_hosts;
  s.roots = src->volumes;
  s.volume = from.volume;
  s.key = key;
  s.connect_timeout_s = src->ssh.connect_timeout_s;
  s.io_timeout_s = src->ssh.io_timeout_s;
  r.source = std::move(s);
  return r;
}

bool DirectRoutes::mark_unavailable(const std::string& from,
                                    const std::string& to,
                                    const std::string& why)
{
  std::lock_guard lock(m_mutex);
  return m_unavailable.emplace(std::make_pair(from, to), why).second;
}

} // namespace clsync::core
