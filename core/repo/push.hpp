// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/error.hpp"
#include "core/repo/repository.hpp"

#include <cstdint>
#include <string>
#include <vector>

/// `clsync push SRC DEST` (issue 8 item 4, SPEC §7): sends the objects DEST lacks, then the
/// snapshots DEST lacks, between two repositories (local or ssh://, either direction).
///
/// - One listing per side (Node::list_tree of `objects/`, list_dir of `snapshots/`): a push
///   with nothing to send reads no snapshot and no object.
/// - Every object travels SRC read_file → DEST append_file (a `.partial` resumed at its durable
///   size: only the missing tail crosses) and is checked on arrival against the object_sha256 a
///   snapshot of SRC records; a mismatch is refused (the partial goes) and named.
/// - A snapshot is sent only when every object it names is at DEST, after them (written last,
///   like a backup's), so DEST never shows a snapshot whose objects are missing.
/// - DEST is created (0700) when missing and locked (the repository lock) for the run.
namespace clsync::core::repo {

struct PushOptions {
  std::string source;
  std::string destination;
  RepoConnect connect;         ///< how to reach SRC when it is ssh://
  RepoConnect dest_connect;    ///< how to reach DEST when it is ssh://
  int parallel = 4;            ///< objects in flight
  std::uint64_t bwlimit = 0;   ///< bytes per second over the run; 0: none
  bool dry_run = false;
};

struct PushResult {
  ExitCode code = ExitCode::ok;
  std::string source, destination;   ///< as given
  std::uint64_t objects_sent = 0;
  std::uint64_t objects_skipped = 0;  ///< already complete at DEST
  std::uint64_t snapshots_sent = 0;
  std::uint64_t snapshots_skipped = 0;  ///< already at DEST
  std::uint64_t bytes = 0;              ///< object and snapshot bytes that crossed
  std::uint64_t resumed = 0;            ///< objects continued from a partial at DEST
  std::uint64_t resumed_bytes = 0;      ///< bytes the partials already held (not sent)
  std::vector<std::string> would_send;  ///< --dry-run: object and snapshot paths
  std::vector<std::string> errors;      ///< each names the object or snapshot and the end
  std::vector<std::string> unreferenced;  ///< objects of SRC no snapshot names (not sent)
  double seconds = 0;
  /// True when DEST had every object and snapshot of SRC: nothing was sent.
  bool nothing_to_push() const;
};

/// Runs a push. Failures of single objects or snapshots are collected (exit 3); a repository
/// that cannot be opened or locked throws core::Error.
PushResult push(Context& ctx, const PushOptions& options);

} // namespace clsync::core::repo
