// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/topology.hpp"
#include "transport/node.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>

/// The open nodes of one topology, connected lazily and shared by every task of a run.
namespace clsync::core {

/// What the node set needs to open a node; cli/ passes transport::open_node, tests may pass a
/// factory that wraps the real node (e.g. a recording wrapper).
using NodeFactory = std::function<std::shared_ptr<transport::Node>(const NodeSpec&)>;

/// The default factory: LocalNode for `host: local`, SshNode otherwise.
std::shared_ptr<transport::Node> open_node(const NodeSpec& spec);

/// Nodes an inventory connects to and scans at once unless --connections says otherwise.
inline constexpr int k_default_connections = 16;

/// How SSH nodes are reached beyond what the topology says.
struct ConnectOptions {
  bool compress = false;      ///< zstd on the wire (--compress)
  bool deploy_agent = false;  ///< upload the static agent where agent_command is missing
  /// Nodes an inventory connects to and scans at once (--connections): its worker threads,
  /// and, in a cluster with more nodes than this, the most SSH sessions it holds open.
  int connections = k_default_connections;
  /// --agent-persist in seconds, over the topology's agent_persist; unset: the topology's.
  std::optional<int> agent_persist_s;
  /// Where the client remembers each node's persistent agent socket (<state dir>/agents).
  std::string agent_memory_dir;
};

/// open_node with these options for SSH nodes.
NodeFactory make_node_factory(ConnectOptions options);

class NodeSet {
public:
  /// Throws UsageError when `connections` is less than 1.
  explicit NodeSet(const Topology& topo,
                   NodeFactory factory = open_node,
                   int connections = k_default_connections);
  /// Nodes opened with make_node_factory(options); options.connections for inventories.
  NodeSet(const Topology& topo, const ConnectOptions& options);
  /// The node, connecting on first use; throws transport::TransportError when unreachable.
  /// A node whose connect failed keeps failing at once with that error for the rest of the
  /// run (transport/connect_gate.hpp), so an unreachable node costs one connect timeout.
  std::shared_ptr<transport::Node> get(const std::string& name);
  const Topology& topology() const { return m_topo; }
  /// Nodes an inventory connects to and scans at once (--connections), at least 1.
  int connections() const { return m_connections; }
  /// Closes the idle connections of `name` if it was opened (Node::close_idle).
  void close_idle(const std::string& name);
  /// A new run in the same process: every opened node tries its connect again on next use
  /// (Node::forget_connect_failure).
  void forget_connect_failures();

private:
  const Topology& m_topo;
  NodeFactory m_factory;
  int m_connections;
  std::mutex m_mutex;
  std::map<std::string, std::shared_ptr<transport::Node>> m_nodes;
  std::map<std::string, std::shared_ptr<std::mutex>> m_connecting;
};

} // namespace clsync::core
