// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/error.hpp"
#include "core/events.hpp"
#include "core/repo/repository.hpp"

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

/// `clsync prune REPO`: forget snapshots by a restic-like policy applied per group (source
/// cluster, filters and tag: Snapshot::group), then remove the objects no kept snapshot names
/// (mark and sweep). Holds the repository lock while it writes.
namespace clsync::core::repo {

/// How many snapshots each rule keeps, per group. A snapshot kept by any rule is kept.
struct KeepPolicy {
  int last = 0;     ///< the newest N
  int daily = 0;    ///< the newest of each of the last N days (UTC) that have snapshots
  int weekly = 0;   ///< … of each of the last N ISO weeks that have snapshots
  int monthly = 0;  ///< … of each of the last N months that have snapshots
  bool empty() const { return last <= 0 && daily <= 0 && weekly <= 0 && monthly <= 0; }
};

struct PruneOptions {
  KeepPolicy keep;
  bool dry_run = false;
  /// Leftovers of interrupted transfers (push's `objects/<aa>/<hash>.tar.zst.partial`, a killed
  /// backup's `tmp/backup-*`) untouched for longer than this are removed (under the lock, so
  /// never one a running push or backup is writing). A rerun of the push resumes a younger one.
  std::int64_t keep_partial_for_s = 24 * 3600;
};

/// One snapshot of a group as the policy sees it.
struct DatedSnapshot {
  std::string id;
  std::int64_t created = 0;  ///< Unix seconds
};

/// The ids the policy keeps among one group's snapshots (pure; ties in time go by id).
std::set<std::string> apply_policy(std::vector<DatedSnapshot> group, const KeepPolicy& keep);

struct PruneGroup {
  std::string group;
  std::string cluster;
  std::string tag;
  std::vector<std::string> kept;     ///< ids, oldest first
  std::vector<std::string> removed;  ///< ids, oldest first
};

struct PruneResult {
  std::string repository;
  bool dry_run = false;
  std::vector<PruneGroup> groups;
  /// Snapshots that could not be read ("<id>: <why>"): kept, and because they may name any
  /// object, no object is swept while one exists.
  std::vector<std::string> unreadable;
  std::uint64_t snapshots_kept = 0;
  std::uint64_t snapshots_removed = 0;
  std::uint64_t objects_kept = 0;
  std::uint64_t objects_removed = 0;
  std::uint64_t bytes_freed = 0;
  bool objects_swept = false;  ///< false when unreadable snapshots stopped the sweep
  /// Stale leftovers removed (or, dry run, to remove): paths relative to the repository root.
  std::vector<std::string> partials_removed;
  std::uint64_t partial_bytes_freed = 0;
  std::vector<std::string> errors;  ///< removals that failed
  /// 0; 3 when a snapshot was unreadable or a removal failed.
  ExitCode exit_code = ExitCode::ok;
};

/// Applies the policy. Without dry_run takes the repository lock (LockHeld, exit 4, when a
/// backup, push or prune holds it), removes the forgotten snapshots first, then every object
/// no remaining snapshot names. Throws UsageError for an empty policy.
PruneResult prune(const Repository& repo, const PruneOptions& opts, Events& events);

} // namespace clsync::core::repo
