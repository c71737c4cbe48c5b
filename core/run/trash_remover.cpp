// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/trash_remover.hpp"

#include "core/cluster/node_set.hpp"
#include "core/exceptions.hpp"
#include "core/fault.hpp"
#include "core/run/transient_retry.hpp"

#include <algorithm>
#include <system_error>
#include <vector>

namespace clsync::core {

TrashRemover::TrashRemover(Context& ctx, std::map<std::string, int> lanes, int other_lanes)
    : m_ctx(ctx), m_lanes(std::move(lanes)), m_other_lanes(other_lanes)
{
}

TrashRemover::~TrashRemover()
{
  drain();
}

void TrashRemover::remove_later(const Place& at, const std::string& task, bool trash)
{
  const Job job{task, trash};
  Queue* queue = nullptr;
  {
    std::lock_guard lock(m_mutex);
    ++m_queued;
    Queue& q = m_queues[{at.node, at.volume}]; // a std::map: stays where it is
    queue = &q;
    if (!m_draining) {
      q.jobs.push_back(job);
      const auto it = m_lanes.find(at.node);
      const int lanes = std::max(1, it != m_lanes.end() ? it->second : m_other_lanes);
      if (q.idle >= static_cast<int>(q.jobs.size()) ||
          static_cast<int>(q.threads.size()) >= lanes) {
        m_changed.notify_all();
        return;
      }
      try {
        q.threads.emplace_back([this, at, &q] { loop(at, q); });
        return;
      } catch (const std::system_error&) {
        if (!q.threads.empty()) {
          m_changed.notify_all();
          return;  // the volume's other threads take it
        }
        q.jobs.pop_back(); // no thread: removed here, as before the remover existed
      }
    }
  }
  run_job(at, job, *queue);
}

std::uint64_t TrashRemover::drain()
{
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(m_mutex);
    m_draining = true;
    for (auto& [where, q] : m_queues) {
      for (auto& t : q.threads) {
        threads.push_back(std::move(t));
      }
      q.threads.clear();
    }
    m_changed.notify_all();
  }
  for (auto& t : threads) {
    t.join();
  }
  std::lock_guard lock(m_mutex);
  return m_failed;
}

std::uint64_t TrashRemover::queued() const
{
  std::lock_guard lock(m_mutex);
  return m_queued;
}

void TrashRemover::loop(const Place& at, Queue& q)
{
  std::unique_lock lock(m_mutex);
  for (;;) {
    ++q.idle;
    m_changed.wait(lock, [&] { return m_draining || !q.jobs.empty(); });
    --q.idle;
    if (q.jobs.empty()) {
      return;
    }
    Job job = std::move(q.jobs.front());
    q.jobs.pop_front();
    lock.unlock();
    run_job(at, job, q);
    lock.lock();
  }
}

void TrashRemover::run_job(const Place& at, const Job& job, Queue& q)
{
  // A node that failed a job through all its retries is likely down: the volume's later jobs
  // get one try each, so a drain does not wait seconds per queued job. One success ends that.
  bool node_down = false;
  {
    std::lock_guard lock(m_mutex);
    node_down = q.gave_up;
  }
  try {
    run_with_transient_retries([&] { remove_now(at, job); }, node_down ? 1 : 5);
    std::lock_guard lock(m_mutex);
    q.gave_up = false;
  } catch (...) {
    {
      std::lock_guard lock(m_mutex);
      ++m_failed;
      q.gave_up = true;
    }
    m_ctx.events->warning("could not remove the " + std::string(job.trash ? "trash" : "intent") +
                          " of finished task " + job.task + " on " + place_str(at) + " (" +
                          current_exception_text() +
                          "); the chunk has its replicas, and the next run's recovery removes it");
  }
}

void TrashRemover::remove_now(const Place& at, const Job& job)
{
  auto node = m_ctx.nodes->get(at.node);
  if (job.trash) {
    fault_point("trash_removal");
    node->remove_task_dirs(at.volume, job.task);
    // The trash is gone for good (the root is synced): its intent explains nothing any more.
    fault_point("trash_removed");
  }
  node->remove_intent(at.volume, job.task);
}

} // namespace clsync::core
