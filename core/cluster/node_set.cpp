// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/cluster/node_set.hpp"

#include "core/error.hpp"
#include "transport/open.hpp"

namespace clsync::core {

namespace {

std::shared_ptr<transport::Node> open_node_with(const NodeSpec& spec, const ConnectOptions& c)
{
  if (spec.is_local()) {
    return transport::make_local_node(spec.name, spec.volumes);
  }
  transport::SshTarget t;
  t.name = spec.name;
  t.host = spec.host;
  t.user = spec.ssh.user;
  t.port = spec.ssh.port;
  t.identity = spec.ssh.identity;
  t.known_hosts = spec.ssh.known_hosts;
  t.accept_new = spec.ssh.host_key_policy == HostKeyPolicy::accept_new;
  t.agent_command = spec.ssh.agent_command;
  t.roots = spec.volumes;
  t.connect_timeout_s = spec.ssh.connect_timeout_s;
  t.io_timeout_s = spec.ssh.io_timeout_s;
  t.compress = c.compress;
  t.deploy_agent = c.deploy_agent;
  t.agent_persist_s = c.agent_persist_s.value_or(spec.ssh.agent_persist_s);
  t.agent_memory_dir = c.agent_memory_dir;
  return transport::make_ssh_node(t);
}

} // namespace

std::shared_ptr<transport::Node> open_node(const NodeSpec& spec)
{
  return open_node_with(spec, {});
}

NodeFactory make_node_factory(ConnectOptions options)
{
  return [options](const NodeSpec& spec) { return open_node_with(spec, options); };
}

NodeSet::NodeSet(const Topology& topo, NodeFactory factory, int connections)
    : m_topo(topo), m_factory(std::move(factory)), m_connections(connections)
{
  if (m_connections < 1) {
    throw UsageError("--connections must be 1 or more",
                     "it is how many nodes an inventory connects to at once (default " +
                         std::to_string(k_default_connections) + ")");
  }
}

NodeSet::NodeSet(const Topology& topo, const ConnectOptions& options)
    : NodeSet(topo, make_node_factory(options), options.connections)
{
}

void NodeSet::close_idle(const std::string& name)
{
  std::shared_ptr<transport::Node> node;
  {
    std::lock_guard lock(m_mutex);
    if (auto it = m_nodes.find(name); it != m_nodes.end()) {
      node = it->second;
    }
  }
  if (node) {
    node->close_idle();
  }
}

void NodeSet::forget_connect_failures()
{
  std::lock_guard lock(m_mutex);
  for (auto& [name, node] : m_nodes) {
    node->forget_connect_failure();
  }
}

std::shared_ptr<transport::Node> NodeSet::get(const std::string& name)
{
  std::shared_ptr<std::mutex> connecting;
  {
    std::lock_guard lock(m_mutex);
    if (auto it = m_nodes.find(name); it != m_nodes.end()) {
      return it->second;
    }
    auto& slot = m_connecting[name];
    if (!slot) {
      slot = std::make_shared<std::mutex>();
    }
    connecting = slot;
  }
  // One connect per node at a time; other nodes connect in parallel.
  std::lock_guard node_lock(*connecting);
  {
    std::lock_guard lock(m_mutex);
    if (auto it = m_nodes.find(name); it != m_nodes.end()) {
      return it->second;
    }
  }
  const NodeSpec* spec = m_topo.find_node(name);
  if (!spec) {
    throw transport::TransportError(transport::FailureKind::not_found,
                                    "node " + name + " is not in " + m_topo.file);
  }
  auto node = m_factory(*spec);
  std::lock_guard lock(m_mutex);
  m_nodes[name] = node;
  return node;
}

} // namespace clsync::core
