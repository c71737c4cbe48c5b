// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/sync/sync_online.hpp"

#include <chrono>
#include <functional>

/// The loop of continuous mode (sync_continuous), with its round, its dry lag check and its
/// clock injectable, so its rules are tested without clusters.
namespace clsync::core::sync {

/// Applies --max-lag to a round that otherwise succeeded: B further behind than `max_lag`
/// afterwards makes it exit 5 (a monitoring check), with an error saying by how much. A round
/// that already failed keeps its code. One-round mode calls this as well.
void apply_max_lag(RoundResult& r, const std::optional<std::chrono::seconds>& max_lag);

/// A round that threw, as a failed round: its error in `errors`, the exception's exit code
/// (1 for anything but a clsync::Error), no chunks copied.
RoundResult failed_round(const std::string& error, ExitCode code, double seconds);

struct RoundLoop {
  std::function<RoundResult()> round;  ///< one round (may throw: a failed round)
  std::function<Lag()> lag;            ///< the current lag without writing (a dry round)
  std::function<bool()> stopping;      ///< SIGINT/SIGTERM seen
  std::chrono::milliseconds every{1000};
  std::optional<std::chrono::seconds> max_lag;
  std::chrono::milliseconds poll{50};  ///< how often the sleep looks at stop and lag requests
  /// --until: no round starts after it; the loop then returns the last round's code.
  std::optional<std::chrono::system_clock::time_point> until;
  /// Called when a lag check (`lag`) throws: the check is skipped, the loop goes on.
  std::function<void(const std::string&)> warn;
};

/// Runs rounds until `stopping()`: each round's result (with --max-lag applied) to `on_round`,
/// a thrown clsync::Error or std::exception turned into a failed round (UsageError is rethrown:
/// bad options do not mend by waiting), then a sleep of `every` that ends early on a stop and
/// answers each `lag_request()` with `on_lag(lag())`. Returns 130 once stopped (also when a round
/// ended interrupted), else, once `until` has passed, the last round's code.
ExitCode run_rounds(const RoundLoop& loop,
                    const std::function<void(const RoundResult&)>& on_round,
                    const std::function<bool()>& lag_request,
                    const std::function<void(const Lag&)>& on_lag);

} // namespace clsync::core::sync
