// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// `status` over hand-written topologies and hand-made chunk trees on real local volumes.
#include "core/context.hpp"
#include "core/cluster/node_set.hpp"
#include "core/status.hpp"
#include "core/cluster/topology.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <sys/time.h>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;

namespace {

/// A topology file written into `dir`, loaded, with the nodes opened through the real factory.
struct Cluster {
  std::shared_ptr<Topology> topo;
  std::shared_ptr<NodeSet> nodes;
  NullEvents events;
  Context ctx;

  Cluster(const fs::path& dir, const std::string& yaml)
  {
    test::write_file(dir / "cluster.yaml", yaml);
    topo = std::make_shared<Topology>(load_topology(dir / "cluster.yaml"));
    nodes = std::make_shared<NodeSet>(*topo);
    ctx.topology = topo;
    ctx.nodes = nodes;
    ctx.events = &events;
  }

  StatusResult run(const StatusOptions& opts = {}) { return status(ctx, opts); }
};

/// Writes a chunk with `files` files of `size` bytes each, filled with `fill`.
void make_status_chunk(const fs::path& volume,
                const std::string& key,
                int files,
                std::size_t size,
                char fill = 'x')
{
  for (int i = 0; i < files; ++i) {
    test::write_file(volume / key / ("col" + std::to_string(i) + ".bin"), std::string(size, fill));
  }
}

void set_mtime_s(const fs::path& dir, long seconds)
{
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct timeval tv[2] = {{seconds, 0}, {seconds, 0}};
    ::utimes(e.path().c_str(), tv);
  }
}

const NodeState& node(const StatusResult& r, const std::string& name)
{
  const NodeState* n = r.inventory.node(name);
  REQUIRE_MESSAGE(n != nullptr, name);
  return *n;
}

/// The topology of three local nodes (n1 with two volumes) under `d`, with their volume
/// directories created.
std::string three_nodes(const fs::path& d, const std::string& extra_node = "")
{
  for (const char* v : {"n1/v0", "n1/v1", "n2/v0", "n3/v0"}) {
    if (!fs::exists(d / v)) {
      fs::create_directories(d / v);
    }
  }
  return "cluster: t1\n"
         "replication: 2\n"
         "nodes:\n"
         "  - name: n1\n"
         "    host: local\n"
         "    volumes: [" + (d / "n1/v0").string() + ", " + (d / "n1/v1").string() + "]\n"
         "  - name: n2\n"
         "    host: local\n"
         "    volumes: [" + (d / "n2/v0").string() + "]\n"
         "  - name: n3\n"
         "    host: local\n"
         "    volumes: [" + (d / "n3/v0").string() + "]\n" +
         extra_node +
         "databases:\n"
         "  Level1:\n"
         "    levels: [date, hash]\n"
         "  Flat:\n"
         "    levels: []\n";
}

} // namespace

