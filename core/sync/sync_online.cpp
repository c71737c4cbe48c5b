// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/sync/sync_online.hpp"

#include "core/cluster/filter.hpp"
#include "core/fault.hpp"
#include "core/cluster/inventory.hpp"
#include "core/plan/plan_check.hpp"
#include "core/repo/placement.hpp"
#include "core/sync/sync_compare.hpp"
#include "core/sync/sync_plan.hpp"
#include "core/sync/sync_source.hpp"
#include "core/sync/sync_state.hpp"
#include "core/units.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

namespace clsync::core::sync {
namespace {

std::int64_t now_ns()
{
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void validate(const SyncOptions& opts)
{
  validate_write(opts.write);
  if (opts.parallel < 0) {
    throw UsageError("--parallel must be 0 (2 per source node) or more");
  }
  if (!opts.del && opts.max_delete != "50%") {
    throw UsageError("--max-delete goes with --delete");
  }
  if (opts.del) {
    parse_count_or_percent(opts.max_delete, 0, "--max-delete");  // throws UsageError when malformed
  }
}

/// Reopens `ctx`'s nodes with zstd on the wire (nodes connect lazily: nothing was opened yet).
void reopen_compressed(Context& ctx)
{
  ConnectOptions c = ctx.connect;
  c.compress = true;
  c.connections = ctx.nodes->connections();
  ctx.nodes = std::make_shared<NodeSet>(ctx.topo(), c);
}

/// Opens a session to each SSH node of B while A's inventory runs, so that the two clusters'
/// connects (handshake, login shell, agent start: most of a round with nothing to copy)
/// overlap instead of adding up; B's inventory then finds them open. It only reads (a lease
/// query), and its errors are left to B's inventory: a node's failed connect is remembered by
/// its gate for the run, so an unreachable node still costs one connect timeout. Skipped when
/// B's sessions would not stay open: more SSH nodes than --connections (the inventory closes
/// them), or --compress (the run reopens B's nodes with zstd).
class ConnectAhead {
public:
  ConnectAhead(Context& b, const SyncOptions& opts)
  {
    std::vector<const NodeSpec*> remote;
    for (const auto& n : b.topo().nodes) {
      const auto& ex = opts.write.exclude_nodes;
      if (!n.is_local() && !n.volumes.empty() &&
          std::find(ex.begin(), ex.end(), n.name) == ex.end()) {
        remote.push_back(&n);
      }
    }
    if (opts.write.compress || remote.empty() ||
        remote.size() > static_cast<std::size_t>(b.nodes->connections())) {
      return;
    }
    for (const NodeSpec* n : remote) {
      m_threads.emplace_back([nodes = b.nodes, name = n->name, volume = n->volumes.front()] {
        try {
          (void)nodes->get(name)->read_lease(volume);
        } catch (...) {
          // B's inventory reports it (see above).
        }
      });
    }
  }
  ConnectAhead(const ConnectAhead&) = delete;
  ConnectAhead& operator=(const ConnectAhead&) = delete;
  ~ConnectAhead() { join(); }
  void join()
  {
    for (auto& t : m_threads) {
      t.join();
    }
    m_threads.clear();
  }

private:
  std::vector<std::thread> m_threads;
};

/// What a round knows of A (taken once, before B is looked at).
struct SourceView {
  Inventory inv;
  std::vector<const Chunk*> selected;
};

SourceView inventory_source(Context& a, const SyncOptions& opts)
{
  InventoryOptions io;
  io.verify = opts.checksum;
  // Only the databases the filter can select are read: `--db Level1` need not walk the rest
  // (the bench's no-change round of one of two databases walked twice the files it needed).
  const ChunkFilter filter(opts.filter, a.topo());
  for (const auto& db : a.topo().databases) {
    if (!filter.may_select_database(db.name)) {
      io.skip_databases.push_back(db.name);
    }
  }
  a.events->phase("inventory of the source " + a.topo().cluster);
  SourceView v;
  v.inv = take_inventory(a.topo(), *a.nodes, io, *a.events);
  v.selected = select_chunks(v.inv, a.topo(), opts.filter);
  return v;
}

/// The writer's keep test for --columns (empty: every file).
std::function<bool(const std::string&)> column_filter(const SyncOptions& opts, const Topology& t)
{
  if (opts.filter.columns.empty()) {
    return {};
  }
  auto filter = std::make_shared<ChunkFilter>(opts.filter, t);
  return [filter](const std::string& path) { return filter->keeps_file(path); };
}

/// Records in the state what the round copied; forgets chunks A no longer has. Returns whether
/// anything changed: a round that copied nothing need not rewrite it (two fsyncs of a file of
/// ~500 bytes a chunk, in every no-change round).
bool update_state(SyncState& state,
                  const Comparison& cmp,
                  const SyncSource& source,
                  const std::set<std::string>& finished)
{
  bool changed = false;
  for (const auto& d : cmp.chunks) {
    if (d.state == ChunkState::extra) {
      changed = state.chunks.erase(d.key) > 0 || changed;
      continue;
    }
    if (!finished.count(d.key)) {
      continue;
    }
    const ChunkCopy copy = source.copy_of(d.key);
    if (copy.a.node.empty()) {
      continue;
    }
    changed = true;
    SyncedChunk& st = state.chunks[d.key];
    if (d.state == ChunkState::under && st.a_node == copy.a.node &&
        st.a_volume == copy.a.volume && st.a_fingerprint == copy.a_fingerprint) {
      st.b.insert(st.b.end(), copy.written.begin(), copy.written.end());  // replicas added
    } else {
      st = {copy.a.node, copy.a.volume, copy.a_fingerprint, copy.content_hash, copy.written};
    }
  }
  return changed;
}

/// The lag left after the round: chunks whose copy or delete did not finish still count.
Lag lag_after(const Comparison& cmp, const std::set<std::string>& finished,
              const std::set<std::string>& deleted)
{
  Lag lag;
  std::int64_t oldest = 0;
  bool any = false;
  for (const auto& d : cmp.chunks) {
    if (d.state == ChunkState::extra) {
      lag.extra += deleted.count(d.key) ? 0 : 1;
      continue;
    }
    if ((d.state != ChunkState::missing && d.state != ChunkState::differing) ||
        finished.count(d.key)) {
      continue;
    }
    ++(d.state == ChunkState::missing ? lag.missing : lag.differing);
    lag.bytes += d.bytes;
    oldest = any ? std::min(oldest, d.newest_mtime_ns) : d.newest_mtime_ns;
    any = true;
  }
  if (any) {
    lag.seconds = std::max(0.0, static_cast<double>(now_ns() - oldest) / 1e9);
  }
  return lag;
}

/// Counts what the copy run did; returns the chunks whose task finished.
std::set<std::string> tally_copies(const RunResult& run, const SyncSource& source, RoundResult& res)
{
  std::set<std::string> finished;
  if (!run.exec) {
    return finished;
  }
  for (const auto& t : run.exec->tasks) {
    if (t.move.kind != MoveKind::write) {
      continue;
    }
    if (t.state == "finished") {
      finished.insert(t.move.chunk);
      ++res.copied;
      res.bytes += source.copy_of(t.move.chunk).bytes;
    } else if (t.state == "failed") {
      ++res.failed;
      res.errors.push_back(t.error);
    }
  }
  return finished;
}

std::set<std::string> tally_deletes(const RunResult& run, RoundResult& res)
{
  std::map<std::string, bool> all;  // chunk → every replica removed
  if (run.exec) {
    for (const auto& t : run.exec->tasks) {
      if (t.move.kind != MoveKind::remove) {
        continue;
      }
      auto [it, fresh] = all.emplace(t.move.chunk, true);
      if (t.state != "finished") {
        it->second = false;
        if (t.state == "failed") {
          res.errors.push_back(t.error);
        }
      }
    }
  }
  std::set<std::string> deleted;
  for (const auto& [key, ok] : all) {
    if (ok) {
      deleted.insert(key);
      ++res.deleted;
    } else {
      ++res.failed;
    }
  }
  return deleted;
}

ExitCode combine(ExitCode run, const RoundResult& res)
{
  if (run == ExitCode::interrupted) {
    return run;
  }
  if (res.failed > 0) {
    return res.copied + res.skipped + res.deleted > 0 ? ExitCode::partial : ExitCode::failed;
  }
  return run;
}

/// The second run of a round: --delete's removals, once every copy succeeded.
RunResult run_deletes(Context& b, const SyncOptions& opts, const SourceView& src,
                      const SyncState& state)
{
  WritingJob job{.command = "sync-online", .write = opts.write};
  job.exempt_from_degraded = true;
  job.planner = [&](const Inventory& inv) {
    const auto b_sel = select_chunks(inv, b.topo(), opts.filter);
    const Comparison cmp = compare_clusters(src.selected, b_sel, state, opts.checksum, now_ns());
    Plan plan;
    plan_deletes(cmp, b_sel.size(), opts.max_delete, plan);
    return plan;
  };
  job.check = [&](const Plan&, const Inventory& inv) {
    check_others_healthy(inv, b.topo(), opts.filter, opts.write.allow_degraded);
  };
  return run_writing_job(b, job);
}

} // namespace

RoundResult sync_round(Context& a, Context& b, const SyncOptions& opts)
{
  const auto started = std::chrono::steady_clock::now();
  validate(opts);
  if (opts.write.compress) {
    reopen_compressed(a);
  }
  RoundResult res;
  ConnectAhead connect_b(b, opts);
  const SourceView src = inventory_source(a, opts);
  connect_b.join();
  const auto state_file = sync_state_path(b.state_dir, a.topo().cluster, b.topo().cluster);
  SyncState state = load_sync_state(state_file);
  if (opts.del) {
    check_source_for_delete(src.inv, src.selected, state, a.topo(), opts.filter);
  }

  std::map<std::string, std::vector<Place>> replicas;
  for (const Chunk* c : src.selected) {
    for (const auto& r : c->replicas) {
      if (!r.duplicate) {
        replicas[c->key].push_back({r.node, r.volume});
      }
    }
  }
  SyncSource source(*a.nodes, b, std::move(replicas), column_filter(opts, a.topo()));
  SyncOptions run_opts = opts;
  if (run_opts.write.concurrency == 0) {
    run_opts.write.concurrency =
        opts.parallel > 0 ? opts.parallel : 2 * static_cast<int>(a.topo().nodes.size());
  } else if (opts.parallel > 0) {
    run_opts.write.concurrency = std::min(run_opts.write.concurrency, opts.parallel);
  }

  Comparison cmp;
  bool deletes_in_first_run = false;
  WritingJob job{.command = "sync-online", .write = run_opts.write};
  job.exempt_from_degraded = true;
  job.verify = opts.checksum;
  job.source = &source;
  job.planner = [&](const Inventory& inv) {
    const auto b_sel = select_chunks(inv, b.topo(), opts.filter);
    cmp = compare_clusters(src.selected, b_sel, state, opts.checksum, now_ns());
    Placement placement(inv, b.topo(), opts.write.headroom, opts.write.exclude_nodes);
    Plan plan = plan_copies(cmp, b.topo(), placement, a.topo().cluster);
    if (opts.del) {
      Plan removals;
      plan_deletes(cmp, b_sel.size(), opts.max_delete, removals);  // refuses past the limit
      deletes_in_first_run = opts.write.dry_run || plan.moves.empty();
      if (deletes_in_first_run) {
        plan.moves.insert(plan.moves.end(), removals.moves.begin(), removals.moves.end());
      }
    }
    return plan;
  };
  job.check = [&](const Plan& plan, const Inventory& inv) {
    check_others_healthy(inv, b.topo(), opts.filter, opts.write.allow_degraded);
    check_room(plan, inv, opts.write.headroom);
  };
  res.run = run_writing_job(b, job);
  res.lag_before = cmp.lag;
  for (const auto& d : cmp.chunks) {
    res.skipped += d.state == ChunkState::same ? 1 : 0;
  }
  const std::set<std::string> finished = tally_copies(*res.run, source, res);
  std::set<std::string> deleted;
  if (opts.write.dry_run) {
    res.lag_after = res.lag_before;
    res.deleted = cmp.lag.extra * (opts.del ? 1 : 0);
    res.copied = res.run->plan.moves.size() - res.deleted;
  } else {
    deleted = tally_deletes(*res.run, res);
    const bool clean = res.failed == 0 && res.run->code == ExitCode::ok &&
                       (!res.run->exec || res.run->exec->not_started == 0);
    if (opts.del && !deletes_in_first_run && clean) {
      RunResult second = run_deletes(b, run_opts, src, state);
      deleted = tally_deletes(second, res);
      if (second.code != ExitCode::ok && res.run->code == ExitCode::ok) {
        res.run->code = second.code;
      }
    } else if (opts.del && !deletes_in_first_run) {
      res.errors.push_back("--delete: nothing deleted, since this round had failures or "
                           "tasks left; the next complete round deletes");
    }
    if (update_state(state, cmp, source, finished)) {
      fault_point("sync_before_state_save");
      save_sync_state(state_file, state);
      fault_point("sync_after_state_save");
    }
    res.lag_after = lag_after(cmp, finished, deleted);
  }
  res.code = combine(res.run->code, res);
  if (res.code == ExitCode::ok && opts.max_lag &&
      res.lag_after.seconds > static_cast<double>(opts.max_lag->count())) {
    res.code = ExitCode::unhealthy;
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return res;
}

} // namespace clsync::core::sync
