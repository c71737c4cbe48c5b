// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/executor.hpp"

#include "core/error.hpp"
#include "core/exceptions.hpp"
#include "core/run/recount.hpp"
#include "core/plan/replica_planner.hpp"
#include "core/run/rename_batch.hpp"
#include "core/run/task_steps.hpp"
#include "core/run/transfer.hpp"
#include "core/run/trash_remover.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

namespace clsync::core {
namespace {

using SysClock = std::chrono::system_clock;

/// The nodes a task occupies for --per-node (one entry when both ends are on one node).
std::vector<std::string> task_nodes(const Move& m)
{
  return m.nodes();
}

/// --per-node 0 (the default) for a `host: local` node. Its tasks are this machine's own I/O:
/// each waits mostly on fsyncs and cold reads of one small file after another, so two at a
/// time leave the disk's queue nearly empty (bench/README "Local move: helper movelocal":
/// 2 → 8 in flight took a 133-chunk local move from 17 s to about 5 s under load). A remote
/// node keeps 2: its tasks share one SSH link and the node's disks with its own workload.
constexpr int k_local_per_node = 8;
constexpr int k_remote_per_node = 2;

/// Every node's --per-node limit: the option when given, else by where the node is.
std::map<std::string, int> per_node_limits(const Context& ctx, int option)
{
  std::map<std::string, int> limits;
  if (ctx.topology) {
    for (const auto& n : ctx.topology->nodes) {
      limits[n.name] = option > 0 ? option : (n.is_local() ? k_local_per_node : k_remote_per_node);
    }
  }
  return limits;
}

/// --concurrency 0: 2 × nodes, and at least a local node's own limit when there is one.
std::size_t default_workers(const Context& ctx, int per_node_option)
{
  const std::size_t nodes = ctx.topology ? ctx.topology->nodes.size() : 1;
  std::size_t n = 2 * nodes;
  if (ctx.topology && per_node_option == 0 &&
      std::any_of(ctx.topology->nodes.begin(), ctx.topology->nodes.end(),
                  [](const auto& node) { return node.is_local(); })) {
    n = std::max<std::size_t>(n, k_local_per_node);
  }
  return n;
}

/// Runs --on-move hooks on a thread of its own, one at a time in the order tasks finished, so a
/// slow hook holds neither a worker nor a node's --per-node slot. After a stop request the hooks
/// still queued are not run (each is reported); the running one is killed by run_hook.
class OnMoveRunner {
public:
  OnMoveRunner(Context& ctx, const ExecSettings& settings) : m_ctx(ctx), m_settings(settings)
  {
    m_limits.timeout = std::chrono::seconds(settings.write.hook_timeout_s);
    m_limits.stopping = [&ctx] { return ctx.stopping(); };
    if (!settings.write.on_move.empty()) {
      m_thread = std::thread([this] { loop(); });
    }
  }
  ~OnMoveRunner() { finish(); }
  OnMoveRunner(const OnMoveRunner&) = delete;
  OnMoveRunner& operator=(const OnMoveRunner&) = delete;

  void push(const Move& m, const std::string& id)
  {
    if (!m_thread.joinable()) {
      return;
    }
    std::lock_guard lock(m_mutex);
    m_queue.push_back({m, id});
    m_changed.notify_all();
  }
  /// Waits until every queued hook ran (or was skipped after a stop), then ends the thread.
  void finish()
  {
    if (!m_thread.joinable()) {
      return;
    }
    {
      std::lock_guard lock(m_mutex);
      m_done = true;
      m_changed.notify_all();
    }
    m_thread.join();
  }

private:
  void loop()
  {
    std::unique_lock lock(m_mutex);
    for (;;) {
      m_changed.wait(lock, [this] { return m_done || !m_queue.empty(); });
      if (m_queue.empty()) {
        return;
      }
      auto [m, id] = std::move(m_queue.front());
      m_queue.pop_front();
      lock.unlock();
      run_one(m, id);
      lock.lock();
    }
  }
  void run_one(const Move& m, const std::string& id)
  {
    if (m_ctx.stopping()) {
      m_ctx.events->warning("--on-move not run for chunk " + m.chunk + ": the run was interrupted");
      return;
    }
    try {
      HookOutcome out =
          run_on_move_hook(m_settings.write.on_move, m_settings.run, m, id, m_limits);
      if (!out.ok()) {
        m_ctx.events->warning("--on-move " + out.describe() + " for chunk " + m.chunk);
      }
    } catch (...) {
      m_ctx.events->warning("--on-move for chunk " + m.chunk + ": " + current_exception_text());
    }
  }

