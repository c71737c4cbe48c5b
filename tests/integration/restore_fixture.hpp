// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/filter.hpp"
#include "core/cluster/inventory.hpp"
#include "core/repo/snapshot.hpp"
#include "tests/integration/rebalance_fixture.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

/// A repository made from a demo copy's cluster A and the demo's empty cluster B on the copy's
/// own volumes: what restore tests (suite `commit_set`) start from. (The `restore` suite keeps
/// its own copies of these helpers.)
namespace clsync::test {

/// A repository under `dir` holding one snapshot of A's chunks that `f` selects: each object
/// packed from the first replica, stored at Repository::object_path of its content hash.
core::repo::Snapshot
make_repository(DemoCopy& a, const std::filesystem::path& dir, const core::FilterOptions& f);

/// Cluster B of the demo copy `a` (its volumes are the copy's).
struct ClusterB {
  std::filesystem::path yaml;
  std::shared_ptr<core::Topology> topo;
  std::shared_ptr<core::NodeSet> nodes;
  explicit ClusterB(DemoCopy& a);
  core::Inventory inventory(bool verify = true);
  /// The first volume path of node `node`.
  std::string volume(const std::string& node) const;
};

/// "-c B.yaml --state-dir <a>/state-b ".
std::string args_b(DemoCopy& a, const ClusterB& b);

/// Every `.clsync-` entry (temps, trash, intents, holds, leases) under `root`.
std::vector<std::string> clsync_leftovers(const std::filesystem::path& root);

} // namespace clsync::test
