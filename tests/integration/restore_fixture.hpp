// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/filter.hpp"
#include "core/cluster/inventory.hpp"
#include "core/repo/snapshot.hpp"
#include "tests/integration/rebalance_fixture.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

/// What the restore suites share: a repository made from the demo's cluster A (objects packed
/// with Node::pack_chunk, the snapshot written with the Repository API), cluster B of the same
/// demo copy, and an independent check of what restore wrote (std::filesystem and stat only).
namespace clsync::test {

/// Level1 up to 2020.06.03: 3 dates × 10 hash partitions = 30 chunks.
core::FilterOptions first_three_days();

/// A repository under `dir` holding one snapshot of A's chunks that `f` selects: each object
/// packed from the first replica, stored at Repository::object_path of its content hash. The
/// snapshot records `recorded` as its filters (`f` when null).
core::repo::Snapshot make_repository(DemoCopy& a,
                                     const std::filesystem::path& dir,
                                     const core::FilterOptions& f,
                                     const core::FilterOptions* recorded = nullptr);

/// Cluster B of the demo copy `a` (its volumes are the copy's).
struct ClusterB {
  std::filesystem::path yaml;
  std::shared_ptr<core::Topology> topo;
  std::shared_ptr<core::NodeSet> nodes;
  explicit ClusterB(DemoCopy& a);
  void reload(const std::string& text);
  core::Inventory inventory(bool verify = true);
  /// The volume of B's node `i` (B1 = 0).
  std::string volume(std::size_t i) const;
};

/// "-c B --state-dir <copy>/state-b ".
std::string args_b(DemoCopy& a, const ClusterB& b);

/// Runs clsync with `args` and --json; checks the exit code; returns the document.
nlohmann::json run_json(const std::string& args, int expect, const std::string& env = "");

/// No `.clsync-` leftovers (temps, trash, intents, holds; leases are released) under `root`.
std::vector<std::string> leftovers(const std::filesystem::path& root);

/// Every chunk of `snap` has `want` replicas on distinct nodes of B, each with the object's
/// content hash.
void check_restored(ClusterB& b, const core::repo::Snapshot& snap, int want);

/// Independent of clsync's code: every file of `copy` has the bytes, mode, owner, mtime (ns) and
/// data extents (holes) of the same file in `original`, every directory (empty ones too) its
/// mode and mtime, and neither holds a name the other lacks. "" or the first difference.
std::string tree_difference(const std::filesystem::path& original,
                            const std::filesystem::path& copy);

} // namespace clsync::test
