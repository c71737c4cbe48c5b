// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

/// A small worker pool for jobs that each read on one node of several that could serve them
/// (backup packs one replica of a chunk, verify hashes one): at most `concurrency` jobs at once
/// and `per_node` on one node, each job given the least busy of its candidate nodes, so reads
/// spread over every node that holds replicas.
namespace clsync::core::repo {

struct PoolJob {
  std::vector<std::string> candidates;  ///< nodes that can serve it, in order of preference
  std::uint64_t bytes = 0;              ///< what it will read (for --max-bytes)
  /// Runs the job on `node`; `busy` counts the jobs running on that node, this one included.
  /// Exceptions are the job's own business: an escaping one is reported through `on_error`.
  std::function<void(const std::string& node, int busy)> run;
};

struct PoolLimits {
  int concurrency = 1;  ///< jobs at once
  int per_node = 1;     ///< jobs at once on one node
  /// Asked before each job starts, with the bytes of the jobs started so far: "" to go on,
  /// else why no further job starts ("until", "max-bytes", "interrupted").
  std::function<std::string(std::uint64_t started_bytes)> hold;
  /// An exception that escaped a job's run (its message); the other jobs go on.
  std::function<void(std::size_t job, const std::string& what)> on_error;
};

struct PoolOutcome {
  std::uint64_t not_started = 0;
  std::string stopped_by;  ///< the hold's reason, when one stopped the pool
  /// The most jobs that ever ran at once on each node (never above per_node).
  std::vector<std::pair<std::string, int>> max_busy;
};

/// Runs `jobs` (in order, as slots allow) and returns when every started job has ended.
PoolOutcome run_pool(std::vector<PoolJob>& jobs, const PoolLimits& limits);

} // namespace clsync::core::repo
