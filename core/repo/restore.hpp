// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/options.hpp"
#include "core/plan/plan.hpp"
#include "core/repo/repository.hpp"
#include "core/run/writing_run.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

/// `restore` (issue 8 item 5): puts the chunks of one snapshot of a repository onto a live
/// cluster, differentially, through the shared writing run (core/run/writing_run.hpp).
namespace clsync::core::repo {

struct RestoreOptions {
  WriteOptions write;
  FilterOptions filter;
  std::string from;                 ///< the repository (path or ssh://)
  std::string snapshot = "latest";  ///< id, or latest (the newest of the one group)
  bool force = false;               ///< replace replicas that differ (atomically)
  bool del = false;                 ///< --delete: remove selected chunks the snapshot lacks
  std::string max_delete = "50%";   ///< at most this many chunks ("N", or "N%" of the selected)
  RepoConnect connect;
};

/// What restore decided (and did) for one chunk of the snapshot.
struct RestoreChunk {
  std::string key;
  /// write (missing replicas written), keep (every replica identical), replace (--force),
  /// fail (an error: a different replica without --force, a missing or hostile object, no room…),
  /// delete (--delete: not in the snapshot; `targets` are the replicas removed)
  std::string action;
  std::vector<Place> kept;     ///< replicas found identical
  std::vector<Target> targets; ///< replicas written (replace: swapped)
  std::uint64_t bytes = 0;     ///< the chunk's bytes (one replica)
  std::string error;           ///< action fail, or the task's failure
};

struct RestoreResult {
  std::string repository;
  std::string snapshot;  ///< the id restored
  std::vector<RestoreChunk> chunks;
  RunResult run;
  std::uint64_t restored = 0;  ///< chunks whose missing replicas were all written
  std::uint64_t kept = 0;      ///< chunks already identical everywhere
  std::uint64_t replaced = 0;  ///< chunks with a different replica replaced (--force)
  std::uint64_t failed = 0;
  std::uint64_t deleted = 0;  ///< chunks removed by --delete
  std::uint64_t replicas_written = 0;
  std::uint64_t bytes = 0;  ///< bytes of the replicas written
  ExitCode code = ExitCode::ok;
};

/// Runs restore. Throws UsageError for bad options (and for `latest` when the repository holds
/// several groups: the message lists them), Error(failed) for an unreadable repository or
/// snapshot and for refused pre-run checks, LockHeld. A chunk's own failure (a different
/// replica without --force, a missing or hostile object, no room, a failed destination) is in
/// the result: exit 3 when some chunks were fine, 1 when none was.
RestoreResult restore(Context& ctx, const RestoreOptions& opts);

/// The snapshot `wanted` names: an id, or "latest" = the newest of the repository's one group.
std::string resolve_snapshot(const Repository& repo, const std::string& wanted);

} // namespace clsync::core::repo
