// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Times the replica planner on a large synthetic inventory: 1,000,000 replicas (500,000 chunks
// × 2) over 1,000 nodes, of which the last 10% are new and empty, with skewed chunk sizes.
// Prints the median of 3 runs of plan_node_rebalance by bytes and by count, and peak RSS.
#include "core/plan/replica_planner.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/resource.h>
#include <time.h>
#include <vector>

namespace {

using namespace clsync;

long peak_rss_mib()
{
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024; // ru_maxrss is in KiB on Linux
}

struct Rng {
  std::uint64_t state;
  std::uint64_t next()
  {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  }
};

struct Setup {
  core::Topology topo;
  core::Inventory inv;
};

Setup build(int nodes, int chunks, int empty_nodes)
{
  Setup s;
  s.topo.cluster = "bench";
  s.topo.replication = 2;
  s.topo.databases.push_back({"Level1", {"date", "hash"}, std::nullopt});
  for (int n = 0; n < nodes; ++n) {
    char name[32];
    std::snprintf(name, sizeof name, "dn%04d", n);
    core::NodeSpec spec;
    spec.name = name;
    spec.host = "local";
    core::NodeState state;
    state.name = name;
    state.host = "local";
    for (int v = 0; v < 2; ++v) {
      const std::string path = "/ssd/ssd" + std::to_string(v) + "/chunkData/CHUNKS";
      spec.volumes.push_back(path);
      core::VolumeState vs;
      vs.path = path;
      vs.capacity_bytes = 4ull << 40;
      vs.free_bytes = 2ull << 40;
      vs.filesystem_id = static_cast<std::uint64_t>(n * 2 + v + 1);
      state.volumes.push_back(vs);
    }
    s.topo.nodes.push_back(spec);
    s.inv.nodes.push_back(state);
  }
  Rng rng{42};
  const int full = nodes - empty_nodes;
  s.inv.chunks.reserve(static_cast<std::size_t>(chunks));
  for (int i = 0; i < chunks; ++i) {
    core::Chunk c;
    char key[64];
    std::snprintf(key, sizeof key, "Level1/2020%04d/%06d/pt", 101 + i / 100000, i % 100000);
    c.key = key;
    c.db = "Level1";
    c.table = "pt";
    c.replication = 2;
    // Skewed sizes: mostly tens of MiB, a long tail up to ~1 GiB.
    const std::uint64_t a = rng.next() % 64, b = rng.next() % 64;
    c.bytes = (1ull << 20) * (1 + a * b / 4);
    const int n1 = static_cast<int>(rng.next() % static_cast<std::uint64_t>(full));
    int n2 = static_cast<int>(rng.next() % static_cast<std::uint64_t>(full - 1));
    n2 = n2 >= n1 ? n2 + 1 : n2;
    for (int n : {std::min(n1, n2), std::max(n1, n2)}) {
      core::Replica r;
      r.node = s.inv.nodes[static_cast<std::size_t>(n)].name;
      r.volume = s.inv.nodes[static_cast<std::size_t>(n)].volumes[i % 2].path;
      r.bytes = c.bytes;
      r.files = 12;
      r.newest_mtime_ns = 1'600'000'000'000'000'000;
      char fp[65];
      std::snprintf(
          fp, sizeof fp, "%016llx%016llx%016llx%016llx",
          static_cast<unsigned long long>(rng.next()), static_cast<unsigned long long>(rng.next()),
          static_cast<unsigned long long>(rng.next()), static_cast<unsigned long long>(rng.next()));
      r.fingerprint = fp;
      c.replicas.push_back(std::move(r));
    }
    s.inv.chunks.push_back(std::move(c));
  }
  std::sort(s.inv.chunks.begin(), s.inv.chunks.end(),
            [](const core::Chunk& x, const core::Chunk& y) { return x.key < y.key; });
  return s;
}

/// CPU seconds of this process: unlike wall time, not inflated by other load on the machine.
double cpu_seconds()
{
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double seconds_since(std::chrono::steady_clock::time_point t0)
{
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run(const Setup& s, core::BalanceBy by)
{
  core::PlanParams params;
  params.by = by;
  std::vector<double> times, cpu;
  core::Plan plan;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    plan = core::plan_node_rebalance(s.inv, s.topo, params);
    times.push_back(seconds_since(t0));
    cpu.push_back(cpu_seconds() - c0);
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu.begin(), cpu.end());
  std::size_t node_notes = 0;
  for (const auto& n : plan.notes) {
    node_notes += n.chunk.empty() ? 1 : 0;
  }
  std::printf("plan_node_rebalance --by %-5s median %.3f s wall (min %.3f, max %.3f), %.3f s CPU: "
              "%zu moves, %.1f GiB, %zu nodes left out of threshold, peak RSS %ld MiB\n",
              core::to_string(by), times[1], times[0], times[2], cpu[1], plan.moves.size(),
              static_cast<double>(plan.bytes()) / (1ull << 30), node_notes, peak_rss_mib());
}

} // namespace

int main(int argc, char** argv)
{
  const int nodes = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int chunks = argc > 2 ? std::atoi(argv[2]) : 500000;
  const int empty = nodes / 10;
  const auto t0 = std::chrono::steady_clock::now();
  const Setup s = build(nodes, chunks, empty);
  std::printf("inventory: %d nodes (%d empty), %d chunks, %d replicas, built in %.2f s, "
              "RSS %ld MiB\n",
              nodes, empty, chunks, chunks * 2, seconds_since(t0), peak_rss_mib());
  run(s, core::BalanceBy::bytes);
  run(s, core::BalanceBy::count);
  const auto t1 = std::chrono::steady_clock::now();
  core::PlanParams params;
  const auto drain = core::plan_drain_node(s.inv, s.topo, "dn0000", std::nullopt, params);
  std::printf("plan_drain_node dn0000: %.3f s, %zu moves\n", seconds_since(t1), drain.moves.size());
  std::printf("peak RSS %ld MiB\n", peak_rss_mib());
  return 0;
}
