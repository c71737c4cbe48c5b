// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/context.hpp"
#include "core/events.hpp"
#include "core/cluster/inventory.hpp"
#include "core/cluster/node_set.hpp"
#include "core/cluster/topology.hpp"
#include "core/run/executor.hpp"

#include <atomic>
#include <csignal>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

/// Shared by the `rebalance` and `crash` suites: copies of one `clsync demo` cluster on real
/// local volumes, and ways to look at them from outside clsync's own code paths.
namespace clsync::test {

/// Records what the executor reports; can raise the stop flag after `stop_after_bytes`.
struct RecordingEvents : core::Events {
  std::mutex m;
  std::vector<core::TaskEvent> tasks;
  std::vector<std::string> warnings;
  std::atomic<bool>* stop = nullptr;
  std::uint64_t stop_after_bytes = 0;
  /// The longest stall (Progress::stalled_s) reported so far.
  std::atomic<std::uint64_t> max_stalled_s{0};
  void task(const core::TaskEvent& t) override;
  void warning(const std::string& w) override;
  void progress(const core::Progress& p) override;
  std::size_t count(const std::string& state);
};

/// A private copy of the demo's cluster-a (built once per process with 4 KiB chunks, then
/// copied with `cp -a`, which keeps mtimes).
struct DemoCopy {
  std::filesystem::path dir;  ///< the copy's root
  std::filesystem::path yaml; ///< its cluster-a.yaml
  std::shared_ptr<core::Topology> topo;
  std::shared_ptr<core::NodeSet> nodes;
  RecordingEvents events;
  std::atomic<bool> stop{false};
  core::Context ctx;

  explicit DemoCopy(const std::string& name);
  /// Rewrites the topology file with `edit` applied to its text, and reloads it.
  void edit_yaml(const std::function<void(std::string&)>& edit);
  void reload();
  /// A fresh inventory; with `verify`, content hashes of every replica.
  core::Inventory inventory(bool verify = false);
  /// `volume` of `node` ("P1-dn1", 0 → its first volume path).
  std::string volume(const std::string& node, std::size_t i = 0) const;
};

/// Replicas per node (duplicates excluded), from an inventory.
std::map<std::string, std::uint64_t> replicas_per_node(const core::Inventory& inv);

/// Every chunk's content hash, checking all its replicas agree (CHECKs fail otherwise).
std::map<std::string, std::string> content_by_chunk(const core::Inventory& inv);

/// Every path under `root` with type, size, mtime and mode, one per line, sorted: two equal
/// listings mean nothing was written, renamed or removed.
std::string tree_listing(const std::filesystem::path& root);

/// "" when the listings are equal, else the first line where they differ (for messages).
std::string first_difference(const std::string& a, const std::string& b);

/// Chunk key → number of distinct nodes holding a directory at that key, found by walking the
/// volumes of the topology file's nodes directly (no clsync code): what a crash left.
std::map<std::string, int> replicas_on_disk(const core::Topology& topo);

/// The exit status run_clsync reports for a process killed by SIGKILL.
inline constexpr int k_killed = 128 + SIGKILL;

/// Executor settings naming a rebalance-nodes run `run_id` on `d`'s cluster.
core::ExecSettings settings_for(DemoCopy& d, const std::string& run_id);

/// tree_listing of `d`'s nodes without the volume roots themselves (whose mtimes change).
std::string volumes_listing(DemoCopy& d);

/// Runs the clsync binary with `args` (shell-quoted by the caller) and `env` prefix; returns the
/// exit status (128 + signal when killed) and fills `out` with stdout.
int run_clsync(const std::string& args, std::string* out = nullptr, const std::string& env = "");

} // namespace clsync::test
