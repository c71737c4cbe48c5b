// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/error.hpp"
#include "core/repo/repository.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

/// `clsync snapshots REPO`: the snapshots of a repository with their groups, the latest of
/// each group, and a monitoring check of their age.
namespace clsync::core::repo {

struct SnapshotsOptions {
  std::optional<std::chrono::seconds> check_age;  ///< exit 5 when a group's newest is older
};

struct SnapshotRow {
  std::string id;
  std::string created;
  std::string cluster;
  std::string host;
  std::string tag;
  std::string group;
  std::uint64_t chunks = 0;
  std::uint64_t bytes = 0;         ///< the chunks' file bytes
  std::uint64_t object_bytes = 0;  ///< the sizes of the objects it names (shared ones counted)
  bool latest = false;             ///< the newest of its group
  std::string error;               ///< why it could not be read (then only `id` is set)
};

struct SnapshotGroupRow {
  std::string group;
  std::string cluster;
  std::string tag;
  std::uint64_t snapshots = 0;
  std::string latest;          ///< id of the newest
  std::string latest_created;  ///< RFC 3339
  std::int64_t age_seconds = 0;
  bool too_old = false;        ///< with check_age: older than it
};

struct SnapshotsResult {
  std::string repository;
  std::vector<SnapshotRow> snapshots;  ///< oldest first
  std::vector<SnapshotGroupRow> groups;
  /// 0; 3 when a snapshot could not be read; 5 under check_age when a group's newest snapshot
  /// is older than it, or when the repository has no snapshot (5 wins over 3).
  ExitCode exit_code = ExitCode::ok;
};

/// Reads every snapshot (each checked as data from elsewhere). `now` is Unix seconds.
SnapshotsResult list_snapshots(const Repository& repo, const SnapshotsOptions& opts,
                               std::int64_t now);

} // namespace clsync::core::repo
