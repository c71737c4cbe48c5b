// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/events.hpp"
#include "core/repo/repository.hpp"
#include "transport/types.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

/// The repository lock: backup, push (into the repository) and prune hold it, so that prune
/// never sweeps objects a backup or push in progress has written but not yet named in a
/// snapshot. It is the volume lease of SPEC §5 (`.clsync-lease`, Node::acquire_lease) taken on
/// the repository root, with the same stale rules (core/run/leases.hpp): a holder alive on this
/// machine is never taken over; elsewhere a lease silent longer than its own TTL is.
namespace clsync::core::repo {

class RepoLock {
public:
  /// Takes the lock for `command` ("backup", "push", "prune"), taking over a stale one with a
  /// warning. A live holder throws LockHeld (exit 4) naming the repository, run, command, host,
  /// pid and heartbeat age. A heartbeat thread refreshes it every ttl/3 seconds.
  RepoLock(const Repository& repo, const std::string& command, Events& events, int ttl_s = 600);
  ~RepoLock();
  RepoLock(const RepoLock&) = delete;
  RepoLock& operator=(const RepoLock&) = delete;

  /// Releases now (idempotent; never throws).
  void release() noexcept;
  /// True once a refresh found the lock no longer ours: start nothing new.
  bool lost() const { return m_lost.load(); }
  const transport::LeaseInfo& info() const { return m_info; }

private:
  void heartbeat_loop();

  const Repository& m_repo;
  Events& m_events;
  transport::LeaseInfo m_info;
  bool m_held = false;
  std::atomic<bool> m_lost{false};
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stop = false;
  std::thread m_thread;
};

/// "repository R is locked by run …": the holder in words, for messages.
std::string describe_repo_lock(const Repository& repo, const transport::LeaseInfo& holder);

} // namespace clsync::core::repo
