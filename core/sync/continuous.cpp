// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// sync_continuous apart from the loop (round_loop.cpp), which is tested without sync_round.
#include "core/sync/round_loop.hpp"

#include "core/cluster/node_set.hpp"
#include "core/exceptions.hpp"
#include "core/run/executor.hpp"
#include "core/run/journal.hpp"

namespace clsync::core::sync {
namespace {

/// A round refused before its writing run (a node down, a lease held, a source volume refused)
/// leaves a journal of its own, so `status --tasks` shows every round, the failed ones with why.
void journal_refused_round(const Context& b, const std::string& error)
{
  try {
    Journal journal(b.state_dir, b.topo().cluster, new_run_id(), "sync-online");
    journal.finish("failed", 0, 0, 0, error);
  } catch (const std::exception& e) {
    if (b.events) {
      b.events->warning(e.what());
    }
  }
}

} // namespace

ExitCode sync_continuous(Context& a,
                         Context& b,
                         const SyncOptions& opts,
                         const std::function<void(const RoundResult&)>& on_round,
                         const std::function<bool()>& lag_request,
                         const std::function<void(const Lag&)>& on_lag)
{
  if (opts.every.count() <= 0) {
    throw UsageError("--every must be 1 second or more");
  }
  RoundLoop loop;
  loop.every = opts.every;
  loop.max_lag = opts.max_lag;
  // "--until 06:00" means the same moment for every round, not the next 06:00 each time.
  loop.until = parse_until(opts.write.until);
  SyncOptions round_opts = opts;
  if (loop.until) {
    round_opts.write.until = utc_timestamp(*loop.until);
  }
  loop.round = [&a, &b, round_opts] {
    // Each round is a run of its own: a node that could not be reached last round is tried
    // again (within a round, its first failed connect answers for it).
    a.nodes->forget_connect_failures();
    b.nodes->forget_connect_failures();
    try {
      return sync_round(a, b, round_opts);
    } catch (const UsageError&) {
      throw;
    } catch (const Interrupted&) {
      throw;
    } catch (...) {
      journal_refused_round(b, current_exception_text());
      throw;
    }
  };
  SyncOptions dry = round_opts;
  dry.write.dry_run = true;
  dry.del = false;
  loop.lag = [&a, &b, dry] { return sync_round(a, b, dry).lag_before; };
  loop.stopping = [&a, &b] { return a.stopping() || b.stopping(); };
  Events* events = b.events;
  loop.warn = [events](const std::string& m) {
    if (events) {
      events->warning(m);
    }
  };
  return run_rounds(loop, on_round, lag_request, on_lag);
}

} // namespace clsync::core::sync
