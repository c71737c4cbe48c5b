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

/// `verify -c FILE --against REPO [--snapshot ID|latest]` (issue 8 item 6): the chunks of a
/// live cluster compared by content hash with a snapshot — which are missing from the cluster,
/// which differ, which the snapshot lacks. Every replica is hashed where it lies (only hashes
/// cross the network), spread over the nodes.
namespace clsync::core::repo {

struct VerifyAgainstOptions {
  std::string repo;
  RepoConnect connect;
  std::string snapshot = "latest";  ///< an id, or the latest (of this cluster when there is one)
  FilterOptions filter;  ///< none given: the snapshot's own filters
  int concurrency = 0;   ///< hashes at once; 0: 2 x nodes
  int per_node = 2;
  std::vector<std::string> exclude_nodes;
};

struct ReplicaHash {
  std::string node, volume, content_hash;
};

struct ChunkDifference {
  std::string chunk;
  std::string object;  ///< the snapshot's (empty for an absent chunk)
  std::vector<ReplicaHash> replicas;  ///< the cluster's (empty for a missing chunk)
};

struct AgainstProblem {
  std::string chunk, node, volume, error;
};

struct VerifyAgainstResult {
  std::string snapshot;    ///< the id compared with
  std::string repository;
  std::string cluster;
  std::uint64_t chunks = 0;  ///< chunks compared (in the snapshot, the cluster, or both)
  std::uint64_t same = 0;
  std::vector<ChunkDifference> missing;  ///< in the snapshot, not in the cluster
  std::vector<ChunkDifference> differ;   ///< some replica's content is not the snapshot's
  std::vector<ChunkDifference> absent;   ///< in the cluster, not in the snapshot
  std::vector<AgainstProblem> errors;     ///< replicas that could not be hashed
  double seconds = 0;
  /// 0 the same; 3 differences (or replicas that could not be hashed); 130 interrupted.
  ExitCode code = ExitCode::ok;
};

/// Throws UsageError for bad options, Error(failed) when the repository or snapshot cannot be
/// read or a node is unreachable (unless excluded).
VerifyAgainstResult verify_against(Context& ctx, const VerifyAgainstOptions& opts);

} // namespace clsync::core::repo
