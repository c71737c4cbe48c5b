// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/events.hpp"
#include "core/node_set.hpp"
#include "transport/types.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

/// Node leases (SPEC §5): a writing run holds `.clsync-lease` on every node it may write, so two
/// runs never move the same replicas at once.
namespace clsync::core {

struct LeaseOptions {
  std::string run_id;
  std::string command;
  int ttl_s = 600;         ///< a lease whose heartbeat is older than this is stale
  bool break_lock = false; ///< remove any existing lease first (and say so)
};

/// True when `holder` may be taken over: its heartbeat is older than `ttl_s`, or it ran on this
/// host (`this_host`) under a pid that no longer exists (a run killed with SIGKILL).
bool lease_is_stale(const transport::LeaseInfo& holder, const std::string& this_host, int ttl_s);

/// The host name leases record (gethostname); "localhost" when it cannot be read.
std::string lease_host_name();

/// Holds the leases of one run. The constructor takes a lease on every listed node (in order),
/// taking over stale ones with a warning; a live holder makes it release what it took and throw
/// clsync::LockHeld (exit 4) naming the node, host, pid, run id, command and age. A heartbeat
/// thread refreshes every lease each ttl/3 seconds; the destructor stops it and releases them,
/// so an error or an interrupt anywhere in the run still releases (RAII). A node that fails to
/// answer throws its TransportError after releasing what was taken.
class LeaseSet {
public:
  LeaseSet(NodeSet& nodes,
           const std::vector<std::string>& node_names,
           const LeaseOptions& opts,
           Events& events);
  ~LeaseSet();
  LeaseSet(const LeaseSet&) = delete;
  LeaseSet& operator=(const LeaseSet&) = delete;

  /// Releases every lease now (idempotent; never throws).
  void release() noexcept;
  /// True once a refresh found a lease no longer ours (broken by another run): the run should
  /// start no new task.
  bool lost() const { return m_lost.load(); }
  const std::vector<std::string>& nodes() const { return m_held; }
  const transport::LeaseInfo& info() const { return m_info; }

private:
  void heartbeat_loop();

  NodeSet& m_nodes;
  Events& m_events;
  LeaseOptions m_opts;
  transport::LeaseInfo m_info;
  std::vector<std::string> m_held;
  std::atomic<bool> m_lost{false};
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stop = false;
  std::thread m_thread;
};

} // namespace clsync::core
