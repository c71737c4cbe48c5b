// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// `status` over SSH nodes (real sshd on 127.0.0.x, the real agent), mixed with local nodes.
#include "core/context.hpp"
#include "core/cluster/node_set.hpp"
#include "core/status.hpp"
#include "core/cluster/topology.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <string>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;

namespace {

struct Run {
  std::shared_ptr<Topology> topo;
  std::shared_ptr<NodeSet> nodes;
  NullEvents events;
  Context ctx;

  explicit Run(const fs::path& file)
  {
    topo = std::make_shared<Topology>(load_topology(file));
    nodes = std::make_shared<NodeSet>(*topo);
    ctx.topology = topo;
    ctx.nodes = nodes;
    ctx.events = &events;
  }
  StatusResult status(const StatusOptions& opts = {}) { return core::status(ctx, opts); }
};

/// Three nodes over `volumes[i]`; node i is SSH host i of `sshd` when `ssh[i]`, else local.
fs::path write_topology(const fs::path& file,
                        const test::SshdHarness& sshd,
                        const std::vector<fs::path>& volumes,
                        const std::vector<bool>& ssh)
{
  std::string y = "cluster: mixed\n"
                  "replication: 2\n" +
                  sshd.topology_ssh_block();
  for (std::size_t i = 0; i < volumes.size(); ++i) {
    y += "  - name: n" + std::to_string(i + 1) + "\n";
    if (ssh[i]) {
      y += "    host: " + sshd.host(static_cast<int>(i)).address + "\n";
      y += "    port: " + std::to_string(sshd.host(static_cast<int>(i)).port) + "\n";
    } else {
      y += "    host: local\n";
    }
    y += "    volumes: [" + volumes[i].string() + "]\n";
  }
  y += "databases:\n"
       "  db:\n"
       "    levels: [date]\n";
  test::write_file(file, y);
  return file;
}

void make_chunk(const fs::path& volume, const std::string& key, std::size_t size, char fill)
{
  test::write_file(volume / key / "a.col", std::string(size, fill));
  test::write_file(volume / key / "sub/b.col", std::string(size / 2, fill));
}

} // namespace

TEST_SUITE("status_ssh")
{
  TEST_CASE("SSH, local and mixed declarations of the same volumes report the same inventory; "
            "a stopped sshd is an unreachable node and exit 3")
  {
    test::SshdHarness sshd(3, "status-ssh");
    fs::path d = test::scratch_dir("status-ssh");
    std::vector<fs::path> vols{d / "n1", d / "n2", d / "n3"};
    for (int day = 1; day <= 4; ++day) {
      std::string key = "db/2020060" + std::to_string(day) + "/T";
      make_chunk(vols[0], key, 100 * day, 'a');
      make_chunk(vols[day % 2 ? 1 : 2], key, 100 * day, 'a');
    }
    make_chunk(vols[2], "db/20200609/T", 50, 'z');  // only one replica: under-replicated
    test::write_file(vols[1] / "other/x.bin", "123");

    Run local(write_topology(d / "local.yaml", sshd, vols, {false, false, false}));
    Run remote(write_topology(d / "ssh.yaml", sshd, vols, {true, true, true}));
    Run mixed(write_topology(d / "mixed.yaml", sshd, vols, {false, true, true}));
    StatusOptions verify;
    verify.verify = true;
    StatusResult a = local.status(verify);
    StatusResult b = remote.status(verify);
    StatusResult c = mixed.status(verify);
    CHECK(a.exit_code == ExitCode::ok);
    CHECK(b.exit_code == ExitCode::ok);
    CHECK(c.exit_code == ExitCode::ok);
    REQUIRE(a.inventory.chunks.size() == 5);
    for (const StatusResult* r : {&b, &c}) {
      REQUIRE(r->inventory.chunks.size() == a.inventory.chunks.size());
      for (std::size_t i = 0; i < a.inventory.chunks.size(); ++i) {
        const Chunk& x = a.inventory.chunks[i];
        const Chunk& y = r->inventory.chunks[i];
        CHECK(x.key == y.key);
        CHECK(x.health == y.health);
        REQUIRE(x.replicas.size() == y.replicas.size());
        for (std::size_t k = 0; k < x.replicas.size(); ++k) {
          CHECK(x.replicas[k].node == y.replicas[k].node);
          CHECK(x.replicas[k].bytes == y.replicas[k].bytes);
          CHECK(x.replicas[k].files == y.replicas[k].files);
          CHECK(x.replicas[k].fingerprint == y.replicas[k].fingerprint);
          CHECK(x.replicas[k].content_hash == y.replicas[k].content_hash);
          CHECK_FALSE(y.replicas[k].content_hash.empty());
        }
      }
      for (std::size_t n = 0; n < 3; ++n) {
        CHECK(r->inventory.nodes[n].reachable);
        CHECK(r->inventory.nodes[n].chunks == a.inventory.nodes[n].chunks);
        CHECK(r->inventory.nodes[n].bytes == a.inventory.nodes[n].bytes);
        CHECK(r->inventory.nodes[n].capacity_bytes == a.inventory.nodes[n].capacity_bytes);
      }
      REQUIRE(r->inventory.unmanaged.size() == 1);
      CHECK(r->inventory.unmanaged[0].first == "n2");
    }
    CHECK(a.inventory.nodes[0].chunks == 4);
    CHECK(a.inventory.nodes[0].bytes == 150 * (1 + 2 + 3 + 4));
    CHECK(a.inventory.health.under_replicated == 1);

    // n2's sshd goes away: n2 is unreachable, n1 (local) and n3 (SSH) are still reported.
    sshd.stop(1);
    Run after(d / "mixed.yaml");
    StatusResult u = after.status();
    CHECK(u.exit_code == ExitCode::partial);
    const NodeState* n2 = u.inventory.node("n2");
    REQUIRE(n2 != nullptr);
    CHECK_FALSE(n2->reachable);
    CHECK(n2->error.find("n2") != std::string::npos);
    CHECK(u.inventory.node("n1")->chunks == 4);
    CHECK(u.inventory.node("n3")->reachable);
    CHECK(u.inventory.node("n3")->chunks == a.inventory.node("n3")->chunks);
    StatusOptions check;
    check.check = true;
    CHECK(after.status(check).exit_code == ExitCode::unhealthy);
  }
}
