// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/events.hpp"
#include "core/cluster/node_set.hpp"
#include "transport/host_identity.hpp"
#include "transport/types.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

/// Leases (SPEC §5): a writing run holds `.clsync-lease` on every volume of every node it may
/// write, so two runs never move the same replicas at once, whatever order or subset of a node's
/// volumes their topologies list; the nodes then refuse the run's commits and removals on a
/// volume whose lease it no longer holds (fencing).
namespace clsync::core {

struct LeaseOptions {
  std::string run_id;
  std::string command;
  int ttl_s = 600;         ///< recorded in the lease: stale when its heartbeat is older
  bool break_lock = false; ///< remove an existing lease first (and say so), unless its holder lives
};

/// True when `holder`'s process is alive on this machine (`me`: same machine id and boot id, pid
/// alive with the recorded start time): such a lease is never stale and --break-lock refuses it.
bool lease_holder_alive_here(const transport::LeaseInfo& holder, const transport::HostIdentity& me);

/// True when `holder` may be taken over. On this machine (machine id, never the host name, which
/// cloned machines share) it is stale when taken in another boot or when its pid is gone or
/// reused, and never while its pid is alive; elsewhere when its heartbeat is older than the
/// holder's own recorded TTL (`reader_ttl_s` only for a lease that recorded none).
bool lease_is_stale(const transport::LeaseInfo& holder,
                    const transport::HostIdentity& me,
                    int reader_ttl_s);

/// The host name leases record (gethostname); "localhost" when it cannot be read.
std::string lease_host_name();

/// Holds the leases of one run. The constructor takes a lease on every volume the topology lists
/// for each named node (in order), all or none, taking over stale ones with a warning; a live
/// holder makes it release what it took and throw clsync::LockHeld (exit 4) naming the node,
/// volume, host, pid, run id, command and age. Then it fences each node to this run (see
/// Node::set_fence). A heartbeat thread refreshes every lease each ttl/3 seconds; the destructor
/// stops it and releases them, so an error or an interrupt anywhere in the run still releases
/// (RAII). A node that fails to answer throws its TransportError after releasing what was taken.
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
  const std::vector<std::string>& nodes() const { return m_held_nodes; }
  const transport::LeaseInfo& info() const { return m_info; }

private:
  struct Held {
    std::string node;
    std::string volume;
  };
  void heartbeat_loop();
  void acquire(const std::string& node, transport::Node& n, const std::string& volume);

  NodeSet& m_nodes;
  Events& m_events;
  LeaseOptions m_opts;
  transport::LeaseInfo m_info;
  std::vector<Held> m_held;
  std::vector<std::string> m_held_nodes;
  std::atomic<bool> m_lost{false};
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stop = false;
  std::thread m_thread;
};

} // namespace clsync::core
