// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/filter.hpp"
#include "tests/integration/restore_fixture.hpp"

#include <filesystem>
#include <string>
#include <vector>

/// What the commit-set suites (`commit_set`, `commit_set_down`) share: cluster B restored from a
/// snapshot of A, then one chunk changed the same way on both of its replicas, so that
/// `restore --force` replaces that chunk on both nodes as one commit set
/// (core/run/fan_out_task.hpp); and checks of B from outside the run under test.
namespace clsync::test {

/// Level1 on 2020.06.01: 10 chunks.
core::FilterOptions commit_set_day();

/// Runs clsync with `args --json`; its output is shown when the exit code is not `expect`.
/// `out`, when given, receives the output.
int run_expect(const std::string& args,
               int expect,
               const std::string& env = "",
               std::string* out = nullptr);

struct CommitSetScene {
  DemoCopy a;
  ClusterB b; ///< local nodes on B's volumes: what the checks look through
  std::filesystem::path repo_dir;
  std::string base; ///< restore command (local B) without --force
  std::string key;  ///< the changed chunk
  std::string old_hash, new_hash;
  std::vector<std::filesystem::path> victim_files; ///< one file of `key`, on each replica

  explicit CommitSetScene(const std::string& name);

  /// Restores, then changes the first chunk holding a replica on `on_node` ("": any).
  void restore_and_change(const std::string& on_node = "");
  /// Makes both replicas of `key` (the new version) an older version again.
  void change();
  /// The content hash of each replica of `key` on B, from a verifying inventory.
  std::vector<std::string> replica_hashes();
  /// Both replicas there, both `want`, nothing of clsync's left on B.
  void check_all(const std::string& want, const std::string& when);
  /// The participants of the set in plan order (their volumes), read from an intent on B.
  std::vector<std::string> participant_volumes();
  /// B's node index (0 = B1) whose volume is `volume`.
  std::size_t node_of(const std::string& volume) const;
};

} // namespace clsync::test
