// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/node_set.hpp"
#include "core/context.hpp"
#include "core/run/fan_out.hpp"
#include "core/sync/sync_state.hpp"

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

/// sync-online's fan-out source (core/run/fan_out.hpp): each task reads its chunk once from the
/// least busy readable replica on cluster A and streams it (chunk_stream.hpp) to every one of
/// B's targets. A is only read: no lease, no temp, nothing written there.
namespace clsync::core::sync {

/// What one finished read of a chunk gave, and what each destination wrote.
struct ChunkCopy {
  Place a;                     ///< the A replica read
  std::string a_fingerprint;   ///< its fingerprint, equal before and after the read
  std::string content_hash;    ///< of what was passed on (--columns: the kept files)
  std::uint64_t bytes = 0;     ///< file bytes read
  std::vector<SyncedReplica> written;  ///< B's destinations finished, with their fingerprint
};

class SyncSource : public FanOutSource {
public:
  /// `b`: the destination cluster's context (its node set is looked up at each open, since a
  /// writing run may reopen it). `replicas`: per chunk key, A's readable replicas (the preferred first). `keep` filters
  /// files (--columns), empty: every file.
  SyncSource(NodeSet& a_nodes,
             Context& b,
             std::map<std::string, std::vector<Place>> replicas,
             std::function<bool(const std::string&)> keep);

  std::unique_ptr<transport::ObjectWriter> open(transport::Node& dst,
                                                const std::string& volume,
                                                const std::string& task,
                                                const Move& m) override;
  /// Reads the chunk from one A replica, the least busy (ties: the preferred order); a replica
  /// whose read failed is tried last on the next attempt. Throws a retryable TransportError when
  /// the replica's fingerprint changed during the read (a writer on A): the executor rolls the
  /// attempt back (B keeps nothing of it) and retries.
  void read(const Move& m, transport::ByteSink& out) override;
  transport::ChunkDigest finish(transport::ObjectWriter& w, const Move& m) override;
  std::string content_hash(const Move& m) const override;

  /// The last read of `key` and its destinations (empty `a.node` when none finished).
  ChunkCopy copy_of(const std::string& key) const;

private:
  Place pick(const std::string& key);

  NodeSet& m_nodes;
  Context& m_b;
  std::map<std::string, std::vector<Place>> m_replicas;
  std::function<bool(const std::string&)> m_keep;
  mutable std::mutex m_mu;
  std::map<std::string, int> m_busy;                  ///< reads in flight per A node
  std::map<std::string, std::vector<Place>> m_failed; ///< per chunk: replicas whose read failed
  std::map<std::string, ChunkCopy> m_copies;
};

} // namespace clsync::core::sync
