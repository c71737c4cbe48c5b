// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/topology.hpp"
#include "transport/node.hpp"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

/// The open nodes of one topology, connected lazily and shared by every task of a run.
namespace clsync::core {

/// What the node set needs to open a node; cli/ passes transport::open_node, tests may pass a
/// factory that wraps the real node (e.g. a recording wrapper).
using NodeFactory = std::function<std::shared_ptr<transport::Node>(const NodeSpec&)>;

/// The default factory: LocalNode for `host: local`, SshNode otherwise.
std::shared_ptr<transport::Node> open_node(const NodeSpec& spec);

/// How SSH nodes are reached beyond what the topology says.
struct ConnectOptions {
  bool compress = false;      ///< zstd on the wire (--compress)
  bool deploy_agent = false;  ///< upload the static agent where agent_command is missing
};

/// open_node with these options for SSH nodes.
NodeFactory make_node_factory(ConnectOptions options);

class NodeSet {
public:
  explicit NodeSet(const Topology& topo, NodeFactory factory = open_node);
  /// The node, connecting on first use; throws transport::TransportError when unreachable.
  std::shared_ptr<transport::Node> get(const std::string& name);
  const Topology& topology() const { return m_topo; }

private:
  const Topology& m_topo;
  NodeFactory m_factory;
  std::mutex m_mutex;
  std::map<std::string, std::shared_ptr<transport::Node>> m_nodes;
  std::map<std::string, std::shared_ptr<std::mutex>> m_connecting;
};

} // namespace clsync::core
