// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/events.hpp"
#include "core/exceptions.hpp"
#include "core/fault.hpp"
#include "core/cluster/inventory.hpp"
#include "core/cluster/node_set.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace clsync::core {

Inventory take_inventory(const Topology& topo,
                         NodeSet& nodes,
                         const InventoryOptions& opts,
                         Events& events)
{
  for (const auto& name : opts.exclude_nodes) {
    if (!topo.find_node(name)) {
      throw UsageError("--exclude-node " + name + ": no such node in " + topo.file,
                       "name a node of the topology");
    }
  }
  transport::ScanSpec spec;
  for (const auto& db : topo.databases) {
    spec.databases.push_back({db.name, db.levels.size()});
  }
  spec.with_files = opts.with_files;
  spec.with_hashes = opts.verify;

  std::vector<NodeScanResult> results(topo.nodes.size());
  // Each node's scan is folded into the inventory as it arrives and freed: the peak is the
  // inventory plus the scans in flight, not every node's whole scan at once.
  ScanFolder builder(topo, opts);
  std::exception_ptr fold_error;
  std::size_t to_scan = 0;
  for (std::size_t i = 0; i < topo.nodes.size(); ++i) {
    const auto& name = topo.nodes[i].name;
    if (std::find(opts.exclude_nodes.begin(), opts.exclude_nodes.end(), name) !=
        opts.exclude_nodes.end()) {
      results[i].reachable = false;
      results[i].excluded = true;
      results[i].error = "excluded";
    } else {
      ++to_scan;
    }
  }

  events.phase(opts.verify ? "scanning and hashing " + std::to_string(to_scan) + " nodes"
                           : "scanning " + std::to_string(to_scan) + " nodes");
  std::mutex progress_mutex;
  Progress progress;
  progress.tasks_total = to_scan;

  // One thread per node: a scan is mostly waiting on disks or on the network, and a cluster
  // has tens of nodes, not thousands.
  std::vector<std::thread> threads;
  auto join_all = [&threads] {
    for (auto& t : threads) {
      if (t.joinable()) {
        t.join();
      }
    }
  };
  auto scan_node = [&](std::size_t i) {
    NodeScanResult& r = results[i];
    const std::string& name = topo.nodes[i].name;
    try {
      fault_point("scan_node");
      r.scan = nodes.get(name)->scan(spec);
    } catch (const transport::TransportError& e) {
      r.reachable = false;
      r.error = e.what();
    } catch (...) {
      // Whatever breaks on one node (whatever it throws, on this thread) must not hide the
      // others nor end the process: report it like an unreachable node.
      r.reachable = false;
      r.error = "node " + name + ": " + current_exception_text();
    }
    std::lock_guard lock(progress_mutex);
    ++progress.tasks_done;
    if (!r.reachable) {
      ++progress.tasks_failed;
      events.warning("node " + name + " is unreachable: " + r.error);
    }
    events.progress(progress);
    try {
      builder.add(i, std::move(r));
    } catch (...) {
      fold_error = std::current_exception();  // rethrown on the calling thread
    }
  };
  try {
    for (std::size_t i = 0; i < topo.nodes.size(); ++i) {
      if (!results[i].excluded) {
        threads.emplace_back(scan_node, i);
      }
    }
  } catch (...) {
    // A thread could not be started: the ones running still use `results`, so wait for them.
    join_all();
    throw;
  }
  join_all();
  if (fold_error) {
    std::rethrow_exception(fold_error);
  }
  for (std::size_t i = 0; i < topo.nodes.size(); ++i) {
    if (results[i].excluded) {
      builder.add(i, std::move(results[i]));
    }
  }
  return builder.finish();
}

} // namespace clsync::core
