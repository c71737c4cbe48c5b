// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/repo_lock.hpp"

#include "core/error.hpp"
#include "core/exceptions.hpp"
#include "core/json_names.hpp"
#include "core/run/leases.hpp"
#include "transport/host_identity.hpp"

#include <chrono>
#include <ctime>
#include <random>
#include <unistd.h>

namespace clsync::core::repo {
namespace {

std::string new_run_id(const std::string& command)
{
  std::random_device rd;
  char buf[24];
  std::snprintf(buf, sizeof buf, "%08x%08x", static_cast<unsigned>(rd()), static_cast<unsigned>(rd()));
  return command + "-" + buf;
}

} // namespace

std::string describe_repo_lock(const Repository& repo, const transport::LeaseInfo& h)
{
  return "repository " + lossy_utf8(repo.location().text) + " is locked by run " + h.run_id +
         " (" + h.command + ", host " + h.host + ", pid " + std::to_string(h.pid) +
         ", last heartbeat " + std::to_string(h.age_seconds) + "s ago" +
         (h.ttl_s > 0 ? ", ttl " + std::to_string(h.ttl_s) + "s" : std::string()) + ")";
}

RepoLock::RepoLock(const Repository& repo, const std::string& command, Events& events, int ttl_s)
    : m_repo(repo), m_events(events)
{
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  const auto& me = transport::this_host_identity();
  m_info.host = lease_host_name();
  m_info.pid = ::getpid();
  m_info.run_id = new_run_id(command);
  m_info.command = command;
  m_info.started_unix = now;
  m_info.heartbeat_unix = now;
  m_info.ttl_s = ttl_s;
  m_info.machine_id = me.machine_id;
  m_info.boot_id = me.boot_id;
  m_info.pid_start = transport::process_start_ticks(m_info.pid);

  auto& node = repo.node();
  auto got = node.acquire_lease(repo.root(), m_info, {});
  if (!got.acquired && got.holder && lease_is_stale(*got.holder, me, ttl_s)) {
    events.warning("taking over a stale lock: " + describe_repo_lock(repo, *got.holder));
    got = node.acquire_lease(repo.root(), m_info, got.holder->run_id);
  }
  if (!got.acquired) {
    const std::string what =
        got.holder ? describe_repo_lock(repo, *got.holder)
                   : "repository " + lossy_utf8(repo.location().text) + " is locked by another run";
    throw LockHeld(what, "wait for it to finish; a lock is taken over once its holder is gone or "
                         "silent longer than its own ttl");
  }
  m_held = true;
  m_thread = std::thread([this] { heartbeat_loop(); });
}

RepoLock::~RepoLock() { release(); }

void RepoLock::heartbeat_loop()
{
  const auto period = std::chrono::seconds(std::max<std::int64_t>(1, m_info.ttl_s / 3));
  std::unique_lock lock(m_mutex);
  while (!m_wake.wait_for(lock, period, [this] { return m_stop; })) {
    lock.unlock();
    m_info.heartbeat_unix = static_cast<std::int64_t>(std::time(nullptr));
    try {
      m_repo.node().refresh_lease(m_repo.root(), m_info);
    } catch (...) {
      if (!m_lost.exchange(true)) {
        m_events.warning("lost the lock of repository " + lossy_utf8(m_repo.location().text) +
                         ": " + current_exception_text() + "; nothing new starts");
      }
    }
    lock.lock();
  }
}

void RepoLock::release() noexcept
{
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  }
  if (!m_held) {
    return;
  }
  m_held = false;
  try {
    m_repo.node().release_lease(m_repo.root(), m_info.run_id, false);
  } catch (...) {
    m_events.warning("could not release the lock of repository " +
                     lossy_utf8(m_repo.location().text) + ": " + current_exception_text());
  }
}

} // namespace clsync::core::repo
