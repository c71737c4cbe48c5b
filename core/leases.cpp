// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/leases.hpp"

#include "core/error.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <unistd.h>

namespace clsync::core {
namespace {

std::string describe_holder(const std::string& node, const transport::LeaseInfo& h)
{
  return "node " + node + " is leased by run " + h.run_id + " (" + h.command + ", host " + h.host +
         ", pid " + std::to_string(h.pid) + ", last heartbeat " + std::to_string(h.age_seconds) +
         "s ago)";
}

} // namespace

std::string lease_host_name()
{
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
    return "localhost";
  }
  return buf;
}

bool lease_is_stale(const transport::LeaseInfo& holder, const std::string& this_host, int ttl_s)
{
  if (holder.age_seconds > ttl_s) {
    return true;
  }
  if (holder.host == this_host && holder.pid > 0 && holder.pid != ::getpid()) {
    // kill(pid, 0) probes without signalling; only ESRCH proves the holder is gone (EPERM means
    // a process of another user lives under that pid).
    if (::kill(static_cast<pid_t>(holder.pid), 0) != 0 && errno == ESRCH) {
      return true;
    }
  }
  return false;
}

LeaseSet::LeaseSet(NodeSet& nodes,
                   const std::vector<std::string>& node_names,
                   const LeaseOptions& opts,
                   Events& events)
    : m_nodes(nodes), m_events(events), m_opts(opts)
{
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  m_info.host = lease_host_name();
  m_info.pid = ::getpid();
  m_info.run_id = opts.run_id;
  m_info.command = opts.command;
  m_info.started_unix = now;
  m_info.heartbeat_unix = now;
  try {
    for (const auto& name : node_names) {
      auto node = m_nodes.get(name);
      if (opts.break_lock) {
        if (auto old = node->read_lease(); old && old->run_id != opts.run_id) {
          node->release_lease(old->run_id, true);
          m_events.warning("broke the lease: " + describe_holder(name, *old));
        }
      }
      auto got = node->acquire_lease(m_info, {});
      if (!got.acquired && got.holder && lease_is_stale(*got.holder, m_info.host, opts.ttl_s)) {
        m_events.warning("taking over a stale lease: " + describe_holder(name, *got.holder));
        got = node->acquire_lease(m_info, got.holder->run_id);
      }
      if (!got.acquired) {
        std::string what = got.holder ? describe_holder(name, *got.holder)
                                      : "node " + name + " is leased by another run";
        throw LockHeld("another run is writing to this cluster: " + what,
                       "wait for it to finish; if it is dead, a lease older than --lease-ttl is "
                       "taken over, or pass --break-lock");
      }
      m_held.push_back(name);
    }
  } catch (...) {
    release();
    throw;
  }
  m_thread = std::thread([this] { heartbeat_loop(); });
}

LeaseSet::~LeaseSet()
{
  release();
}

void LeaseSet::heartbeat_loop()
{
  const auto period = std::chrono::seconds(std::max(1, m_opts.ttl_s / 3));
  std::unique_lock lock(m_mutex);
  while (!m_wake.wait_for(lock, period, [this] { return m_stop; })) {
    lock.unlock();
    m_info.heartbeat_unix = static_cast<std::int64_t>(std::time(nullptr));
    for (const auto& name : m_held) {
      try {
        m_nodes.get(name)->refresh_lease(m_info);
      } catch (const std::exception& e) {
        if (!m_lost.exchange(true)) {
          m_events.warning("lost the lease on node " + name + ": " + e.what() +
                           "; no new task starts");
        }
      }
    }
    lock.lock();
  }
}

void LeaseSet::release() noexcept
{
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  }
  for (const auto& name : m_held) {
    try {
      m_nodes.get(name)->release_lease(m_info.run_id, false);
    } catch (const std::exception& e) {
      m_events.warning("could not release the lease on node " + name + ": " + e.what());
    }
  }
  m_held.clear();
}

} // namespace clsync::core
