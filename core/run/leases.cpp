// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/leases.hpp"

#include "core/error.hpp"
#include "core/exceptions.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <tuple>
#include <unistd.h>

namespace clsync::core {
namespace {

std::string
describe_holder(const std::string& node, const std::string& volume, const transport::LeaseInfo& h)
{
  return "node " + node + " (volume " + volume + ") is leased by run " + h.run_id + " (" +
         h.command + ", host " + h.host + ", pid " + std::to_string(h.pid) + ", last heartbeat " +
         std::to_string(h.age_seconds) + "s ago" +
         (h.ttl_s > 0 ? ", ttl " + std::to_string(h.ttl_s) + "s" : std::string()) + ")";
}

enum class Probe { elsewhere, alive, gone };

/// What this machine can tell of the holder's process.
Probe probe_holder(const transport::LeaseInfo& h, const transport::HostIdentity& me)
{
  if (h.machine_id.empty() || h.machine_id != me.machine_id) {
    return Probe::elsewhere;
  }
  if (!h.boot_id.empty() && !me.boot_id.empty() && h.boot_id != me.boot_id) {
    return Probe::gone; // rebooted since: no process of that boot lives
  }
  if (h.pid <= 0) {
    return Probe::elsewhere;
  }
  const std::uint64_t start = transport::process_start_ticks(h.pid);
  if (start == 0) {
    // kill(pid, 0) probes without signalling; only ESRCH proves the holder is gone (EPERM means
    // a process of another user lives under that pid).
    const bool gone = ::kill(static_cast<pid_t>(h.pid), 0) != 0 && errno == ESRCH;
    return gone ? Probe::gone : Probe::alive;
  }
  if (h.pid_start != 0 && start != h.pid_start) {
    return Probe::gone; // the pid now belongs to another process
  }
  return Probe::alive;
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

bool lease_holder_alive_here(const transport::LeaseInfo& holder, const transport::HostIdentity& me)
{
  return probe_holder(holder, me) == Probe::alive;
}

bool lease_is_stale(const transport::LeaseInfo& holder,
                    const transport::HostIdentity& me,
                    int reader_ttl_s)
{
  switch (probe_holder(holder, me)) {
  case Probe::alive:
    return false;
  case Probe::gone:
    return true;
  case Probe::elsewhere:
    break;
  }
  const std::int64_t ttl = holder.ttl_s > 0 ? holder.ttl_s : reader_ttl_s;
  return holder.age_seconds > ttl;
}

LeaseSet::LeaseSet(NodeSet& nodes,
                   const std::vector<std::string>& node_names,
                   const LeaseOptions& opts,
                   Events& events)
    : m_nodes(nodes), m_events(events), m_opts(opts)
{
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  const auto& me = transport::this_host_identity();
  m_info.host = lease_host_name();
  m_info.pid = ::getpid();
  m_info.run_id = opts.run_id;
  m_info.command = opts.command;
  m_info.started_unix = now;
  m_info.heartbeat_unix = now;
  m_info.ttl_s = opts.ttl_s;
  m_info.machine_id = me.machine_id;
  m_info.boot_id = me.boot_id;
  m_info.pid_start = transport::process_start_ticks(m_info.pid);
  try {
    // One order for every run, whatever the topology file calls the nodes or how it lists them
    // and their volumes (host, port, volume path): two runs starting at once cannot each take
    // part of the leases and refuse each other; the first to take the first lease goes on.
    std::vector<std::tuple<std::string, int, std::string, std::string>> order;
    for (const auto& name : node_names) {
      const NodeSpec* spec = m_nodes.topology().find_node(name);
      if (spec == nullptr) {
        throw Error(ExitCode::failed, "no node " + name + " in the topology to lease");
      }
      for (const auto& volume : spec->volumes) {
        order.emplace_back(spec->host, spec->ssh.port, volume, name);
      }
    }
    std::sort(order.begin(), order.end());
    for (const auto& [host, port, volume, name] : order) {
      acquire(name, *m_nodes.get(name), volume);
      m_held.push_back({name, volume});
    }
    m_held_nodes = node_names;
  } catch (...) {
    release();
    throw;
  }
  for (const auto& name : m_held_nodes) {
    m_nodes.get(name)->set_fence(m_info.run_id);
  }
  m_thread = std::thread([this] { heartbeat_loop(); });
}

void LeaseSet::acquire(const std::string& name, transport::Node& node, const std::string& volume)
{
  const auto& me = transport::this_host_identity();
  if (m_opts.break_lock) {
    if (auto old = node.read_lease(volume); old && old->run_id != m_info.run_id) {
      if (lease_holder_alive_here(*old, me)) {
        throw LockHeld("--break-lock refused: " + describe_holder(name, volume, *old) +
                           " and its pid " + std::to_string(old->pid) + " is alive on this host",
                       "wait for that run to finish, or stop it (kill " + std::to_string(old->pid) +
                           ") and run again");
      }
      node.release_lease(volume, old->run_id, false);
      m_events.warning("broke the lease: " + describe_holder(name, volume, *old));
    }
  }
  auto got = node.acquire_lease(volume, m_info, {});
  if (!got.acquired && got.holder && lease_is_stale(*got.holder, me, m_opts.ttl_s)) {
    m_events.warning("taking over a stale lease: " + describe_holder(name, volume, *got.holder));
    got = node.acquire_lease(volume, m_info, got.holder->run_id);
  }
  if (!got.acquired) {
    std::string what = got.holder
                           ? describe_holder(name, volume, *got.holder)
                           : "node " + name + " (volume " + volume + ") is leased by another run";
    throw LockHeld("another run is writing to this cluster: " + what,
                   "wait for it to finish; a lease is taken over once its holder is gone or "
                   "silent longer than its own --lease-ttl; --break-lock removes the lease of a "
                   "run that is not alive on this host");
  }
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
    for (const auto& h : m_held) {
      try {
        m_nodes.get(h.node)->refresh_lease(h.volume, m_info);
      } catch (...) {
        if (!m_lost.exchange(true)) {
          m_events.warning("lost the lease on node " + h.node + " (volume " + h.volume +
                           "): " + current_exception_text() + "; no new task starts");
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
  for (const auto& h : m_held) {
    try {
      m_nodes.get(h.node)->release_lease(h.volume, m_info.run_id, false);
    } catch (...) {
      m_events.warning("could not release the lease on node " + h.node + " (volume " + h.volume +
                       "): " + current_exception_text());
    }
  }
  m_held.clear();
  m_held_nodes.clear();
}

} // namespace clsync::core
