// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

/// A plan: the moves and copies a writing command will run. Planners (core/replica_planner)
/// produce it from the inventory; the executor runs it; `--plan-out`/`--plan` save and load it.
namespace clsync::core {

struct Place {
  std::string node;
  std::string volume;
  bool operator==(const Place&) const = default;
};

/// "node:volume", for messages.
inline std::string place_str(const Place& p)
{
  return p.node + ":" + p.volume;
}

/// What a task does: `move` copies then removes the source; `copy` adds a replica (repair);
/// `drop_duplicate` removes `from`, a second copy on one node whose content equals the copy at `to`.
/// `write` reads a chunk once from a source outside the cluster (a repository's object) and
/// writes it to every one of `targets` at once (fan-out, core/run/fan_out.hpp); `from` is empty.
/// `remove` deletes the replica at `from` (= `to`) that the operator asked to delete by name
/// (`restore --delete`): trashed under its hold, then removed, without the re-count (SPEC §5).
enum class MoveKind { move, copy, drop_duplicate, write, remove };

/// One destination of a `write` task.
struct Target {
  Place place;
  bool replace = false;  ///< a different replica is there: swap it (RENAME_EXCHANGE, --force)
  bool operator==(const Target&) const = default;
};

/// One task of a plan.
struct Move {
  MoveKind kind = MoveKind::move;
  std::string chunk;  ///< chunk key
  Place from;
  Place to;
  std::uint64_t bytes = 0;
  bool delete_source() const
  {
    return kind == MoveKind::move || kind == MoveKind::drop_duplicate || kind == MoveKind::remove;
  }
  std::string fingerprint;  ///< the source's quick fingerprint when planned (re-validated)
  std::vector<Target> targets;  ///< kind write: every destination (`to` is the first's place)
  /// The nodes the task writes or reads (for --per-node): from and to, or every target.
  std::vector<std::string> nodes() const;
};

/// Something the planner could not do, with the reason ("no legal destination for …").
struct PlanNote {
  std::string chunk;
  std::string reason;
};

struct NodeLoad {
  std::uint64_t chunks = 0;
  std::uint64_t bytes = 0;
};

struct Plan {
  std::string command;  ///< "rebalance-nodes", "rebalance-disks", "move-replicas", "repair"
  std::string cluster;
  std::string created;       ///< RFC 3339 UTC: when the plan was made (PlanParams::now)
  std::string by = "bytes";  ///< "bytes" | "count"
  std::vector<Move> moves;
  std::vector<PlanNote> notes;        ///< chunks left alone, and why
  std::map<std::string, NodeLoad> before;  ///< per node, or per "node:volume" for disks
  std::map<std::string, NodeLoad> after;
  std::uint64_t bytes() const
  {
    std::uint64_t b = 0;
    for (const auto& m : moves) {
      b += m.bytes;
    }
    return b;
  }
};

} // namespace clsync::core
