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
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>

namespace clsync::core {

namespace {

/// Runs `scan(i)` for every i of `order` (in that order) on at most `workers` threads, this one
/// included: a scan is mostly waiting on disks or the network, and `workers` (--connections)
/// bounds the nodes being connected and scanned at once, however many the cluster has. A
/// thread that cannot be started only means fewer workers. `scan` never throws.
void run_scan_workers(const std::vector<std::size_t>& order,
                      std::size_t workers,
                      const std::function<void(std::size_t)>& scan)
{
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t k = next++; k < order.size(); k = next++) {
      scan(order[k]);
    }
  };
  std::vector<std::thread> threads;
  const std::size_t extra = std::min(workers, order.size());
  try {
    for (std::size_t t = 1; t < extra; ++t) {
      threads.emplace_back(work);
    }
  } catch (const std::system_error&) {
    // Out of threads: the ones started and this one share the nodes.
  }
  work();
  for (auto& t : threads) {
    t.join();
  }
}

} // namespace

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
  spec.skip_databases = opts.skip_databases;
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
  std::mutex fold_mutex;  ///< one fold and one progress report at a time
  Progress progress;
  progress.tasks_total = to_scan;

  std::vector<std::size_t> order;
  std::size_t remote = 0;
  for (std::size_t i = 0; i < topo.nodes.size(); ++i) {
    if (!results[i].excluded) {
      order.push_back(i);
      remote += topo.nodes[i].is_local() ? 0 : 1;
    }
  }
  // More SSH nodes than sessions allowed at once: a scanned node's session is closed, so the
  // inventory never holds more than --connections open (a run reopens what it needs). Fewer:
  // they stay open for the run's next steps.
  const bool close_after_scan = remote > static_cast<std::size_t>(nodes.connections());
  auto scan_node = [&](std::size_t i) {
    NodeScanResult& r = results[i];
    const std::string& name = topo.nodes[i].name;
    try {
      fault_point("scan_node");
      // Replicas are folded in batch by batch as the node finds them: a node's whole replica
      // list never exists at once (issue 10: memory).
      r.scan = nodes.get(name)->scan_batched(spec, [&](std::vector<transport::ReplicaScan>& b) {
        std::lock_guard lock(fold_mutex);
        try {
          builder.add_replicas(i, b);
        } catch (...) {
          // Not the node's failure: rethrown on the calling thread; the node stops here.
          fold_error = std::current_exception();
          throw;
        }
      });
    } catch (const transport::TransportError& e) {
      r.reachable = false;
      r.error = e.what();
    } catch (...) {
      // Whatever breaks on one node (whatever it throws, on this thread) must not hide the
      // others nor end the process: report it like an unreachable node.
      r.reachable = false;
      r.error = "node " + name + ": " + current_exception_text();
    }
    if (close_after_scan) {
      nodes.close_idle(name);
    }
    std::lock_guard lock(fold_mutex);
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
  run_scan_workers(order, static_cast<std::size_t>(nodes.connections()), scan_node);
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
