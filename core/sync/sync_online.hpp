// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/error.hpp"
#include "core/options.hpp"
#include "core/run/writing_run.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

/// `sync-online` (issue 9): makes the selected chunks of a live cluster B equal to those of a
/// live cluster A, in rounds. One round (sync_round) compares A with B, then copies each changed
/// chunk once from A to all of B's replicas of it through the shared writing run; continuous mode
/// (sync_continuous) runs rounds with a sleep between them.
namespace clsync::core::sync {

struct SyncOptions {
  WriteOptions write;         ///< B's side: concurrency, per-node, bwlimit, until, max-bytes…
  FilterOptions filter;       ///< which chunks of A (and of B) take part
  std::string from, to;       ///< topology files of A and B
  bool checksum = false;      ///< unchanged = equal content hashes (not the recorded fingerprints)
  bool del = false;           ///< --delete: remove selected chunks of B that A no longer has
  std::string max_delete = "50%";  ///< "N" or "N%" of B's selected chunks
  int parallel = 0;           ///< chunks in flight; 0: 2 per source node
  std::chrono::seconds every{0};    ///< continuous mode: sleep between rounds; 0: one round
  std::optional<std::chrono::seconds> max_lag;  ///< a round further behind exits 5
};

/// How far B is behind A in the selected chunks (issue 9 item 4).
struct Lag {
  std::uint64_t missing = 0;    ///< chunks of A that B lacks
  std::uint64_t differing = 0;  ///< chunks B holds with other content (or not yet verified)
  std::uint64_t extra = 0;      ///< chunks B holds that A lacks
  std::uint64_t bytes = 0;      ///< bytes of A's missing and differing chunks
  /// Now minus the oldest change on A that B does not have (A's newest mtime of each missing or
  /// differing chunk); 0 when B is up to date.
  double seconds = 0;
};

/// What one round did (or, under --dry-run, would do).
struct RoundResult {
  std::uint64_t copied = 0;   ///< chunks written to B
  std::uint64_t skipped = 0;  ///< chunks already equal
  std::uint64_t deleted = 0;  ///< chunks removed from B (--delete)
  std::uint64_t failed = 0;
  std::uint64_t bytes = 0;    ///< bytes read from A for the chunks copied
  Lag lag_before, lag_after;
  double seconds = 0;
  std::optional<RunResult> run;  ///< the writing run, when one ran
  std::vector<std::string> errors;  ///< what failed, naming node, chunk, file
  /// 0 done, 3 some chunks failed, 1 all failed, 5 lag above --max-lag, 130 interrupted.
  ExitCode code = ExitCode::ok;
};

/// Runs one round with `a` the source cluster's context and `b` the destination's (each with
/// its topology and nodes). Throws UsageError for bad options, Error for a refused round (an
/// unreachable or empty source volume where the last round saw chunks, --max-delete passed),
/// LockHeld when another run holds B's leases. Per-chunk failures are in the result.
RoundResult sync_round(Context& a, Context& b, const SyncOptions& opts);

/// Continuous mode: rounds until stopped (ctx stop request: SIGINT/SIGTERM), each round's result
/// passed to `on_round` as it ends; a round that throws is reported (as a failed round) and the
/// next one catches up. `lag_request` is polled while sleeping: when it returns true (SIGUSR1)
/// the current lag is passed to `on_lag`. Returns 130 after a stop, else the last round's code.
ExitCode sync_continuous(Context& a,
                         Context& b,
                         const SyncOptions& opts,
                         const std::function<void(const RoundResult&)>& on_round,
                         const std::function<bool()>& lag_request,
                         const std::function<void(const Lag&)>& on_lag);

} // namespace clsync::core::sync
