// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/sync/round_loop.hpp"

#include "core/exceptions.hpp"
#include "core/units.hpp"

#include <thread>

namespace clsync::core::sync {
namespace {

using Clock = std::chrono::steady_clock;
using SysClock = std::chrono::system_clock;

double seconds_since(Clock::time_point start)
{
  return std::chrono::duration<double>(Clock::now() - start).count();
}

bool past(const std::optional<SysClock::time_point>& until)
{
  return until && SysClock::now() >= *until;
}

/// One round; whatever it throws but a usage error becomes a failed round, so the next round
/// can catch up (a node down, a lease held by another run, a source volume refused).
RoundResult guarded_round(const RoundLoop& loop)
{
  const auto start = Clock::now();
  try {
    return loop.round();
  } catch (const UsageError&) {
    throw;
  } catch (const Interrupted& e) {
    return failed_round(e.what(), ExitCode::interrupted, seconds_since(start));
  } catch (const Error& e) {
    return failed_round(e.what(), e.code(), seconds_since(start));
  } catch (...) {
    return failed_round(current_exception_text(), ExitCode::failed, seconds_since(start));
  }
}

/// Answers a pending lag request (SIGUSR1) with a dry round; a check that fails is a warning.
void answer_lag(const RoundLoop& loop,
                const std::function<bool()>& lag_request,
                const std::function<void(const Lag&)>& on_lag)
{
  if (!lag_request || !lag_request()) {
    return;
  }
  try {
    const Lag lag = loop.lag();
    if (on_lag) {
      on_lag(lag);
    }
  } catch (...) {
    if (loop.warn) {
      loop.warn("cannot tell the current lag: " + current_exception_text());
    }
  }
}

/// Sleeps `every`, waking at once on a stop; answers lag requests meanwhile. False when stopped.
bool sleep_between_rounds(const RoundLoop& loop,
                          const std::function<bool()>& lag_request,
                          const std::function<void(const Lag&)>& on_lag)
{
  const auto wake = Clock::now() + loop.every;
  while (true) {
    if (loop.stopping()) {
      return false;
    }
    answer_lag(loop, lag_request, on_lag);
    const auto now = Clock::now();
    if (now >= wake || past(loop.until)) {
      return !loop.stopping();
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(loop.poll, wake - now));
  }
}

} // namespace

void apply_max_lag(RoundResult& r, const std::optional<std::chrono::seconds>& max_lag)
{
  if (!max_lag || r.code != ExitCode::ok) {
    return;
  }
  const auto behind = std::chrono::seconds(static_cast<std::int64_t>(r.lag_after.seconds));
  if (r.lag_after.seconds > static_cast<double>(max_lag->count())) {
    r.code = ExitCode::unhealthy;
    r.errors.push_back("B is " + format_duration(behind) + " behind A, more than --max-lag " +
                       format_duration(*max_lag));
  }
}

RoundResult failed_round(const std::string& error, ExitCode code, double seconds)
{
  RoundResult r;
  r.seconds = seconds;
  r.errors.push_back(error);
  r.code = code == ExitCode::ok ? ExitCode::failed : code;
  return r;
}

ExitCode run_rounds(const RoundLoop& loop,
                    const std::function<void(const RoundResult&)>& on_round,
                    const std::function<bool()>& lag_request,
                    const std::function<void(const Lag&)>& on_lag)
{
  ExitCode last = ExitCode::ok;
  while (!loop.stopping()) {
    if (past(loop.until)) {
      return last;
    }
    RoundResult r = guarded_round(loop);
    apply_max_lag(r, loop.max_lag);
    last = r.code;
    if (on_round) {
      on_round(r);
    }
    if (r.code == ExitCode::interrupted) {
      return ExitCode::interrupted;
    }
    if (!sleep_between_rounds(loop, lag_request, on_lag)) {
      break;
    }
  }
  return ExitCode::interrupted;
}

} // namespace clsync::core::sync
