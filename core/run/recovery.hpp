// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/inventory.hpp"
#include "core/context.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

/// Recovery (SPEC §5): at the start of every writing run, after the leases, clsync finishes or
/// undoes what an earlier killed run left behind. It acts on clsync's own leftovers only.
namespace clsync::core {

struct RecoveryReport {
  std::uint64_t temps_removed = 0;   ///< `.clsync-tmp-<task>` removed
  std::uint64_t trash_removed = 0;   ///< trash removed: the chunk has its replicas elsewhere
  std::uint64_t trash_restored = 0;  ///< trash renamed back: it was a needed replica
  std::uint64_t surplus_trashed = 0; ///< a committed move's source, removed as the move wanted
  std::uint64_t intents_removed = 0;
  std::uint64_t holds_removed = 0;    ///< `.clsync-hold-*` of a run that is gone
  std::uint64_t sets_finished = 0;    ///< commit sets marked committed, finished (all new)
  std::uint64_t sets_rolled_back = 0; ///< commit sets not marked, rolled back (all old)
  /// Commit sets left wholly or partly for a later run (a participant out of sight, or the
  /// decision known only to one): the run that found them does not end "ok" (exit 3).
  std::uint64_t sets_pending = 0;
  /// Participants of a committed set exchanged and cleaned by recovery (its visible part when
  /// the set stays pending).
  std::uint64_t set_parts_finished = 0;
  /// What was found and left alone, as sentences naming node, volume and chunk.
  std::vector<std::string> notes;
  /// The chunk of each set counted in sets_pending → why it waits (naming the participants out
  /// of sight): the run leaves these chunks alone (run_writing_job holds them out of its plan).
  std::map<std::string, std::string> held_chunks;
  /// True when anything was changed (the caller then takes the inventory again).
  bool acted() const
  {
    return temps_removed + trash_removed + trash_restored + surplus_trashed + intents_removed +
               holds_removed + sets_finished + sets_rolled_back + set_parts_finished >
           0;
  }
};

/// Acts on the leftovers in `inv` that lie on `nodes` (the nodes this run leased):
/// - a temp directory is removed;
/// - a trash directory is removed when its chunk (named by the task's intent) still has its
///   replica count, else renamed back; a trash no intent explains is reported and left alone;
/// - a surplus replica that a move's intent explains (committed, source not yet trashed) is
///   trashed after its content hash is found equal to the destination's;
/// - a surplus replica that no intent explains is reported, never deleted;
/// - intents whose leftovers are resolved are removed;
/// - a removal hold (core/run/recount.hpp) is removed when its holder is gone: it ran on this
///   machine and its pid is dead or the machine rebooted since, or it is older than an hour;
///   on any node of the inventory, not only `nodes` (a re-count holds replicas everywhere).
/// - a commit set (a fan-out write replacing replicas, core/run/fan_out_task.hpp) is decided as a
///   whole from its participants' intents: committed (the last participant's intent says so) →
///   every remaining exchange is done and the old versions and intents removed (all new); not
///   committed → every temp and intent removed (all old). A participant out of sight (its node
///   unreachable or not leased, or its volume missing or unreadable) keeps its part and every
///   intent stays (reported, counted in sets_pending) until it is back; when the last one's
///   intent is not in sight and no visible intent says "prepared", the set is left alone:
///   never guessed.
/// Removing a trash or a surplus replica goes through the re-count (core/run/recount.hpp): fresh,
/// verified, held; when it refuses, the trash is renamed back and the surplus is kept.
/// Node errors are reported in `notes` and leave the leftover for a later run; never throws for
/// them. Each action is sent to ctx.events as a warning-level message.
RecoveryReport recover(Context& ctx, const Inventory& inv, const std::vector<std::string>& nodes);

/// The chunks whose commit set a run leasing `nodes` could not end, as `inv` shows them: a set
/// with a participant out of sight (as recover() judges it) or an intent that cannot be read.
/// Chunk key → why, naming node and volume. Reads only; what recover() would leave pending, so a
/// plan made before the leases (and a --dry-run's) leaves these chunks alone too.
std::map<std::string, std::string> held_by_commit_sets(const Inventory& inv,
                                                       const std::vector<std::string>& nodes);

} // namespace clsync::core
