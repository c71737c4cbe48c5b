// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/demo.hpp"
#include "core/demo_writer.hpp"
#include "core/error.hpp"
#include "core/events.hpp"
#include "core/cluster/topology.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <sys/stat.h>

namespace fs = std::filesystem;
using clsync::core::DemoOptions;

namespace {

std::string contents(const fs::path& p)
{
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

timespec mtime_of(const fs::path& p)
{
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mtim;
}

fs::path volume(const fs::path& dir, const std::string& node)
{
  return dir / "a" / node / "ssd0" / "chunkData";
}

/// Sum of the sizes of the regular files directly in `chunk`.
std::uint64_t chunk_bytes(const fs::path& chunk)
{
  std::uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(chunk)) {
    total += fs::file_size(e.path());
  }
  return total;
}

std::size_t count_files(const fs::path& root)
{
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    n += e.is_regular_file() ? 1 : 0;
  }
  return n;
}

class RecordingEvents : public clsync::core::Events {
public:
  void progress(const clsync::core::Progress& p) override
  {
    std::lock_guard lock(m_mutex);
    last = p;
    calls++;
  }
  clsync::core::Progress last;
  int calls = 0;

private:
  std::mutex m_mutex;
};

} // namespace

TEST_SUITE("core::demo")
{
  TEST_CASE("the seed scenario: 200 chunks on P1-dn1 and P2-dn1, identical, none on P3-dn1")
  {
    const fs::path dir = clsync::test::scratch_dir("demo-seed") / "d";
    DemoOptions o;
    o.dir = dir.string();
    RecordingEvents events;
    const auto r = clsync::core::build_demo(o, &events);

    CHECK(o.chunk_size == 16 * 1024); // the documented default
    CHECK(r.dir == dir.string());
    REQUIRE(r.clusters.size() == 2);
    CHECK(r.clusters[0].name == "demo-a");
    CHECK(r.clusters[0].file == (dir / "cluster-a.yaml").string());
    CHECK(r.clusters[0].nodes == 3);
    CHECK(r.clusters[0].chunks == 200);
    CHECK(r.clusters[0].replicas == 400);
    CHECK(r.clusters[0].bytes == 400ull * 16384);
    CHECK(r.clusters[1].name == "demo-b");
    CHECK(r.clusters[1].chunks == 0);
    CHECK(events.last.bytes_done == 400ull * 16384);
    CHECK(events.last.bytes_total == 400ull * 16384);
    CHECK(events.calls == 200);
    CHECK(r.next.at(0) == "clsync -c " + (dir / "cluster-a.yaml").string() + " status");
    bool drains_p3 = false;
    for (const auto& cmd : r.next) {
      drains_p3 = drains_p3 || cmd.find("move-replicas --from-node P3-dn1") != std::string::npos;
    }
    CHECK(drains_p3);

    const auto a = clsync::core::load_topology(dir / "cluster-a.yaml");
    CHECK(a.cluster == "demo-a");
    CHECK(a.replication == 2);
    REQUIRE(a.nodes.size() == 3);
    CHECK(a.nodes[0].name == "P1-dn1");
    CHECK(a.nodes[2].name == "P3-dn1");
    CHECK(a.nodes[0].is_local());
    CHECK(a.nodes[1].volumes == std::vector<std::string>{volume(dir, "P2-dn1").string()});
    REQUIRE(a.databases.size() == 2);
    CHECK(a.databases[0].name == "Level1");
    CHECK(a.databases[1].name == "Level1_TSDB");
    CHECK(a.databases[1].levels == std::vector<std::string>{"date", "hash"});
    const auto b = clsync::core::load_topology(dir / "cluster-b.yaml");
    CHECK(b.cluster == "demo-b");
    CHECK(b.replication == 2);
    REQUIRE(b.nodes.size() == 3);
    CHECK(b.nodes[0].name == "B1");
    for (const auto& n : b.nodes) {
      REQUIRE(n.volumes.size() == 1);
      CHECK(fs::is_directory(n.volumes[0]));
      CHECK(fs::is_empty(n.volumes[0]));
    }
    CHECK(fs::is_directory(volume(dir, "P3-dn1")));
    CHECK(fs::is_empty(volume(dir, "P3-dn1")));

    const auto keys = clsync::core::demo_chunk_keys();
    REQUIRE(keys.size() == 200);
    CHECK(keys.front() == "Level1/20200601/0/Snapshot");
    CHECK(keys.back() == "Level1_TSDB/20200610/9/Snapshot");
    CHECK(std::set<std::string>(keys.begin(), keys.end()).size() == 200);
    CHECK(count_files(volume(dir, "P1-dn1")) == 200 * 29);
    CHECK(count_files(volume(dir, "P2-dn1")) == 200 * 29);
    std::set<long> distinct_mtimes;
    for (const auto& key : keys) {
      const fs::path c1 = volume(dir, "P1-dn1") / key;
      const fs::path c2 = volume(dir, "P2-dn1") / key;
      REQUIRE(fs::is_directory(c1));
      REQUIRE(fs::is_directory(c2));
      CHECK(chunk_bytes(c1) == 16384);
      for (const auto& column : clsync::core::demo_columns()) {
        const fs::path f1 = c1 / (column + ".col");
        const fs::path f2 = c2 / (column + ".col");
        REQUIRE(fs::is_regular_file(f1));
        CHECK(contents(f1) == contents(f2));
        const timespec m1 = mtime_of(f1), m2 = mtime_of(f2);
        CHECK(m1.tv_sec == m2.tv_sec);
        CHECK(m1.tv_nsec == m2.tv_nsec);
        distinct_mtimes.insert(m1.tv_nsec);
      }
      CHECK(mtime_of(c1).tv_nsec == mtime_of(c2).tv_nsec);
    }
    CHECK(distinct_mtimes.size() > 100); // chunks differ in mtime, replicas do not
    CHECK(clsync::core::demo_columns().size() == 29);
    CHECK(clsync::core::demo_columns().front() == "SecurityID");
    CHECK(clsync::core::demo_columns().back() == "OfferQty5");
    // Column data looks like the seed's: symbols in SecurityID.
    const std::string ids = contents(volume(dir, "P1-dn1") / keys[0] / "SecurityID.col");
    CHECK(ids.substr(0, 1) == "6");
    CHECK(ids.substr(6, 4) == ".SH\n");
  }

  TEST_CASE("--new-disks declares an empty second volume on the two full nodes")
  {
    const fs::path dir = clsync::test::scratch_dir("demo-disks") / "d";
    DemoOptions o;
    o.dir = dir.string();
    o.new_disks = true;
    clsync::core::NullEvents events;
    const auto r = clsync::core::build_demo(o, &events);
    CHECK(r.clusters[0].chunks == 200);
    const auto a = clsync::core::load_topology(dir / "cluster-a.yaml");
    for (const char* n : {"P1-dn1", "P2-dn1"}) {
      const auto* node = a.find_node(n);
      REQUIRE(node != nullptr);
      REQUIRE(node->volumes.size() == 2);
      CHECK(node->volumes[1] == (dir / "a" / n / "ssd1" / "chunkData").string());
      CHECK(fs::is_directory(node->volumes[1]));
      CHECK(fs::is_empty(node->volumes[1]));
    }
    CHECK(a.find_node("P3-dn1")->volumes.size() == 1);
    bool disks = false;
    for (const auto& cmd : r.next) {
      disks = disks || cmd.find("rebalance-disks --all-nodes") != std::string::npos;
    }
    CHECK(disks);
  }

  TEST_CASE("chunk sizes that do not divide by 29 add up exactly; seeds change content")
  {
    const fs::path root = clsync::test::scratch_dir("demo-odd");
    DemoOptions o;
    o.dir = (root / "one").string();
    o.chunk_size = 1000;
    o.seed = 7;
    clsync::core::build_demo(o);
    const std::string key = "Level1_TSDB/20200605/7/Snapshot";
    CHECK(chunk_bytes(volume(root / "one", "P1-dn1") / key) == 1000);

    // Content depends on the seed, the key and the column only.
    auto write = [&](const std::string& sub, std::uint64_t seed, const std::string& k) {
      clsync::core::DemoChunkJob job;
      job.key = k;
      job.bytes = 29 * 100;
      job.roots = {root / sub};
      clsync::core::write_demo_chunks({job}, {"LastPx"}, seed, 1, nullptr);
      return contents(root / sub / k / "LastPx.col");
    };
    const std::string one = write("s1", 7, key);
    CHECK(one.size() == 2900);
    CHECK(one == write("s2", 7, key));
    CHECK(one != write("s3", 8, key));
    CHECK(one != write("s4", 7, "Level1/20200605/7/Snapshot"));
  }

  TEST_CASE("--skew varies chunk sizes within the bound, deterministically")
  {
    DemoOptions o;
    o.chunk_size = 10000;
    o.skew = 0.5;
    std::set<std::uint64_t> sizes;
    for (const auto& key : clsync::core::demo_chunk_keys()) {
      const auto s = clsync::core::demo_chunk_size(o, key);
      CHECK(s >= 5000);
      CHECK(s <= 15000);
      CHECK(s == clsync::core::demo_chunk_size(o, key));
      sizes.insert(s);
    }
    CHECK(sizes.size() > 150);
    CHECK(*sizes.begin() < 6000); // the range is used, not only its middle
    CHECK(*sizes.rbegin() > 14000);

    const fs::path dir = clsync::test::scratch_dir("demo-skew") / "d";
    o.dir = dir.string();
    const auto r = clsync::core::build_demo(o);
    std::uint64_t total = 0;
    for (const auto& key : clsync::core::demo_chunk_keys()) {
      const auto want = clsync::core::demo_chunk_size(o, key);
      CHECK(chunk_bytes(volume(dir, "P1-dn1") / key) == want);
      CHECK(chunk_bytes(volume(dir, "P2-dn1") / key) == want);
      total += 2 * want;
    }
    CHECK(r.clusters[0].bytes == total);
    CHECK(total != 400ull * 10000);

    o.skew = 0.95;
    CHECK_THROWS_AS(clsync::core::build_demo(o), clsync::UsageError);
    o.skew = -0.1;
    CHECK_THROWS_AS(clsync::core::build_demo(o), clsync::UsageError);
  }

  TEST_CASE("a non-empty dir is refused; --force replaces only a previous demo")
  {
    const fs::path dir = clsync::test::scratch_dir("demo-refuse");
    clsync::test::write_file(dir / "notes.txt", "mine");
    DemoOptions o;
    o.dir = dir.string();
    CHECK_THROWS_WITH_AS(clsync::core::build_demo(o),
                         ("--dir " + dir.string() + " is not empty").c_str(), clsync::UsageError);
    o.force = true;
    CHECK_THROWS_WITH_AS(
        clsync::core::build_demo(o),
        ("--dir " + dir.string() +
         " holds 'notes.txt', which clsync demo did not create; nothing was removed")
            .c_str(),
        clsync::UsageError);
    CHECK(clsync::test::read_file(dir / "notes.txt") == "mine");
    CHECK_FALSE(fs::exists(dir / "cluster-a.yaml"));

    // A previous demo is replaced with --force and refused without it.
    const fs::path d2 = clsync::test::scratch_dir("demo-force") / "d";
    DemoOptions first;
    first.dir = d2.string();
    first.chunk_size = 2900;
    clsync::core::build_demo(first);
    const fs::path stray = volume(d2, "P3-dn1") / "Level1" / "stray.txt";
    clsync::test::write_file(stray, "left over");
    CHECK_THROWS_AS(clsync::core::build_demo(first), clsync::UsageError);
    DemoOptions again = first;
    again.force = true;
    again.chunk_size = 5800;
    const auto r = clsync::core::build_demo(again);
    CHECK(r.clusters[0].bytes == 400ull * 5800);
    CHECK_FALSE(fs::exists(stray));
    CHECK(chunk_bytes(volume(d2, "P2-dn1") / "Level1/20200601/0/Snapshot") == 5800);

    DemoOptions not_dir;
    not_dir.dir = (dir / "notes.txt").string();
    CHECK_THROWS_WITH_AS(clsync::core::build_demo(not_dir),
                         ("--dir " + (dir / "notes.txt").string() + " is not a directory").c_str(),
                         clsync::UsageError);
  }

  TEST_CASE("the writer streams files larger than its block, the same to every replica")
  {
    const fs::path root = clsync::test::scratch_dir("demo-writer");
    clsync::core::DemoChunkJob job;
    job.key = "db/x/t";
    const std::uint64_t per_file = (1u << 20) * 2 + 12345; // two blocks and a bit
    job.bytes = per_file * 3 + 2;
    job.roots = {root / "r1", root / "r2"};
    job.mtime = {1591023600, 123456789};
    clsync::core::write_demo_chunks({job}, {"SecurityID", "DateTime", "Volume"}, 42, 2, nullptr);
    const std::string s1 = contents(root / "r1/db/x/t/SecurityID.col");
    CHECK(s1.size() == per_file + 1);
    CHECK(fs::file_size(root / "r2/db/x/t/DateTime.col") == per_file + 1);
    CHECK(fs::file_size(root / "r1/db/x/t/Volume.col") == per_file);
    CHECK(s1 == contents(root / "r2/db/x/t/SecurityID.col"));
    CHECK(contents(root / "r1/db/x/t/Volume.col") == contents(root / "r2/db/x/t/Volume.col"));
    // Records run on across block boundaries: every 10-byte record is a symbol.
    std::size_t bad_records = 0;
    for (std::size_t at = 0; at + 10 <= s1.size(); at += 10) {
      bad_records += s1.compare(at + 6, 4, ".SH\n") == 0 ? 0 : 1;
    }
    CHECK(bad_records == 0);
    CHECK(mtime_of(root / "r2/db/x/t/Volume.col").tv_nsec == 123456789);
    // A stop request before the start writes nothing and reports the interruption.
    const std::atomic<bool> stop{true};
    clsync::core::DemoChunkJob later = job;
    later.roots = {root / "r3"};
    CHECK_THROWS_AS(clsync::core::write_demo_chunks({later}, {"Volume"}, 42, 2, nullptr, &stop),
                    clsync::Interrupted);
    CHECK_FALSE(fs::exists(root / "r3/db/x/t/Volume.col"));
    // Files are created exclusively: writing again fails and names the path.
    CHECK_THROWS_WITH_AS(clsync::core::write_demo_chunks({job}, {"SecurityID"}, 42, 1, nullptr),
                         doctest::Contains("cannot create"), std::system_error);
  }
}