  Context& m_ctx;
  const ExecSettings& m_settings;
  HookLimits m_limits;
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::deque<std::pair<Move, std::string>> m_queue;
  bool m_done = false;
  std::thread m_thread;
};

/// The result of a task that threw past run_task (which catches what it knows): a failure of that
/// task, recorded like any other, so that no exception type ends the process.
TaskResult
escaped_failure(TaskEnv& env, const Move& m, const std::string& id, const std::string& why)
{
  TaskResult r;
  r.id = id;
  r.move = m;
  r.state = "failed";
  r.error = "unexpected error: " + why;
  r.attempts = 1;
  try {
    TaskRecord rec;
    rec.id = id;
    rec.chunk = m.chunk;
    rec.kind = to_string(m.kind);
    rec.source = m.from;
    rec.destination = m.to;
    rec.bytes = m.bytes;
    rec.state = r.state;
    rec.delete_source = m.delete_source();
    rec.error = r.error;
    env.journal.record(rec);
    TaskEvent e;
    e.task = id;
    e.chunk = m.chunk;
    e.state = r.state;
    e.source = m.from.node + ":" + m.from.volume;
    e.destination = m.to.node + ":" + m.to.volume;
    e.bytes = m.bytes;
    e.error = r.error;
    env.ctx.events->task(e);
  } catch (...) {
    // Reporting is best effort here; the result carries the failure.
  }
  return r;
}

} // namespace

std::string ExecResult::result() const
{
  if (interrupted) {
    return "interrupted";
  }
  if (failed == 0 && journal_error.empty()) {
    return "ok";
  }
  return finished > 0 ? "partial" : "failed";
}

std::string task_id(const std::string& run_id, std::size_t n)
{
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04zu", n);
  return run_id + "-" + buf;
}

std::optional<SysClock::time_point> parse_until(const std::string& text)
{
  if (text.empty()) {
    return std::nullopt;
  }
  std::smatch m;
  static const std::regex hhmm(R"(^([01]?\d|2[0-3]):([0-5]\d)$)");
  if (std::regex_match(text, m, hhmm)) {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    tm.tm_hour = std::stoi(m[1]);
    tm.tm_min = std::stoi(m[2]);
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    std::time_t t = std::mktime(&tm);
    if (t <= now) {
      // "--until 06:00" typed at 23:00 means tomorrow morning.
      tm.tm_mday += 1;
      tm.tm_isdst = -1;
      t = std::mktime(&tm);
    }
    return SysClock::from_time_t(t);
  }
  static const std::regex rfc(
      R"(^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$)");
  if (std::regex_match(text, m, rfc)) {
    std::tm tm{};
    tm.tm_year = std::stoi(m[1]) - 1900;
    tm.tm_mon = std::stoi(m[2]) - 1;
    tm.tm_mday = std::stoi(m[3]);
    tm.tm_hour = std::stoi(m[4]);
    tm.tm_min = std::stoi(m[5]);
    tm.tm_sec = std::stoi(m[6]);
    std::time_t t = timegm(&tm);
    if (m[9].matched) {
      long off = std::stol(m[10]) * 3600 + std::stol(m[11]) * 60;
      t -= (m[9] == "+" ? off : -off);
    }
    return SysClock::from_time_t(t);
  }
  throw UsageError("--until: '" + text + "' is not a time",
                   "use HH:MM (local time) or RFC 3339, e.g. 2024-06-01T06:00:00Z");
}

ExecResult
execute_plan(Context& ctx, const Plan& plan, const ExecSettings& settings, Journal& journal)
{
  const auto started = std::chrono::steady_clock::now();
  const WriteOptions& w = settings.write;
  const std::size_t n = plan.moves.size();
  ExecResult result;
  result.tasks.resize(n);
  std::vector<std::string> ids(n);
  Progress progress;
  progress.tasks_total = n;
  progress.bytes_total = plan.bytes();

  for (std::size_t i = 0; i < n; ++i) {
    ids[i] = task_id(settings.run.run_id, i + 1);
    result.tasks[i].id = ids[i];
    result.tasks[i].move = plan.moves[i];
    result.tasks[i].state = "not_started";
    TaskRecord r;
    r.id = ids[i];
    r.chunk = plan.moves[i].chunk;
    r.kind = to_string(plan.moves[i].kind);
    r.source = plan.moves[i].from;
    r.destination = plan.moves[i].to;
    r.bytes = plan.moves[i].bytes;
    r.state = "queued";
    r.delete_source = plan.moves[i].delete_source();
    journal.record(r);
  }

  std::size_t workers = std::max<std::size_t>(
      1, std::min<std::size_t>(n, w.concurrency > 0 ? static_cast<std::size_t>(w.concurrency)
                                                    : default_workers(ctx, w.per_node)));
  // Every task streams through fixed buffers (a 1 MiB read block, at most one DATA frame of
  // 1 MiB in flight each way, zstd's windows), so --max-memory bounds the tasks run at once.
  constexpr std::uint64_t k_task_memory = 8ull << 20;
  const auto memory_workers =
      static_cast<std::size_t>(std::max<std::uint64_t>(1, w.max_memory / k_task_memory));
  if (w.max_memory > 0 && memory_workers < workers) {
    ctx.events->warning("--max-memory " + std::to_string(w.max_memory >> 20) + " MiB allows " +
                        std::to_string(memory_workers) + " concurrent tasks (8 MiB each), not " +
                        std::to_string(workers));
    workers = memory_workers;
  }
  const std::map<std::string, int> node_limits = per_node_limits(ctx, w.per_node);

  std::optional<Inventory> own_inventory;
  const Inventory* before = settings.inventory;
  if (!before) {
    own_inventory = take_inventory(ctx.topo(), *ctx.nodes, {}, *ctx.events);
    before = &*own_inventory;
  }
  Recount recount(ctx, *before, settings.run.run_id);
  // Units of work: one move each, or a batch of same-filesystem renames (rename_batch.hpp).
  const std::vector<std::vector<std::size_t>> units = rename_batch_units(plan, *before);

  RateLimits limits(w.bwlimit, w.bwlimit_per_node);
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<bool> taken(n, false);
  std::map<std::string, int> busy;
  auto node_has_room = [&](const std::string& nd) {
    auto it = node_limits.find(nd);
    const int limit = it != node_limits.end() ? it->second
                                              : (w.per_node > 0 ? w.per_node : k_remote_per_node);
    return busy[nd] < limit;
  };
  std::set<std::string> busy_chunks;  ///< chunks a running task works on
  std::uint64_t bytes_scheduled = 0;
  std::size_t running = 0;

  std::map<std::string, int> max_busy;
  auto last_byte = std::chrono::steady_clock::now();
  auto report = [&] { ctx.events->progress(progress); };
  auto on_bytes = [&](std::uint64_t b) {
    std::lock_guard lock(mutex);
    progress.bytes_done += b;
    progress.stalled_s = 0;
    last_byte = std::chrono::steady_clock::now();
    report();
  };
  DirectRoutes direct_routes(ctx.nodes->topology(), w.direct_only);
  TransferCounters transfer_counters;
  // Declared before the workers' state it outlives: drained after they end (below).
  TrashRemover remover(ctx, node_limits, w.per_node > 0 ? w.per_node : k_remote_per_node);
  TaskEnv env{ctx,      journal,        settings,           limits,  on_bytes,
              &recount, &direct_routes, &transfer_counters, &remover};
  OnMoveRunner on_move(ctx, settings);

  // Why no further task may start; empty while tasks may start. Called under the mutex.
  auto held_by = [&]() -> std::string {
    if (ctx.stopping()) {
      return "interrupted";
    }
    if (settings.hold && settings.hold()) {
      return "lease lost";
    }
    if (!journal.write_error().empty()) {
      return "journal";
    }
    if (w.max_bytes > 0 && bytes_scheduled >= w.max_bytes) {
      return "max-bytes";
    }
    if (settings.until && SysClock::now() >= *settings.until) {
      return "until";
    }
    return {};
  };

  auto worker = [&] {
    std::unique_lock lock(mutex);
    for (;;) {
      std::optional<std::size_t> pick;  // a unit
      bool any_left = false;
      if (std::string why = held_by(); !why.empty()) {
        if (result.stopped_by.empty()) {
          result.stopped_by = why;
        }
        return;
      }
      for (std::size_t u = 0; u < units.size(); ++u) {
        const std::size_t i = units[u].front();
        if (taken[i]) {
          continue;
        }
        any_left = true;
        if (units[u].size() == 1 && busy_chunks.count(plan.moves[i].chunk)) {
          continue;  // one task per chunk at a time: the later move waits for the earlier
        }
        auto nodes = task_nodes(plan.moves[i]);  // a batch's moves share their node
        if (std::all_of(nodes.begin(), nodes.end(), node_has_room)) {
          pick = u;
          break;
        }
      }
      if (!any_left) {
        return;
      }
      if (!pick) {
        // Every remaining task touches a busy node: wait for one to finish (and wake now and
        // then to see a stop request or --until).
        changed.wait_for(lock, std::chrono::milliseconds(200));
        continue;
      }
      const std::vector<std::size_t>& unit = units[*pick];
      const Move& m = plan.moves[unit.front()];
      for (const auto& nd : task_nodes(m)) {
        max_busy[nd] = std::max(max_busy[nd], ++busy[nd]);
      }
      for (std::size_t i : unit) {
        taken[i] = true;
        bytes_scheduled += plan.moves[i].bytes;
      }
      if (unit.size() == 1) {
        busy_chunks.insert(m.chunk);  // a batch's chunks see no other task (rename_batch.hpp)
      }
      if (running++ == 0) {
        last_byte = std::chrono::steady_clock::now();
      }
      lock.unlock();

      std::vector<TaskResult> rs;
      if (unit.size() == 1) {
        try {
          rs.push_back(run_task(env, m, ids[unit.front()]));
        } catch (...) {
          rs.push_back(escaped_failure(env, m, ids[unit.front()], current_exception_text()));
        }
      } else {
        std::vector<const Move*> moves;
        std::vector<std::string> unit_ids;
        for (std::size_t i : unit) {
          moves.push_back(&plan.moves[i]);
          unit_ids.push_back(ids[i]);
        }
        try {
          rs = run_rename_batch(env, moves, unit_ids);
        } catch (...) {
          const std::string why = current_exception_text();
          rs.clear();
          for (std::size_t i : unit) {
            rs.push_back(escaped_failure(env, plan.moves[i], ids[i], why));
          }
        }
      }
      for (std::size_t k = 0; k < unit.size(); ++k) {
        if (rs[k].state == "finished") {
          on_move.push(plan.moves[unit[k]], ids[unit[k]]);
        }
      }

      lock.lock();
      for (const auto& nd : task_nodes(m)) {
        --busy[nd];
      }
      --running;
      if (unit.size() == 1) {
        busy_chunks.erase(m.chunk);
      }
      for (std::size_t k = 0; k < unit.size(); ++k) {
        const std::size_t i = unit[k];
        const TaskResult& r = rs[k];
        if (r.state == "finished") {
          ++result.finished;
          result.bytes += plan.moves[i].bytes;
          ++progress.tasks_done;
        } else if (r.state == "failed") {
          ++result.failed;
          ++progress.tasks_failed;
        } else if (r.state == "rolled_back") {
          ++result.rolled_back;
        }
        result.tasks[i] = std::move(rs[k]);
      }
      report();
      changed.notify_all();
    }
  };

  // Once a second while tasks run and no byte moved for a while, tell the sink how long: a
  // task held at its I/O deadline (a stopped sshd) must be visible, not a frozen bar.
  bool workers_done = false;
  std::thread watch([&] {
    constexpr auto k_quiet = std::chrono::seconds(2);
    std::unique_lock lock(mutex);
    while (!changed.wait_for(lock, std::chrono::seconds(1), [&] { return workers_done; })) {
      const auto quiet = std::chrono::steady_clock::now() - last_byte;
      if (running > 0 && quiet >= k_quiet) {
        progress.stalled_s = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::seconds>(quiet).count());
        report();
      }
    }
  });

  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < workers; ++t) {
    threads.emplace_back(worker);
  }
  for (auto& t : threads) {
    t.join();
  }
  // What finished tasks left to the remover goes before the run ends, its leases still held.
  remover.drain();
  {
    std::lock_guard lock(mutex);
    workers_done = true;
    progress.stalled_s = 0;
    changed.notify_all();
  }
  watch.join();
  on_move.finish();
  result.journal_error = journal.write_error();
  result.bytes_streamed = progress.bytes_done;
  result.bytes_charged = limits.charged();
  result.bytes_relayed = transfer_counters.relayed.load();
  result.bytes_direct = transfer_counters.direct.load();
  result.bytes_charged_per_node = limits.charged_per_node();
  result.max_busy_per_node = max_busy;

  for (std::size_t i = 0; i < n; ++i) {
    if (!taken[i]) {
      ++result.not_started;
      result.bytes_left += plan.moves[i].bytes;
    }
  }
  if (result.not_started == 0 && result.stopped_by != "interrupted") {
    result.stopped_by.clear();
  }
  result.interrupted = ctx.stopping();
  if (result.interrupted) {
    result.stopped_by = "interrupted";
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

} // namespace clsync::core
