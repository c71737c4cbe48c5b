// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/events.hpp"
#include "core/cluster/node_set.hpp"
#include "core/cluster/topology.hpp"

#include <atomic>
#include <filesystem>
#include <memory>

namespace clsync::core {

/// What every core command runs with, built once by cli/app.cpp after parsing.
struct Context {
  std::shared_ptr<Topology> topology;  ///< null for commands without -c
  std::shared_ptr<NodeSet> nodes;      ///< null without a topology
  ConnectOptions connect;              ///< how `nodes` reaches SSH nodes
  Events* events = nullptr;            ///< never null while a command runs
  std::filesystem::path state_dir;     ///< journal and caches
  /// Set by SIGINT/SIGTERM: no new tasks; running tasks roll back or complete (SPEC §9).
  const std::atomic<bool>* stop_requested = nullptr;

  bool stopping() const { return stop_requested && stop_requested->load(); }
  const Topology& topo() const;  ///< throws UsageError when no -c was given
};

} // namespace clsync::core
