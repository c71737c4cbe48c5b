// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/cluster/inventory.hpp"
#include "core/plan/plan.hpp"

#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

/// The re-count (SPEC §5): before any replica is removed or trashed, whatever a planner, a plan
/// file or another run did, the chunk's replicas are counted fresh from the nodes — every
/// reachable node, every volume (Node::volumes_holding) — and a replica counts only when it is on a
/// physical volume (machine id, device, inode) and a node of its own, and hashes (Node::hash_chunk,
/// on the node, cached per node, volume, key and fingerprint) to the content the removing task
/// verified. The removal is refused when fewer than min(the chunk's count before the run, its
/// replication) would remain.
///
/// Two removals at once (two runs, or a run and a hand-edited plan) must not both count the same
/// survivors. Holds make that impossible by construction:
///   1. a removal first places the *hold* of its chunk on the replica it removes
///      (`.clsync-hold-<id of key>` at the volume root, created atomically with link(2), which
///      fails when any hold of that chunk is already there) — if it cannot, it removes nothing;
///   2. it then places the hold on each survivor it counts, and counts a survivor only when its
///      hold was placed and the survivor is found and verified *after* the hold stands;
///   3. it removes the replica, then releases every hold.
/// A replica is therefore only ever removed by the holder of its hold, and every counted
/// survivor is held by the counting removal from before it was verified until after the removal:
/// no other removal can take it away in between (it could not place its step-1 hold). Two
/// removals that want each other's replica as survivor each find it held and do not count it.
/// A task that copies then removes adds its replica first (under its own lease) and counts it
/// like any other; removals without an addition (drop_duplicate, recovery's surplus) go through
/// the very same steps. Holds of a run that died are removed by recovery (core/run/recovery.cpp).
namespace clsync::core {

/// The re-count refused a removal; the replica is kept. The message names the chunk, the
/// replicas found and the count required.
struct RecountRefused : std::runtime_error {
  explicit RecountRefused(const std::string& what, bool transient = false)
      : std::runtime_error(what), transient(transient)
  {
  }
  /// A node could not be read for a retryable reason (connection lost, timeout): the count may
  /// reach the required number when tried again, so the caller retries before giving up.
  bool transient = false;
};

/// The hold record of a task (JSON: run, task, chunk, machine, boot, pid, created).
std::string hold_record(const std::string& run_id, const std::string& task, const std::string& key);

/// Whether `node` is reached over SSH (not `host: local`). Short requests to such nodes are
/// round trips worth overlapping; a local node's are system calls of this process, kept in
/// the calling thread (no latency to hide, and the fault tests count syscalls per thread).
bool is_remote_node(const Context& ctx, const std::string& node);

class Recount {
public:
  /// `before` is the run's inventory: the counts before the run and the volume identities.
  Recount(Context& ctx, const Inventory& before, std::string run_id);

  /// min(the chunk's replica count in `before`, its replication); the replication when the
  /// chunk was not in `before`; at least 1.
  int required(const std::string& key) const;

  /// Runs `remove` (the removal of `target`, or of something that is not a replica when
  /// `target` is empty, e.g. a trash directory) under holds, when at least `required` replicas
  /// other than `target` are verified equal to `content_hash` (when empty: equal to each
  /// other). `required < 0` means required(key). Throws RecountRefused, or what `remove` or a
  /// node throws; the holds are released either way (a crash leaves them to recovery).
  void remove_guarded(const std::string& key,
                      const std::optional<Place>& target,
                      const std::string& content_hash,
                      const std::string& task,
                      const std::function<void()>& remove,
                      int required = -1);

  /// Runs `remove` under the hold of `key` on `target` alone, without a count: for a task that
  /// takes back a replica it added itself. Returns false (nothing done) when another removal
  /// holds it — that one may be counting it as a survivor.
  bool remove_own(const std::string& key,
                  const Place& target,
                  const std::string& task,
                  const std::function<void()>& remove);

  /// Records a content hash the caller verified itself (a copy it just wrote), so that the
  /// re-count need not read that replica again. Keyed by the fingerprint: a stale entry is
  /// never used for a replica that changed since.
  void remember(const Place& p,
                const std::string& key,
                const std::string& fingerprint,
                const std::string& content_hash);

  /// Hashes, on their nodes and in the background, the replicas of `key` that the run's
  /// inventory lists and a removal of it would count as survivors (at most
  /// required(key) of them, none of `skip`, one per node), into the cache remove_guarded()
  /// reads. A task starts
  /// it before its copy, so the survivors' reads overlap the copy instead of following it.
  /// It counts, holds and decides nothing: remove_guarded() still fingerprints each survivor
  /// fresh under its hold and uses a hash only when that fingerprint is the one it was computed
  /// at. Best effort: a node that fails is simply read again by the re-count. The returned
  /// future is ready when the hashing is done (waiting on it, or destroying it, blocks until
  /// then).
  std::future<void> prefetch(const std::string& key, const std::vector<Place>& skip);

private:
  struct Identity {
    std::string machine;
    std::uint64_t device = 0, inode = 0;
    bool known() const { return inode != 0 && !machine.empty(); }
    bool operator==(const Identity&) const = default;
  };
  Identity identity(const Place& p) const;
  /// The content hash of the replica at `p` as it is now: `fresh_fp` when the caller already
  /// has a fingerprint taken now (under its hold), else one asked of the node; the cache's
  /// hash for that fingerprint, else the node's. "" when the chunk is not there.
  std::string content_of(transport::Node& node,
                         const Place& p,
                         const std::string& key,
                         const std::optional<std::string>& fresh_fp = std::nullopt);
  /// Hashes the replica at `p` into the cache under the fingerprint its hash carries.
  void hash_into_cache(transport::Node& node, const Place& p, const std::string& key);
  std::string record_for(const std::string& task, const std::string& key);

  Context& m_ctx;
  const Inventory& m_before;
  std::string m_run_id;
  std::mutex m_mutex;
  /// (node, volume, key, fingerprint) → content hash: each replica hashed at most once a run.
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::string> m_hashes;
  std::map<std::string, std::string> m_records; ///< task → hold record (stable across retries)
};

} // namespace clsync::core
