// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/rebalance.hpp"

#include "core/error.hpp"
#include "core/cluster/filter.hpp"
#include "core/run/hooks.hpp"
#include "core/cluster/inventory.hpp"
#include "core/run/journal.hpp"
#include "core/run/leases.hpp"
#include "core/plan/plan_check.hpp"
#include "core/plan/replica_planner.hpp"
#include "core/units.hpp"

#include <algorithm>
#include <functional>

namespace clsync::core {
namespace {

using Planner = std::function<Plan(const Inventory&)>;

/// One writing command, described for the common run below.
struct Job {
  std::string command;
  const WriteOptions& write;
  const PlanOptions* plan_opts = nullptr; ///< --plan/--plan-out, when the command has them
  bool exempt_from_degraded = false;      ///< repair
  bool verify = false;                    ///< content hashes in the inventory (--fix-duplicates)
  std::vector<std::string> lease_nodes;   ///< empty: every node taking part
  Planner planner;
};

void validate_write(const WriteOptions& w)
{
  if (w.concurrency < 0) {
    throw UsageError("--concurrency must be 0 (2 x nodes) or more");
  }
  if (w.per_node < 1) {
    throw UsageError("--per-node must be 1 or more");
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
  if (w.max_memory == 0) {
    throw UsageError("--max-memory must be more than 0: every task needs buffers (8 MiB each)",
                     "leave it out for the default 256M, or pass e.g. --max-memory 64M");
  }
  if (w.hook_timeout_s < 1) {
    throw UsageError("--hook-timeout must be 1 second or more");
  }
}

ChunkPredicate predicate_of(const FilterOptions& f, const Topology& topo)
{
  ChunkFilter filter(f, topo);
  if (filter.selects_all()) {
    return {};
  }
  return [filter](const Chunk& c) { return filter.matches(c); };
}

PlanParams params_of(const PlanOptions* po, const WriteOptions& w, ChunkPredicate movable)
{
  PlanParams p;
  if (po) {
    p.by = parse_balance_by(po->by);
    p.threshold = po->threshold;
    if (!po->min_age.empty()) {
      p.min_age = parse_duration(po->min_age, "--min-age");
    }
  }
  p.now = std::chrono::system_clock::now();
  p.exclude_nodes = w.exclude_nodes;
  p.headroom = w.headroom;
  p.movable = std::move(movable);
  return p;
}

void add_notes(std::vector<PlanNote>& to, const std::vector<PlanNote>& from)
{
  to.insert(to.end(), from.begin(), from.end());
}

RebalanceResult run_job(Context& ctx, const Job& job)
{
  const Topology& topo = ctx.topo();
  const WriteOptions& w = job.write;
  validate_write(w);
  const auto until = parse_until(w.until);
  if (w.compress) {
    // Nodes connect lazily, so nothing was opened yet: reopen them with zstd on the wire.
    ConnectOptions c = ctx.connect;
    c.compress = true;
    ctx.nodes = std::make_shared<NodeSet>(topo, make_node_factory(c));
  }
  RebalanceResult res;
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
  // The pre-run checks and the plan, from one inventory (again after recovery changed things).
  auto make_plan = [&](const Inventory& inv, std::vector<PlanNote>& notes) {
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
    validate_plan(plan, inv);
    check_room(plan, inv, w.headroom);
    notes = plan.notes;
    add_notes(notes, stale);
    return plan;
  };

  Inventory inv = inventory();
  res.plan = make_plan(inv, res.notes);
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

  std::vector<std::string> lease_nodes = job.lease_nodes;
  if (lease_nodes.empty()) {
    for (const auto& n : inv.nodes) {
      if (n.reachable && !n.excluded) {
        lease_nodes.push_back(n.name);
      }
    }
  }
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
    res.plan = make_plan(inv, notes);
    for (auto& n : res.notes) {
      if (n.reason.rfind("recovery: ", 0) == 0) {
        notes.push_back(n);
      }
    }
    res.notes = std::move(notes);
  }

  Journal journal(ctx.state_dir, topo.cluster, res.run_id, job.command);
  res.journal = journal.path().string();
  ExecSettings settings;
  settings.write = w;
  settings.run = hook;
  settings.until = until;
  settings.hold = [&leases] { return leases.lost(); };
  settings.inventory = &inv;
  ctx.events->phase("execute");
  ExecResult exec = execute_plan(ctx, res.plan, settings, journal);
  journal.finish(exec.result(), exec.bytes, exec.finished, exec.failed);
  leases.release();

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
  if (!exec.journal_error.empty()) {
    // What ran is not all on record: the run is not done, whatever its tasks did.
    res.notes.push_back({"", exec.journal_error + "; no task was started after it"});
    ctx.events->warning(exec.journal_error + "; no new task is started");
    if (res.code == ExitCode::ok) {
      res.code = exec.finished > 0 ? ExitCode::partial : ExitCode::failed;
    }
  }
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

void merge_into(Plan& all, Plan&& one)
{
  for (auto& m : one.moves) {
    all.moves.push_back(std::move(m));
  }
  add_notes(all.notes, one.notes);
  all.before.insert(one.before.begin(), one.before.end());
  all.after.insert(one.after.begin(), one.after.end());
}

} // namespace

RebalanceResult rebalance_nodes(Context& ctx, const RebalanceNodesOptions& opts)
{
  const Topology& topo = ctx.topo();
  auto params = params_of(&opts.plan, opts.write, predicate_of(opts.filter, topo));
  Job job{"rebalance-nodes", opts.write, &opts.plan, false, false, {}, [&](const Inventory& inv) {
            return plan_node_rebalance(inv, topo, params);
          }};
  return run_job(ctx, job);
}

RebalanceResult rebalance_disks(Context& ctx, const RebalanceDisksOptions& opts)
{
  const Topology& topo = ctx.topo();
  if (opts.all_nodes == !opts.nodes.empty()) {
    throw UsageError("rebalance-disks needs --node NAME (repeatable) or --all-nodes, not both");
  }
  std::vector<std::string> nodes = opts.nodes;
  if (opts.all_nodes) {
    for (const auto& n : topo.nodes) {
      if (std::find(opts.write.exclude_nodes.begin(), opts.write.exclude_nodes.end(), n.name) ==
          opts.write.exclude_nodes.end()) {
        nodes.push_back(n.name);
      }
    }
  }
  for (const auto& n : nodes) {
    if (!topo.find_node(n)) {
      throw UsageError("--node " + n + ": no such node in " + topo.file);
    }
  }
  auto params = params_of(&opts.plan, opts.write, {});
  Job job{
      "rebalance-disks", opts.write, &opts.plan, false, false, nodes, [&](const Inventory& inv) {
        Plan all;
        all.by = to_string(params.by);
        for (const auto& n : nodes) {
          merge_into(all, plan_disk_rebalance(inv, topo, n, params));
        }
        return all;
      }};
  return run_job(ctx, job);
}

RebalanceResult move_replicas(Context& ctx, const MoveReplicasOptions& opts)
{
  const Topology& topo = ctx.topo();
  const bool node_drain = !opts.from_node.empty();
  const bool volume_drain = !opts.node.empty() || !opts.from_volume.empty();
  if (!opts.plan.plan_in.empty()) {
    // A saved plan says what moves; its moves are re-validated like any plan's.
    if (node_drain || volume_drain) {
      throw UsageError("--plan runs a saved plan: leave out --from-node, --node and --from-volume");
    }
    Job job{"move-replicas", opts.write, &opts.plan, false, false, {}, {}};
    return run_job(ctx, job);
  }
  if (node_drain == volume_drain) {
    throw UsageError("move-replicas needs --from-node NAME, or --node NAME --from-volume PATH",
                     "add --chunk KEY or filters to move only some chunks");
  }
  if (!opts.to_node.empty() && !node_drain) {
    throw UsageError("--to-node goes with --from-node");
  }
  if (volume_drain && (opts.node.empty() || opts.from_volume.empty())) {
    throw UsageError("--from-volume and --node go together");
  }
  if (!opts.to_volume.empty() && opts.from_volume.empty()) {
    throw UsageError("--to-volume goes with --from-volume");
  }
  ChunkPredicate pick = predicate_of(opts.filter, topo);
  auto params = params_of(&opts.plan, opts.write, {});
  Planner planner;
  if (node_drain) {
    std::optional<std::string> to;
    if (!opts.to_node.empty()) {
      to = opts.to_node;
    }
    planner = [&, to, pick](const Inventory& inv) {
      return plan_drain_node(inv, topo, opts.from_node, to, params, pick);
    };
  } else {
    std::optional<std::string> to;
    if (!opts.to_volume.empty()) {
      to = opts.to_volume;
    }
    planner = [&, to, pick](const Inventory& inv) {
      Plan p = plan_drain_volume(inv, topo, opts.node, opts.from_volume, to, params);
      if (pick) {
        // Filters narrow a volume drain to the chunks they choose.
        std::erase_if(p.moves, [&](const Move& m) {
          const Chunk* c = inv.chunk(m.chunk);
          return !c || !pick(*c);
        });
      }
      return p;
    };
  }
  Job job{"move-replicas",
          opts.write,
          &opts.plan,
          false,
          false,
          volume_drain ? std::vector<std::string>{opts.node} : std::vector<std::string>{},
          planner};
  return run_job(ctx, job);
}

RebalanceResult repair(Context& ctx, const RepairOptions& opts)
{
  const Topology& topo = ctx.topo();
  ChunkPredicate pick = predicate_of(opts.filter, topo);
  auto params = params_of(&opts.plan, opts.write, {});
  Job job{"repair", opts.write, &opts.plan, true, opts.fix_duplicates, {}, [&](const Inventory& inv) {
            return plan_repair(inv, topo, params, opts.fix_duplicates, pick);
          }};
  return run_job(ctx, job);
}

} // namespace clsync::core