TEST_SUITE("status")
{
  TEST_CASE("hand-made trees: counts and bytes per node and volume, all healthy")
  {
    fs::path d = test::scratch_dir("status-counts");
    // 6 chunks of Level1 (3 files × 100 bytes) on n1 (split over its volumes) and n2;
    // 2 chunks of Flat (1 file × 1000 bytes) on n2 and n3.
    for (int h = 0; h < 6; ++h) {
      std::string key = "Level1/20200601/" + std::to_string(h) + "/Snapshot";
      make_status_chunk(d / (h < 4 ? "n1/v0" : "n1/v1"), key, 3, 100);
      make_status_chunk(d / "n2/v0", key, 3, 100);
    }
    for (const char* t : {"A", "B"}) {
      make_status_chunk(d / "n2/v0", std::string("Flat/") + t, 1, 1000);
      make_status_chunk(d / "n3/v0", std::string("Flat/") + t, 1, 1000);
    }
    // Not chunks: an undeclared database, lost+found, a clsync leftover.
    make_status_chunk(d / "n3/v0", "Other/x/y", 2, 10);
    fs::create_directories(d / "n1/v0/lost+found/junk");
    fs::create_directories(d / "n2/v0/.clsync-tmp-task7/Level1");

    Cluster c(d, three_nodes(d));
    StatusResult r = c.run();
    CHECK(r.exit_code == ExitCode::ok);
    CHECK(r.cluster == "t1");
    CHECK(r.inventory.health.chunks == 8);
    CHECK(r.inventory.health.healthy == 8);
    CHECK(r.unhealthy.empty());

    const NodeState& n1 = node(r, "n1");
    CHECK(n1.reachable);
    CHECK(n1.chunks == 6);
    CHECK(n1.bytes == 1800);
    REQUIRE(n1.volumes.size() == 2);
    CHECK(n1.volumes[0].chunks == 4);
    CHECK(n1.volumes[0].bytes == 1200);
    CHECK(n1.volumes[1].chunks == 2);
    CHECK(n1.volumes[1].bytes == 600);
    // Both volumes of n1 sit on one filesystem: counted once.
    CHECK(n1.volumes[0].capacity_bytes > 0);
    CHECK(n1.capacity_bytes == n1.volumes[0].capacity_bytes);
    CHECK(node(r, "n2").chunks == 8);
    CHECK(node(r, "n2").bytes == 3800);
    CHECK(node(r, "n3").chunks == 2);
    CHECK(node(r, "n3").bytes == 2000);

    const Chunk* ch = r.inventory.chunk("Level1/20200601/3/Snapshot");
    REQUIRE(ch != nullptr);
    CHECK(ch->bytes == 300);
    REQUIRE(ch->partition().size() == 2);
    CHECK(ch->partition()[1].second == "3");
    REQUIRE(ch->replicas.size() == 2);
    CHECK(ch->replicas[0].node == "n1");
    CHECK(ch->replicas[0].files == 3);
    CHECK(ch->replicas[0].fingerprint.size() == 64);

    REQUIRE(r.inventory.unmanaged.size() == 1);
    CHECK(r.inventory.unmanaged[0].first == "n3");
    CHECK(r.inventory.unmanaged[0].second.path == "Other/x/y");
    CHECK(r.inventory.unmanaged[0].second.bytes == 20);
    REQUIRE(r.inventory.leftovers.size() == 1);
    CHECK(r.inventory.leftovers[0].first == "n2");
    CHECK(r.inventory.leftovers[0].second.kind == "tmp");
    CHECK(r.inventory.leftovers[0].second.task == "task7");

    // n1 holds 6 replicas, n2 8, n3 2.
    CHECK(r.balance.chunks.max == 8);
    CHECK(r.balance.chunks.min == 2);
  }

  TEST_CASE("filters and --by narrow the counts")
  {
    fs::path d = test::scratch_dir("status-filters");
    for (int day = 1; day <= 3; ++day) {
      for (int h = 0; h < 2; ++h) {
        std::string key = "Level1/2020060" + std::to_string(day) + "/" + std::to_string(h) + "/S";
        make_status_chunk(d / "n1/v0", key, 1, 10);
        make_status_chunk(d / "n2/v0", key, 1, 10);
      }
    }
    make_status_chunk(d / "n3/v0", "Flat/A", 1, 7);
    make_status_chunk(d / "n2/v0", "Flat/A", 1, 7);
    Cluster c(d, three_nodes(d));
    StatusOptions opts;
    opts.filter.where.push_back("date>=2020.06.02");
    opts.by = "db";
    StatusResult r = c.run(opts);
    CHECK(r.filtered);
    CHECK(r.inventory.chunks.size() == 4);
    CHECK(node(r, "n1").chunks == 4);
    CHECK(node(r, "n1").bytes == 40);
    CHECK(node(r, "n3").chunks == 0);
    REQUIRE(r.groups.size() == 1);
    CHECK(r.groups[0].name == "Level1");
    CHECK(r.groups[0].replicas == 8);

    StatusOptions flat;
    flat.filter.dbs.push_back("Flat");
    r = c.run(flat);
    CHECK(r.inventory.chunks.size() == 1);
    CHECK(node(r, "n3").bytes == 7);
    CHECK(node(r, "n1").bytes == 0);
  }

  TEST_CASE("unhealthy trees: missing replica, duplicate, divergent, mtimes alone, --check")
  {
    fs::path d = test::scratch_dir("status-health");
    // under-replicated: only on n1.
    make_status_chunk(d / "n1/v0", "Level1/1/0/S", 2, 10);
    // duplicate on n1 (both volumes) and on n2.
    make_status_chunk(d / "n1/v0", "Level1/1/1/S", 2, 10);
    make_status_chunk(d / "n1/v1", "Level1/1/1/S", 2, 10);
    make_status_chunk(d / "n2/v0", "Level1/1/1/S", 2, 10);
    // divergent by layout: different sizes.
    make_status_chunk(d / "n1/v0", "Level1/1/2/S", 2, 10);
    make_status_chunk(d / "n2/v0", "Level1/1/2/S", 2, 11);
    // same paths and sizes, different bytes and mtimes: divergent only under --verify.
    make_status_chunk(d / "n1/v0", "Level1/1/3/S", 2, 10, 'a');
    make_status_chunk(d / "n2/v0", "Level1/1/3/S", 2, 10, 'b');
    // same bytes, different mtimes: healthy, also under --verify.
    make_status_chunk(d / "n1/v0", "Level1/1/4/S", 2, 10);
    make_status_chunk(d / "n2/v0", "Level1/1/4/S", 2, 10);
    set_mtime_s(d / "n1/v0/Level1/1/4/S", 1000000000);
    set_mtime_s(d / "n2/v0/Level1/1/4/S", 1200000000);
    // over-replicated: on all three nodes.
    for (const char* v : {"n1/v0", "n2/v0", "n3/v0"}) {
      make_status_chunk(d / v, "Level1/1/5/S", 1, 10);
    }
    Cluster c(d, three_nodes(d));
    StatusResult r = c.run();
    auto health = [&](const std::string& key) {
      const Chunk* ch = r.inventory.chunk(key);
      REQUIRE_MESSAGE(ch != nullptr, key);
      return ch->health;
    };
    CHECK(health("Level1/1/0/S") == ChunkHealth::under_replicated);
    CHECK(health("Level1/1/1/S") == ChunkHealth::duplicate_on_node);
    CHECK(health("Level1/1/2/S") == ChunkHealth::divergent);
    CHECK(health("Level1/1/3/S") == ChunkHealth::healthy);
    CHECK(health("Level1/1/4/S") == ChunkHealth::healthy);
    CHECK(health("Level1/1/5/S") == ChunkHealth::over_replicated);
    CHECK(r.inventory.health.healthy == 2);
    CHECK(r.unhealthy.size() == 4);
    CHECK(r.exit_code == ExitCode::ok);  // unhealthy, but no --check
    CHECK(node(r, "n1").chunks == 6);    // the duplicate on v1 is not counted
    CHECK(node(r, "n1").volumes[1].chunks == 0);

    StatusOptions verify;
    verify.verify = true;
    verify.check = true;
    r = c.run(verify);
    CHECK(health("Level1/1/3/S") == ChunkHealth::divergent);
    CHECK(health("Level1/1/4/S") == ChunkHealth::healthy);
    CHECK_FALSE(r.inventory.chunk("Level1/1/4/S")->replicas[0].content_hash.empty());
    CHECK(r.exit_code == ExitCode::unhealthy);
  }

  TEST_CASE("a lost empty directory or a changed directory mode is divergence, also under "
            "--verify")
  {
    fs::path d = test::scratch_dir("status-dirs");
    for (const char* v : {"n1/v0", "n2/v0"}) {
      // Same files, same bytes, on two nodes.
      make_status_chunk(d / v, "Level1/1/0/S", 2, 10);
      make_status_chunk(d / v, "Level1/1/1/S", 2, 10);
      make_status_chunk(d / v, "Level1/1/2/S", 2, 10);
      fs::create_directories(d / v / "Level1/1/0/S/empty");
      fs::create_directories(d / v / "Level1/1/1/S/private");
    }
    // Level1/1/0/S lost its empty directory on n2; n2's private/ of Level1/1/1/S is 0755.
    fs::remove(d / "n2/v0/Level1/1/0/S/empty");
    REQUIRE(::chmod((d / "n1/v0/Level1/1/1/S/private").c_str(), 0700) == 0);
    REQUIRE(::chmod((d / "n2/v0/Level1/1/1/S/private").c_str(), 0755) == 0);
    set_mtime_s(d / "n1/v0/Level1", 1000000000);
    set_mtime_s(d / "n2/v0/Level1", 1200000000);
    Cluster c(d, three_nodes(d));
    for (bool verify : {false, true}) {
      INFO("verify: ", verify);
      StatusOptions opts;
      opts.verify = verify;
      StatusResult r = c.run(opts);
      auto health = [&](const std::string& key) {
        const Chunk* ch = r.inventory.chunk(key);
        REQUIRE_MESSAGE(ch != nullptr, key);
        return ch->health;
      };
      CHECK(health("Level1/1/0/S") == ChunkHealth::divergent);
      CHECK(health("Level1/1/1/S") == ChunkHealth::divergent);
      CHECK(health("Level1/1/2/S") == ChunkHealth::healthy);
      if (verify) {
        const Chunk* ch = r.inventory.chunk("Level1/1/0/S");
        REQUIRE(ch->replicas.size() == 2);
        CHECK(ch->replicas[0].content_hash != ch->replicas[1].content_hash);
      }
    }
  }

  TEST_CASE("an unreachable node and an unreadable volume: the rest is still reported, exit 3")
  {
    fs::path d = test::scratch_dir("status-unreachable");
    make_status_chunk(d / "n1/v0", "Level1/1/0/S", 1, 10);
    make_status_chunk(d / "n2/v0", "Level1/1/0/S", 1, 10);
    make_status_chunk(d / "n3/v0", "Flat/A", 1, 10);
    // n1's second volume is a regular file, not a directory: it cannot be read.
    test::write_file(d / "n1/v1", "not a directory");
    // n4 is an SSH node on a loopback port where nothing listens.
    Cluster c(d, three_nodes(d, "  - name: n4\n"
                                "    host: 127.0.0.1\n"
                                "    port: 1\n"
                                "    volumes: [/srv/n4]\n"));
    StatusResult r = c.run();
    CHECK(r.exit_code == ExitCode::partial);
    const NodeState& n4 = node(r, "n4");
    CHECK_FALSE(n4.reachable);
    CHECK_FALSE(n4.excluded);
    CHECK(n4.error.find("n4") != std::string::npos);
    CHECK(node(r, "n2").chunks == 1);
    CHECK(node(r, "n3").bytes == 10);
    const NodeState& n1 = node(r, "n1");
    CHECK(n1.reachable);
    CHECK(n1.chunks == 1);
    REQUIRE(n1.volumes.size() == 2);
    CHECK(n1.volumes[0].ok);
    CHECK_FALSE(n1.volumes[1].ok);
    CHECK(n1.volumes[1].error.find((d / "n1/v1").string()) != std::string::npos);
    bool named = false;
    for (const auto& [n, p] : r.inventory.problems) {
      named = named || (n == "n1" && p.find((d / "n1/v1").string()) != std::string::npos);
    }
    CHECK(named);
    // Flat/A lives only on n3: under-replicated, so --check turns 3 into 5.
    StatusOptions check;
    check.check = true;
    CHECK(c.run(check).exit_code == ExitCode::unhealthy);

    // Excluding the dead node is the operator's choice; n1's missing volume still hides its
    // replicas, so the report stays partial (exit 3), as for an unreachable node.
    StatusOptions excl;
    excl.exclude_nodes.push_back("n4");
    r = c.run(excl);
    CHECK(r.exit_code == ExitCode::partial);
    CHECK(node(r, "n4").excluded);
    CHECK(node(r, "n4").error == "excluded");

    StatusOptions bad;
    bad.exclude_nodes.push_back("nope");
    CHECK_THROWS_AS(c.run(bad), UsageError);
  }
}
