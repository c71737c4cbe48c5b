// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/backup_object.hpp"
#include "core/repo/backup_select.hpp"
#include "core/repo/node_pool.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

using namespace clsync::core;
using namespace clsync::core::repo;

namespace {

Inventory two_nodes()
{
  Inventory inv;
  inv.nodes.push_back(NodeState{"A"});
  inv.nodes.push_back(NodeState{"B"});
  for (const char* key : {"db/1/t", "db/2/t", "db/3/t"}) {
    Chunk c;
    c.key = key;
    c.db = "db";
    c.table = "t";
    c.levels = {"p"};  // the value is the key's "1", "2" or "3"
    c.bytes = 100;
    for (const char* n : {"A", "B"}) {
      Replica r;
      r.node = n;
      r.volume = std::string("/v") + n;
      r.fingerprint = std::string("fp-") + n + key;
      r.file_list.push_back({"x.col", 100, 1234, 0644, 0, 0, ""});
      c.replicas.push_back(r);
    }
    inv.chunks.push_back(c);
  }
  return inv;
}

std::vector<const Chunk*> all(const Inventory& inv)
{
  std::vector<const Chunk*> v;
  for (const auto& c : inv.chunks) {
    v.push_back(&c);
  }
  return v;
}

} // namespace

TEST_SUITE("core::backup_select")
{
  TEST_CASE("cache hits on any replica reuse the object without a read; misses pack")
  {
    Inventory inv = two_nodes();
    SnapshotChunk rec;
    rec.object = "h1";
    rec.manifest.files.push_back({{"x.col", 100, 999, 0600, 5, 5, ""}, "sha", {}});
    CacheLookup cache = [](const std::string& node, const std::string&, const std::string& key,
                           const std::string& fp) -> std::optional<std::string> {
      if (key == "db/1/t" && node == "B" && fp == "fp-Bdb/1/t") {
        return "h1";
      }
      if (key == "db/2/t" && node == "A") {
        return "h-gone";  // its object is not in the repository
      }
      return std::nullopt;
    };
    RecordLookup records = [&](const std::string& o) -> std::optional<SnapshotChunk> {
      if (o == "h1") {
        return rec;
      }
      return std::nullopt;
    };
    auto items = select_backup(all(inv), inv, {}, cache, records);
    REQUIRE(items.size() == 3);
    CHECK(items[0].action == BackupItem::Action::reuse);
    REQUIRE(items[0].cached != nullptr);
    CHECK(items[0].cached->node == "B");
    CHECK(items[0].record.key == "db/1/t");
    // The replica's own mtime and mode, not the record's.
    CHECK(items[0].record.manifest.files[0].entry.mtime_ns == 1234);
    CHECK(items[0].record.manifest.files[0].entry.mode == 0644);
    CHECK(items[1].action == BackupItem::Action::pack);
    CHECK(items[1].candidates.size() == 2);
    CHECK(items[2].action == BackupItem::Action::pack);
  }

  TEST_CASE("a divergent chunk is skipped unless --prefer-node holds a replica of it")
  {
    Inventory inv = two_nodes();
    inv.chunks[1].health = ChunkHealth::divergent;
    inv.chunks[1].issues = {ChunkHealth::divergent};
    auto none = [](const std::string&, const std::string&, const std::string&,
                   const std::string&) -> std::optional<std::string> { return std::nullopt; };
    auto norec = [](const std::string&) -> std::optional<SnapshotChunk> { return std::nullopt; };
    auto items = select_backup(all(inv), inv, {}, none, norec);
    CHECK(items[1].action == BackupItem::Action::skip);
    CHECK(items[1].reason.find("--prefer-node") != std::string::npos);
    CHECK(items[1].reason.find("A:/vA") != std::string::npos);
    SelectParams p;
    p.prefer_node = "B";
    items = select_backup(all(inv), inv, p, none, norec);
    REQUIRE(items[1].action == BackupItem::Action::pack);
    REQUIRE(items[1].candidates.size() == 1);
    CHECK(items[1].candidates[0]->node == "B");
    CHECK(items[0].candidates.size() == 2);  // --prefer-node decides divergent chunks only
  }

  TEST_CASE("the pool spreads jobs over their nodes and keeps --per-node")
  {
    std::vector<PoolJob> jobs;
    std::mutex m;
    std::map<std::string, int> ran, busy, max_busy;
    for (int i = 0; i < 40; ++i) {
      PoolJob j;
      j.candidates = {"A", "B"};
      j.bytes = 10;
      j.run = [&](const std::string& node, int) {
        {
          std::lock_guard l(m);
          ++ran[node];
          max_busy[node] = std::max(max_busy[node], ++busy[node]);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        std::lock_guard l(m);
        --busy[node];
      };
      jobs.push_back(std::move(j));
    }
    PoolLimits pl;
    pl.concurrency = 4;
    pl.per_node = 2;
    auto out = run_pool(jobs, pl);
    CHECK(out.not_started == 0);
    CHECK(ran["A"] + ran["B"] == 40);
    CHECK(ran["A"] > 0);
    CHECK(ran["B"] > 0);
    CHECK(max_busy["A"] <= 2);
    CHECK(max_busy["B"] <= 2);
  }

  TEST_CASE("the pool's hold stops new jobs (max-bytes) and counts the rest")
  {
    std::vector<PoolJob> jobs;
    std::atomic<int> ran{0};
    for (int i = 0; i < 10; ++i) {
      jobs.push_back({{"A"}, 100, [&](const std::string&, int) { ++ran; }});
    }
    PoolLimits pl;
    pl.concurrency = 1;
    pl.per_node = 1;
    pl.hold = [](std::uint64_t started) -> std::string { return started >= 300 ? "max-bytes" : ""; };
    auto out = run_pool(jobs, pl);
    CHECK(ran.load() == 3);
    CHECK(out.not_started == 7);
    CHECK(out.stopped_by == "max-bytes");
  }
}

TEST_CASE("zstd workers only where the objects in flight leave cores idle")
{
  // Remote nodes: --zstd-threads shared by the node's objects, never a lone worker.
  CHECK(zstd_workers(4, 1, false, 0, 2) == 4);
  CHECK(zstd_workers(4, 2, false, 0, 2) == 2);
  CHECK(zstd_workers(4, 3, false, 0, 2) == 0);
  CHECK(zstd_workers(0, 1, false, 0, 2) == 0);
  // Local nodes share this machine's cores with every object packed on them.
  CHECK(zstd_workers(4, 1, true, 1, 2) == 2);
  CHECK(zstd_workers(4, 1, true, 2, 2) == 0);
  CHECK(zstd_workers(4, 2, true, 8, 2) == 0);
  CHECK(zstd_workers(4, 1, true, 2, 8) == 4);
  CHECK(zstd_workers(8, 1, true, 3, 8) == 2);
  CHECK(zstd_workers(4, 1, true, 0, 1) == 0);
}
