// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/error.hpp"
#include "core/options.hpp"
#include "core/repo/repository.hpp"

#include <cstdint>
#include <string>
#include <vector>

/// `backup -c FILE --to REPO` (issue 8 item 3, SPEC §7): one healthy replica of every chunk the
/// filters select is packed next to its data (tar + zstd on the node) and streamed into the
/// repository as one object per distinct content; the snapshot naming them is written last.
namespace clsync::core::repo {

struct BackupOptions {
  std::string to;       ///< the repository, a path or ssh://[user@]host[:port]/path
  RepoConnect connect;  ///< how to reach an ssh:// repository
  FilterOptions filter; ///< SPEC §4 filters; `columns` keeps only those column files
  bool dry_run = false;
  int compress_level = 3;  ///< zstd level 1..19
  int zstd_threads = 4;    ///< zstd worker threads per node at most, shared by its objects
  int concurrency = 0;     ///< chunks packed at once over the run; 0: 2 x nodes
  int per_node = 2;        ///< chunks packed at once on one node
  std::uint64_t bwlimit = 0;           ///< object bytes/s over the run, 0 = none
  std::uint64_t bwlimit_per_node = 0;  ///< object bytes/s per node, 0 = none
  std::uint64_t max_bytes = 0;  ///< start no chunk after this many bytes read, 0 = none
  std::string until;            ///< start no chunk after this time (HH:MM or RFC 3339)
  std::string tag;
  std::string prefer_node;      ///< the replica a divergent chunk is read from
  std::vector<std::string> exclude_nodes;
};

/// A chunk the run left out or could not back up, and why (naming node, volume, chunk).
struct BackupProblem {
  std::string chunk;
  std::string node;   ///< empty when no replica was tried
  std::string volume;
  std::string error;
};

struct BackupResult {
  bool dry_run = false;
  std::string snapshot;    ///< the id written; empty when none was (dry run, stopped, nothing done)
  std::string repository;  ///< as given
  std::uint64_t chunks = 0;          ///< chunks in the snapshot (or that would be)
  std::uint64_t new_objects = 0;     ///< objects written by this run (dry run: to pack)
  std::uint64_t reused_objects = 0;  ///< chunks whose object was already in the repository
  std::uint64_t not_read = 0;        ///< of the reused: known from the cache, not read at all
  std::vector<BackupProblem> skipped;  ///< divergent without --prefer-node, special files
  std::vector<BackupProblem> failed;   ///< reading, packing or writing failed
  std::uint64_t not_started = 0;     ///< chunks left by --until, --max-bytes or a stop
  std::string stopped_by;            ///< "", "interrupted", "until", "max-bytes"
  std::uint64_t bytes_read = 0;      ///< chunk bytes read on the nodes
  std::uint64_t bytes_written = 0;   ///< object bytes written to the repository
  double seconds = 0;
  std::vector<std::string> notes;
  /// 0 done; 3 some chunks skipped or failed, or the run stopped early (no snapshot then);
  /// 1 nothing could be backed up; 130 interrupted.
  ExitCode code = ExitCode::ok;
};

/// Runs a backup. Throws UsageError for bad options, Error(failed) when the repository cannot
/// be opened or a node is unreachable (unless excluded), LockHeld when another run holds the
/// repository. Per-chunk failures are in the result, never thrown.
BackupResult backup(Context& ctx, const BackupOptions& opts);

} // namespace clsync::core::repo
