// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Restore over SSH (suite `restore_ssh`): cluster B's nodes behind real sshd's on 127.0.0.x and
// the repository `ssh://` on yet another host, all served by the real agent. What arrives is
// checked by an independent walker (std::filesystem and stat: bytes, modes, owners, mtimes,
// empty directories, holes), not by clsync's own hashing.
#include "core/repo/repository.hpp"
#include "tests/integration/restore_fixture.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using namespace clsync::test;

namespace {

void set_mtime(const fs::path& p, std::int64_t sec, long nsec)
{
  timespec times[2];
  times[0] = {sec, nsec};
  times[1] = {sec, nsec};
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

/// Gives every replica of `key` in A the same sparse file (a hole inside, a hole at the end) and
/// the same empty directory, with fixed modes and mtimes, so that replicas stay identical.
void add_holes_and_empty_dir(DemoCopy& a, const std::string& key)
{
  auto inv = a.inventory(false);
  const Chunk* c = inv.chunk(key);
  REQUIRE(c != nullptr);
  for (const auto& r : c->replicas) {
    const fs::path root = fs::path(std::string(r.volume)) / key;
    const fs::path sparse = root / "sparse.bin";
    const int fd = ::open(sparse.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, "head", 4, 0) == 4);
    REQUIRE(::pwrite(fd, "middle", 6, 3 << 20) == 6);
    REQUIRE(::ftruncate(fd, 5 << 20) == 0);
    ::close(fd);
    REQUIRE(::chmod(sparse.c_str(), 0640) == 0);
    set_mtime(sparse, 1'600'000'000, 123'456'789);
    fs::create_directory(root / "empty.d");
    REQUIRE(::chmod((root / "empty.d").c_str(), 0750) == 0);
    set_mtime(root / "empty.d", 1'600'000'100, 5);
    set_mtime(root, 1'600'000'200, 7);
  }
}

/// Topology text for B with node i behind sshd host i (same volumes).
std::string b_over_ssh(const ClusterB& b, const SshdHarness& sshd)
{
  std::string y = "cluster: demo-b\nreplication: 2\nssh:\n  user: root\n  identity: " +
                  sshd.client_key().string() + "\n  known_hosts: " +
                  sshd.known_hosts().string() +
                  "\n  agent_command: " CLSYNC_BINARY "\n  connect_timeout: 5\n"
                  "  io_timeout: 30\nnodes:\n";
  for (std::size_t i = 0; i < b.topo->nodes.size(); ++i) {
    y += "  - name: " + b.topo->nodes[i].name + "\n    host: " +
         sshd.host(static_cast<int>(i)).address + "\n    port: " +
         std::to_string(sshd.host(static_cast<int>(i)).port) + "\n    volumes: [\"" +
         b.volume(i) + "\"]\n";
  }
  y += "databases:\n  Level1:\n    levels: [date, hash]\n  Level1_TSDB:\n"
       "    levels: [date, hash]\n";
  return y;
}

/// Every chunk of `snap` is on exactly two of B's nodes, each replica a faithful copy of A's.
void check_faithful(DemoCopy& a, const ClusterB& b, const repo::Snapshot& snap)
{
  auto inv_a = a.inventory(false);
  for (const auto& sc : snap.chunks) {
    const Chunk* c = inv_a.chunk(sc.key);
    REQUIRE(c != nullptr);
    const fs::path original = fs::path(std::string(c->replicas.front().volume)) / sc.key;
    int copies = 0;
    for (std::size_t i = 0; i < b.topo->nodes.size(); ++i) {
      const fs::path copy = fs::path(b.volume(i)) / sc.key;
      if (!fs::exists(copy)) {
        continue;
      }
      ++copies;
      const std::string diff = tree_difference(original, copy);
      CHECK_MESSAGE(diff.empty(), diff);
    }
    CHECK_MESSAGE(copies == 2, sc.key);
  }
}

} // namespace

TEST_SUITE("restore_ssh")
{
  TEST_CASE("over sshd from an ssh:// repository: 2 faithful replicas, rerun keeps, --force")
  {
    SshdHarness sshd(4, "restore-ssh");
    DemoCopy a("restore-ssh");
    ClusterB b(a);
    std::string sparse_key;
    {
      ChunkFilter f(first_three_days(), *a.topo);
      for (const auto& c : a.inventory(false).chunks) {
        if (f.matches(c)) {
          sparse_key = c.key;
          break;
        }
      }
    }
    REQUIRE(!sparse_key.empty());
    add_holes_and_empty_dir(a, sparse_key);
    const fs::path repo_dir = a.dir / "repo";
    const auto snap = make_repository(a, repo_dir, first_three_days());
    REQUIRE(snap.chunks.size() == 30);
    b.reload(b_over_ssh(b, sshd));
    REQUIRE(!b.topo->nodes[0].is_local());

    const auto& r = sshd.host(3);
    const std::string repo_url =
        "ssh://root@" + r.address + ":" + std::to_string(r.port) + repo_dir.string();
    const std::string base = args_b(a, b) + "restore --from '" + repo_url + "' --identity '" +
                             sshd.client_key().string() + "' --known-hosts '" +
                             sshd.known_hosts().string() + "' --agent-command " CLSYNC_BINARY;

    auto first = run_json(base, 0);
    CHECK(first["restored"] == 30);
    CHECK(first["failed"] == 0);
    CHECK(first["replicas_written"] == 60);
    check_restored(b, snap, 2);
    check_faithful(a, b, snap);
    CHECK(leftovers(a.dir / "b").empty());

    auto again = run_json(base, 0);
    CHECK(again["kept"] == 30);
    CHECK(again["replicas_written"] == 0);

    // One file of one replica changes: refused without --force, replaced with it.
    auto inv = b.inventory(false);
    const Chunk* victim = inv.chunk(sparse_key);
    REQUIRE(victim != nullptr);
    const fs::path changed = fs::path(std::string(victim->replicas.front().volume)) / sparse_key / "sparse.bin";
    test::write_file(changed, "not sparse any more");
    auto refused = run_json(base, 3);
    CHECK(refused["failed"] == 1);
    CHECK(refused["kept"] == 29);
    auto forced = run_json(base + " --force", 0);
    CHECK(forced["replaced"] == 1);
    CHECK(forced["replicas_written"] == 1);
    check_faithful(a, b, snap);
    CHECK(leftovers(a.dir / "b").empty());
  }
}
