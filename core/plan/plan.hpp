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

/// What a task does: `move` copies then removes the source; `copy` adds a replica (repair);
/// `drop_duplicate` removes `from`, a second copy on one node whose content equals the copy at `to`.
enum class MoveKind { move, copy, drop_duplicate };

/// One task of a plan.
struct Move {
  MoveKind kind = MoveKind::move;
  std::string chunk;  ///< chunk key
  Place from;
  Place to;
  std::uint64_t bytes = 0;
  bool delete_source() const { return kind != MoveKind::copy; }
  std::string fingerprint;  ///< the source's quick fingerprint when planned (re-validated)
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
