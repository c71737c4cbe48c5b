// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/plan/plan.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

/// Removes finished tasks' trash and intents off their critical path (SPEC §5 step 4, issue 10).
/// Internal to the executor.
///
/// A move's source, once renamed to `.clsync-trash-<task>` under the re-count's holds and found
/// unchanged there, is no replica any more; removing it is one unlink per file, each waiting on
/// the volume's journal (and discards). That work, and the removal of the task's intents (an
/// unlink and a root fsync each), no longer holds the task's --per-node slots or delays its
/// `finished` record: the task hands them to this remover and ends. Each volume has a queue and
/// threads of its own, started as jobs wait, at most as many as its node's --per-node (the
/// removals ran that many at once inside the tasks before; with fewer, a drain of one volume
/// ends with seconds of trash still queued); execute_plan drains every queue before it returns,
/// so a run that is not killed never ends with its own trash or intents left.
///
/// Order of one job, and why a kill at any moment keeps every chunk its replicas: the trash is
/// not counted as a replica by anything (the re-count that allowed it verified the others,
/// under holds, before the rename), so removing it later changes no count. The job removes the
/// trash (`remove_task_dirs`, which makes the removal durable with the volume root's fsync) and
/// only then the task's intent on that volume. So a kill leaves either the trash together with
/// the intent naming its chunk — the state of a move killed after its trash, which recovery
/// finishes (it re-counts, then removes the trash, or renames it back when the chunk would be
/// short) — or that intent alone, which recovery removes. Never a trash without its intent:
/// recovery would leave that alone for good. The task's other intents (the destination's) may
/// go before or after; recovery reads the chunk and both places from whichever is left, and an
/// intent whose task's replicas are all where the task left them is simply removed.
namespace clsync::core {

class TrashRemover {
public:
  /// `lanes`: the most jobs running at once on one volume of each node; `other_lanes` for a
  /// node it does not list.
  TrashRemover(Context& ctx, std::map<std::string, int> lanes, int other_lanes);
  ~TrashRemover();
  TrashRemover(const TrashRemover&) = delete;
  TrashRemover& operator=(const TrashRemover&) = delete;

  /// Queues the removal of task `task`'s trash on `at` (when `trash`), then of its intent
  /// there. A transient failure (a dropped connection, an sshd restarting) is retried for about
  /// 4 s, then, and at once for any other failure, the job is warned about and left to the next
  /// run's recovery (the intent stays with the trash); never throws for a node's failure. Runs
  /// the job in the caller's thread when no thread can be started.
  void remove_later(const Place& at, const std::string& task, bool trash);

  /// Waits until every queued job ran, then ends the threads. Returns the jobs that failed.
  std::uint64_t drain();

  /// Jobs queued so far (tests).
  std::uint64_t queued() const;

private:
  struct Job {
    std::string task;
    bool trash = false;
  };
  struct Queue {
    std::deque<Job> jobs;
    std::vector<std::thread> threads;
    int idle = 0;  ///< threads waiting for a job
    bool gave_up = false; ///< the last job failed through its retries
  };
  void loop(const Place& at, Queue& q);
  void run_job(const Place& at, const Job& job, Queue& q);
  void remove_now(const Place& at, const Job& job);

  Context& m_ctx;
  const std::map<std::string, int> m_lanes;
  const int m_other_lanes;
  mutable std::mutex m_mutex;
  std::condition_variable m_changed;
  std::map<std::pair<std::string, std::string>, Queue> m_queues; ///< (node, volume)
  bool m_draining = false;
  std::uint64_t m_queued = 0;
  std::uint64_t m_failed = 0;
};

} // namespace clsync::core
