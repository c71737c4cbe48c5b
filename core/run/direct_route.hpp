// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/topology.hpp"
#include "core/plan/plan.hpp"
#include "transport/types.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

/// `transfer: direct` for the executor (SPEC §6): which node-to-node tasks the destination pulls
/// itself, how it reaches the source, and the node pairs found unable to for the rest of the run.
namespace clsync::core {

/// How one task's bytes may travel.
struct DirectRoute {
  bool direct = false;  ///< both nodes are configured `transfer: direct`
  std::optional<transport::DirectSource> source;  ///< set when the route can be tried
  std::string problem;  ///< why it cannot (a known unavailability of the pair), else ""
};

/// The bytes of node-to-node tasks, by the way they travelled (the run's `bytes_relayed` and
/// `bytes_direct`).
struct TransferCounters {
  std::atomic<std::uint64_t> relayed{0};  ///< streamed through this process
  std::atomic<std::uint64_t> direct{0};   ///< pulled by destinations from sources
};

class DirectRoutes {
public:
  /// `direct_only`: a task that cannot go direct fails instead of being relayed.
  DirectRoutes(const Topology& topo, bool direct_only);

  /// The route of chunk `key` from `from` to `to` (two different nodes).
  DirectRoute route(const Place& from, const Place& to, const std::string& key) const;
  /// Records that `to` cannot pull from `from` in this run; true the first time for the pair
  /// (the caller warns once).
  bool mark_unavailable(const std::string& from, const std::string& to, const std::string& why);
  bool direct_only() const { return m_direct_only; }

private:
  const Topology& m_topo;
  bool m_direct_only;
  mutable std::mutex m_mutex;
  std::map<std::pair<std::string, std::string>, std::string> m_unavailable;
};

} // namespace clsync::core
