// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/writing_run.hpp"

#include "core/cluster/inventory.hpp"
#include "core/plan/plan_check.hpp"
#include "core/plan/replica_planner.hpp"
#include "core/run/hooks.hpp"
#include "core/run/journal.hpp"
#include "core/run/leases.hpp"
#include "core/units.hpp"

#include <map>
#include <set>

namespace clsync::core {
namespace {

void add_notes(std::vector<PlanNote>& to, const std::vector<PlanNote>& from)
{
  to.insert(to.end(), from.begin(), from.end());
}

/// The run's exit code and notes from what execution did.
void conclude(Context& ctx, const ExecResult& exec, RunResult& res)
{
  if (exec.not_started > 0) {
    const char* why = exec.stopped_by == "max-bytes"    ? "--max-bytes reached"
                      : exec.stopped_by == "until"      ? "--until passed"
                      : exec.stopped_by == "lease lost" ? "a lease was lost"
                      : exec.stopped_by == "journal"    ? "the task journal could not be written"
                                                        : "interrupted";
    res.notes.push_back({"", std::to_string(exec.not_started) + " tasks (" +
                                 format_size(exec.bytes_left) + ") not started: " + why +
                                 "; run again to continue"});
  }
  if (exec.interrupted) {
    res.code = ExitCode::interrupted;
  } else if (exec.failed > 0) {
    res.code = exec.finished > 0 ? ExitCode::partial : ExitCode::failed;
  }
  if (res.recovery.sets_pending > 0 && res.code == ExitCode::ok) {
    // A commit set waits for a participant that is out of sight: its chunk is not done yet.
    res.code = ExitCode::partial;
  }
  if (!exec.journal_error.empty()) {
    // What ran is not all on record: the run is not done, whatever its tasks did.
    res.notes.push_back({"", exec.journal_error + "; no task was started after it"});
    ctx.events->warning(exec.journal_error + "; no new task is started");
    if (res.code == ExitCode::ok) {
      res.code = exec.finished > 0 ? ExitCode::partial : ExitCode::failed;
    }
  }
}

/// The nodes the run leases and its recovery looks at: the job's, else every node reached and
/// not excluded.
std::vector<std::string> nodes_to_lease(const WritingJob& job, const Inventory& inv)
{
  std::vector<std::string> nodes = job.lease_nodes;
  if (nodes.empty()) {
    for (const auto& n : inv.nodes) {
      if (n.reachable && !n.excluded) {
        nodes.push_back(n.name);
      }
    }
  }
  return nodes;
}

/// Takes out of `plan` every move of a chunk in `held` (chunk → why: a commit set of it that
/// recovery cannot end yet), so that no command writes, moves or removes a replica of a chunk
/// whose replicas are still being decided: a write elsewhere would add a replica the set's
/// return makes surplus, a replacement would race it. One note per chunk taken out, also
/// returned.
std::vector<PlanNote> hold_out(Plan& plan, const std::map<std::string, std::string>& held)
{
  std::vector<PlanNote> added;
  if (held.empty()) {
    return added;
  }
  std::set<std::string> taken;
  std::erase_if(plan.moves, [&](const Move& m) {
    return held.count(m.chunk) && (taken.insert(m.chunk), true);
  });
  for (const auto& chunk : taken) {
    added.push_back({chunk, "left out of this run: " + held.at(chunk) +
                                "; a run that sees every participant ends it first"});
  }
  add_notes(plan.notes, added);
  return added;
}

} // namespace

void validate_write(const WriteOptions& w)
{
  if (w.concurrency < 0) {
    throw UsageError("--concurrency must be 0 (2 x nodes) or more");
  }
  if (w.per_node < 0) {
    throw UsageError("--per-node must be 1 or more (0 in the options: 2, or 8 on a local node)");
  }
  if (w.retries < 0) {
    throw UsageError("--retries must be 0 or more");
  }
  if (!(w.headroom >= 0 && w.headroom < 1)) {
    throw UsageError("--headroom must be a fraction in [0, 1), e.g. 0.05");
  }
  if (w.lease_ttl_s < 1) {
    throw UsageError("--lease-ttl must be 1 second or more");
  }
  // Measured: clsync's code and libraries alone peak at about 13 MiB in a sync of one task at
  // a time, before any task's buffers (8 MiB each): a smaller bound could not be kept.
  constexpr std::uint64_t k_min_max_memory = 16ull << 20;
  if (w.max_memory < k_min_max_memory) {
    throw UsageError("--max-memory " + format_size(w.max_memory) +
                         " is below its minimum of 16M: clsync itself takes about 13 MiB, "
                         "and every task needs buffers (8 MiB each)",
                     "leave it out for the default 256M, or pass e.g. --max-memory 64M");
  }
  if (w.hook_timeout_s < 1) {
    throw UsageError("--hook-timeout must be 1 second or more");
  }
}

RunResult run_writing_job(Context& ctx, const WritingJob& job)
{
  const Topology& topo = ctx.topo();
  const WriteOptions& w = job.write;
  validate_write(w);
  const auto until = parse_until(w.until);
  if (w.compress) {
    // Nodes connect lazily, so nothing was opened yet: reopen them with zstd on the wire.
    ConnectOptions c = ctx.connect;
    c.compress = true;
    c.connections = ctx.nodes->connections();
    ctx.nodes = std::make_shared<NodeSet>(topo, c);
  }
  RunResult res;
  res.command = job.command;
  res.dry_run = w.dry_run;

  InventoryOptions io;
  io.exclude_nodes = w.exclude_nodes;
  io.verify = job.verify;
  auto inventory = [&] {
    Inventory inv = take_inventory(topo, *ctx.nodes, io, *ctx.events);
    check_reachable(inv);
    return inv;
  };
  // The pre-run checks and the plan, from one inventory (again after recovery changed things),
  // without the chunks of commit sets recovery cannot end now (and those in `held`).
  auto make_plan = [&](const Inventory& inv, std::vector<PlanNote>& notes,
                       const std::map<std::string, std::string>& held) {
    if (!job.exempt_from_degraded) {
      check_not_degraded(inv, w.allow_degraded);
    }
    ctx.events->phase("plan");
    Plan plan;
    std::vector<PlanNote> stale;
    if (job.plan_opts && !job.plan_opts->plan_in.empty()) {
      plan = load_plan(job.plan_opts->plan_in);
      if (plan.command != job.command) {
        throw UsageError("the plan " + job.plan_opts->plan_in + " is for '" + plan.command +
                         "', not '" + job.command + "'");
      }
      stale = revalidate_plan(plan, inv, topo, w.exclude_nodes);
    } else {
      plan = job.planner(inv);
    }
    plan.command = job.command;
    plan.cluster = topo.cluster;
    auto waiting = held_by_commit_sets(inv, nodes_to_lease(job, inv));
    waiting.insert(held.begin(), held.end());
    hold_out(plan, waiting);
    if (job.check) {
      job.check(plan, inv);
    } else {
      validate_plan(plan, inv);
      check_room(plan, inv, w.headroom);
    }
    notes = plan.notes;
    add_notes(notes, stale);
    return plan;
  };

  Inventory inv = inventory();
  res.plan = make_plan(inv, res.notes, {});
  if (job.plan_opts && !job.plan_opts->plan_out.empty()) {
    save_plan(res.plan, job.plan_opts->plan_out);
  }
  if (w.dry_run) {
    return res;
  }

  res.run_id = new_run_id();
  HookRun hook{res.run_id, job.command, topo.cluster};
  const HookLimits hook_limits{std::chrono::seconds(w.hook_timeout_s),
                               [&ctx] { return ctx.stopping(); }};
  run_pre_hook(w.pre_hook, hook, hook_limits);

  const std::vector<std::string> lease_nodes = nodes_to_lease(job, inv);
  LeaseSet leases(*ctx.nodes, lease_nodes, {res.run_id, job.command, w.lease_ttl_s, w.break_lock},
                  *ctx.events);

  ctx.events->phase("recovery");
  res.recovery = recover(ctx, inv, lease_nodes);
  for (const auto& n : res.recovery.notes) {
    res.notes.push_back({"", "recovery: " + n});
  }
  if (res.recovery.acted()) {
    // Plans come from the real state: after recovery changed it, look again.
    inv = inventory();
    std::vector<PlanNote> notes;
    res.plan = make_plan(inv, notes, res.recovery.held_chunks);
    for (auto& n : res.notes) {
      if (n.reason.rfind("recovery: ", 0) == 0) {
        notes.push_back(n);
      }
    }
    res.notes = std::move(notes);
  } else {
    add_notes(res.notes, hold_out(res.plan, res.recovery.held_chunks));
  }

  Journal journal(ctx.state_dir, topo.cluster, res.run_id, job.command);
  res.journal = journal.path().string();
  ExecSettings settings;
  settings.write = w;
  settings.run = hook;
  settings.until = until;
  settings.hold = [&leases] { return leases.lost(); };
  settings.inventory = &inv;
  settings.source = job.source;
  ctx.events->phase("execute");
  ExecResult exec = execute_plan(ctx, res.plan, settings, journal);
  journal.finish(exec.result(), exec.bytes, exec.finished, exec.failed);
  leases.release();

  conclude(ctx, exec, res);
  const HookOutcome post = run_post_hook(w.post_hook, hook, exec.result(), hook_limits);
  res.post_hook_status = post.status;
  if (!post.ok()) {
    ctx.events->warning("--post-hook " + post.describe());
  }
  if (post.interrupted) {
    res.code = ExitCode::interrupted;
  }
  res.exec = std::move(exec);
  return res;
}

} // namespace clsync::core
