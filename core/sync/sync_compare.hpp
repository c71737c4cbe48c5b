// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/inventory.hpp"
#include "core/plan/plan.hpp"
#include "core/sync/sync_online.hpp"
#include "core/sync/sync_state.hpp"

#include <cstdint>
#include <string>
#include <vector>

/// A against B (issue 9 items 1 and 4): which selected chunks B lacks, holds with other
/// content, holds with fewer replicas than it wants, or holds while A does not, and how far
/// behind that puts B. Pure: inventories and the sync state in, decisions and the lag out.
namespace clsync::core::sync {

enum class ChunkState {
  same,       ///< B's replicas carry what A has: nothing to copy
  under,      ///< same content, fewer replicas than B's replication: the missing ones added
  missing,    ///< A has it, B does not
  differing,  ///< B holds it with other content (or content not known to be A's)
  extra,      ///< B holds it, A does not
};
const char* to_string(ChunkState s) noexcept;

struct ChunkDecision {
  std::string key;
  ChunkState state = ChunkState::same;
  std::uint64_t bytes = 0;           ///< A's bytes (B's for extra)
  std::int64_t newest_mtime_ns = 0;  ///< A's newest mtime over its replicas
  std::vector<Place> a_replicas;     ///< A's readable replicas, the recorded one first
  std::vector<Place> b_replicas;     ///< B's replicas (duplicates left out)
  int b_replication = 0;             ///< B's wanted count (0: B lacks the chunk)
};

struct Comparison {
  std::vector<ChunkDecision> chunks;  ///< A's chunks in key order, then B's extras
  Lag lag;
};

/// Compares A's selected chunks `a` with B's selected chunks `b` (both sorted by key).
/// Unchanged (same/under): with `checksum`, every B replica's content hash equals that of A's
/// reference replica (the recorded one, else the first); otherwise the recorded A replica
/// still has its recorded fingerprint and each B replica its recorded one — or, for a chunk the
/// state does not vouch for, each B replica carries the fingerprint of A's reference replica
/// (an exact copy keeps names, sizes, mtimes and modes). `now_ns`: the wall clock for the lag.
Comparison compare_clusters(const std::vector<const Chunk*>& a,
                            const std::vector<const Chunk*>& b,
                            const SyncState& state,
                            bool checksum,
                            std::int64_t now_ns);

} // namespace clsync::core::sync
