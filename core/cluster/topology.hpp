// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// The topology file (SPEC §2): one cluster, its nodes, volumes and managed databases.
namespace clsync::core {

enum class HostKeyPolicy { strict, accept_new };

/// SSH settings of a node: the file's `ssh:` block, overridden per node.
struct SshSettings {
  std::string user;            ///< empty: the current user
  int port = 22;
  std::string identity;        ///< empty: ssh-agent, then default keys
  std::string known_hosts;     ///< empty: ~/.ssh/known_hosts
  HostKeyPolicy host_key_policy = HostKeyPolicy::strict;
  std::string agent_command = "clsync";
  int connect_timeout_s = 10;
  int io_timeout_s = 60;
  /// `agent_persist`: seconds the node's agent waits for the next run on a unix socket
  /// (transport/agent_daemon.hpp); 0: off. --agent-persist overrides it.
  int agent_persist_s = 0;
};

/// How chunks travel between two nodes (SPEC §6): through clsync (relay), or pulled by the
/// destination node from the source node itself (direct, when both nodes say so).
enum class TransferMode { relay, direct };

/// A node's part in direct transfers: the `direct:` block, overridden per node. The first two
/// are files ON the node (its ssh client's key and known_hosts, which the operator provisions);
/// the rest say how the other nodes reach this one, by default as clsync does.
struct DirectSettings {
  std::string identity;       ///< node-side private key; empty: the node's ssh defaults
  std::string known_hosts;    ///< node-side known_hosts; empty: the node's ssh defaults
  std::string host;           ///< how peers reach this node; empty: its host
  int port = 0;               ///< 0: its ssh port
  std::string user;           ///< empty: its ssh user
  std::string agent_command;  ///< empty: its ssh agent_command
};

struct NodeSpec {
  std::string name;
  std::string host;  ///< "local" means this machine, no SSH
  SshSettings ssh;
  TransferMode transfer = TransferMode::relay;
  DirectSettings direct;
  std::vector<std::string> volumes;  ///< absolute, normalised (no trailing '/')
  std::string zone;                  ///< empty: no zone
  std::optional<double> weight;
  int line = 0;  ///< where the node is declared, for messages
  bool is_local() const { return host == "local"; }
};

struct DatabaseSpec {
  std::string name;
  std::vector<std::string> levels;
  std::optional<int> replication;
};

struct Topology {
  std::string file;  ///< path as given, for messages
  std::string cluster;
  int replication = 0;
  SshSettings ssh;  ///< defaults
  TransferMode transfer = TransferMode::relay;  ///< default of the nodes
  DirectSettings direct;                        ///< defaults of the nodes
  std::vector<NodeSpec> nodes;
  std::vector<DatabaseSpec> databases;

  /// The database's replication, or the cluster's.
  int replication_for(std::string_view db) const;
  const NodeSpec* find_node(std::string_view name) const;
  const DatabaseSpec* find_database(std::string_view name) const;
};

/// Loads and validates a topology file. Throws TopologyError "FILE:LINE:COL: what; expected …"
/// for malformed YAML, unknown keys (with a "did you mean"), missing or bad values.
Topology load_topology(const std::filesystem::path& file);

/// Same, from text; `file` names it in messages.
Topology parse_topology(std::string_view yaml_text, const std::string& file);

} // namespace clsync::core
