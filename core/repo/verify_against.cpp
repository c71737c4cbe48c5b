// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/verify_against.hpp"

#include "core/cluster/filter.hpp"
#include "core/exceptions.hpp"
#include "core/plan/plan_check.hpp"
#include "core/repo/node_pool.hpp"
#include "core/repo/snapshot.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

namespace clsync::core::repo {
namespace {

bool no_filter(const FilterOptions& f)
{
  return f.dbs.empty() && f.tables.empty() && f.partitions.empty() && f.where.empty() &&
         f.chunks.empty() && f.columns.empty();
}

/// The snapshot `id`, or for "latest" the newest of this cluster (else the newest of all).
Snapshot pick_snapshot(const Repository& repo, const std::string& id, const std::string& cluster)
{
  if (id != "latest") {
    return repo.read_snapshot(id);
  }
  const auto ids = repo.list_snapshots();
  if (ids.empty()) {
    throw Error(ExitCode::failed, "no snapshot in " + repo.location().text,
                "back up first: clsync backup -c FILE --to " + repo.location().text);
  }
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    Snapshot s = repo.read_snapshot(*it);
    if (s.cluster == cluster) {
      return s;
    }
  }
  return repo.read_snapshot(ids.back());
}

/// Counts the bytes away: packing with --columns only to learn the object's id.
struct NullSink : transport::ByteSink {
  void write(std::span<const char>) override {}
};

} // namespace

VerifyAgainstResult verify_against(Context& ctx, const VerifyAgainstOptions& opts)
{
  const auto t0 = std::chrono::steady_clock::now();
  const Topology& topo = ctx.topo();
  if (opts.repo.empty()) {
    throw UsageError("verify --against needs a repository");
  }
  if (opts.per_node < 1 || opts.concurrency < 0) {
    throw UsageError("--per-node must be 1 or more, --concurrency 0 or more");
  }
  Repository repo = Repository::open(parse_repo_location(opts.repo), opts.connect, false);
  const Snapshot snap = pick_snapshot(repo, opts.snapshot, topo.cluster);
  const FilterOptions& fo = no_filter(opts.filter) ? snap.filters : opts.filter;
  ChunkFilter filter(fo, topo);

  VerifyAgainstResult res;
  res.snapshot = snap.id;
  res.repository = opts.repo;
  res.cluster = topo.cluster;

  InventoryOptions io;
  io.exclude_nodes = opts.exclude_nodes;
  Inventory inv = take_inventory(topo, *ctx.nodes, io, *ctx.events);
  check_reachable(inv);

  std::map<std::string, const SnapshotChunk*> in_snapshot;
  for (const auto& c : snap.chunks) {
    Chunk probe;
    if (parse_chunk_key(topo, c.key, probe) ? filter.matches(probe) : filter.selects_all()) {
      in_snapshot.emplace(c.key, &c);
    }
  }

  // One job per replica: each is hashed on its own node.
  struct Slot {
    const Chunk* chunk;
    const Replica* replica;
    std::string hash;
    std::string error;
  };
  std::vector<Slot> slots;
  std::map<std::string, const Chunk*> in_cluster;
  for (const auto& c : inv.chunks) {
    if (!filter.matches(c)) {
      continue;
    }
    in_cluster.emplace(c.key, &c);
    if (!in_snapshot.count(c.key)) {
      continue;  // absent: nothing to compare its bytes with
    }
    for (const auto& r : c.replicas) {
      if (!r.duplicate && inv.node(r.node) && inv.node(r.node)->reachable) {
        slots.push_back({&c, &r, {}, {}});
      }
    }
  }
  transport::PackOptions po;
  po.columns = snap.filters.columns;
  std::vector<PoolJob> jobs;
  jobs.reserve(slots.size());
  for (auto& s : slots) {
    PoolJob j;
    j.candidates = {s.replica->node};
    j.bytes = s.replica->bytes;
    j.run = [&ctx, &s, &po](const std::string& node, int) {
      try {
        auto n = ctx.nodes->get(node);
        if (po.columns.empty()) {
          s.hash = n->hash_chunk(s.replica->volume, s.chunk->key).content_hash;
        } else {
          // With --columns the object holds only those files: its id is their content hash.
          NullSink none;
          s.hash = n->pack_chunk(s.replica->volume, s.chunk->key, po, none).digest.content_hash;
        }
      } catch (...) {
        s.error = current_exception_text();
      }
    };
    jobs.push_back(std::move(j));
  }
  PoolLimits pl;
  pl.per_node = opts.per_node;
  pl.concurrency =
      opts.concurrency > 0 ? opts.concurrency : 2 * static_cast<int>(topo.nodes.size());
  pl.hold = [&ctx](std::uint64_t) -> std::string {
    return ctx.stopping() ? "interrupted" : "";
  };
  ctx.events->phase("verify");
  const PoolOutcome out = run_pool(jobs, pl);
  if (!out.stopped_by.empty()) {
    throw Interrupted("verify interrupted before every replica was hashed");
  }

  std::map<std::string, ChunkDifference> by_chunk;
  std::map<std::string, bool> differs;
  for (const auto& s : slots) {
    auto& d = by_chunk[s.chunk->key];
    d.chunk = s.chunk->key;
    d.object = in_snapshot.at(s.chunk->key)->object;
    if (!s.error.empty()) {
      res.errors.push_back({s.chunk->key, s.replica->node, s.replica->volume,
                            "chunk " + s.chunk->key + " on " + s.replica->node + ":" +
                                s.replica->volume + ": " + s.error});
      continue;
    }
    d.replicas.push_back({s.replica->node, s.replica->volume, s.hash});
    if (s.hash != d.object) {
      differs[s.chunk->key] = true;
    }
  }
  for (const auto& [key, sc] : in_snapshot) {
    ++res.chunks;
    if (!in_cluster.count(key)) {
      res.missing.push_back({key, sc->object, {}});
    } else if (differs.count(key)) {
      res.differ.push_back(std::move(by_chunk[key]));
    } else {
      ++res.same;
    }
  }
  for (const auto& [key, c] : in_cluster) {
    if (!in_snapshot.count(key)) {
      ++res.chunks;
      ChunkDifference d{key, {}, {}};
      for (const auto& r : c->replicas) {
        if (!r.duplicate) {
          d.replicas.push_back({r.node, r.volume, ""});
        }
      }
      res.absent.push_back(std::move(d));
    }
  }
  if (!res.missing.empty() || !res.differ.empty() || !res.absent.empty() || !res.errors.empty()) {
    res.code = ExitCode::partial;
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

} // namespace clsync::core::repo
