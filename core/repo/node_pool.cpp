// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/node_pool.hpp"

#include "core/exceptions.hpp"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace clsync::core::repo {
namespace {

/// How far past the first waiting job a worker looks for one whose node has a free slot.
constexpr std::size_t k_lookahead = 4096;

struct PoolState {
  std::vector<PoolJob>& jobs;
  const PoolLimits& limits;
  std::mutex m;
  std::condition_variable cv;
  std::vector<char> started;
  std::size_t first = 0;  ///< every job before it has started
  std::map<std::string, int> busy;
  std::map<std::string, int> max_busy;
  std::uint64_t started_bytes = 0;
  std::string stopped_by;

  /// The next job with a candidate node under its per-node limit, and that node; caller locks.
  bool pick(std::size_t& job, std::string& node)
  {
    while (first < jobs.size() && started[first]) {
      ++first;
    }
    const std::size_t end = std::min(jobs.size(), first + k_lookahead);
    for (std::size_t i = first; i < end; ++i) {
      if (started[i]) {
        continue;
      }
      const std::string* best = nullptr;
      int best_busy = limits.per_node;
      for (const auto& c : jobs[i].candidates) {
        const int b = busy[c];
        if (b < best_busy) {
          best = &c;
          best_busy = b;
        }
      }
      if (best) {
        job = i;
        node = *best;
        return true;
      }
    }
    return false;
  }

  bool all_started() const { return first >= jobs.size(); }

  void worker()
  {
    std::unique_lock lock(m);
    while (true) {
      if (!stopped_by.empty()) {
        return;
      }
      std::size_t job = 0;
      std::string node;
      if (!pick(job, node)) {
        if (all_started()) {
          return;
        }
        cv.wait(lock);
        continue;
      }
      if (limits.hold) {
        std::string why = limits.hold(started_bytes);
        if (!why.empty()) {
          stopped_by = why;
          cv.notify_all();
          return;
        }
      }
      started[job] = 1;
      started_bytes += jobs[job].bytes;
      const int b = ++busy[node];
      max_busy[node] = std::max(max_busy[node], b);
      lock.unlock();
      try {
        jobs[job].run(node, b);
      } catch (...) {
        if (limits.on_error) {
          limits.on_error(job, current_exception_text());
        }
      }
      lock.lock();
      --busy[node];
      cv.notify_all();
    }
  }
};

} // namespace

PoolOutcome run_pool(std::vector<PoolJob>& jobs, const PoolLimits& limits)
{
  PoolState st{jobs, limits, {}, {}, std::vector<char>(jobs.size(), 0), 0, {}, {}, 0, {}};
  // A job without candidates can never start: it is the caller's to leave out.
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].candidates.empty()) {
      st.started[i] = 1;
    }
  }
  const int n = std::max(1, std::min<int>(limits.concurrency, static_cast<int>(jobs.size())));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&st] { st.worker(); });
  }
  for (auto& t : threads) {
    t.join();
  }
  PoolOutcome out;
  out.stopped_by = st.stopped_by;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (!st.started[i]) {
      ++out.not_started;
    }
  }
  out.max_busy.assign(st.max_busy.begin(), st.max_busy.end());
  return out;
}

} // namespace clsync::core::repo
