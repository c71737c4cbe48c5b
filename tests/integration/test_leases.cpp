// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Lease tests (suite `leases`): two real clsync processes on one `clsync demo` cluster must see
// each other's leases whatever --lease-ttl or volume order they use, --break-lock never breaks a
// live run, and a run whose lease is lost mid-run can neither commit nor start a task (fencing).
#include "core/demo.hpp"
#include "core/rebalance.hpp"
#include "core/cluster/topology.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/recording_node.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>

extern char** environ;

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using clsync::test::DemoCopy;

namespace {

/// A `clsync demo` cluster with chunks big enough (128 KiB) that a move at --bwlimit 2M of the
/// 200 replicas of one node lasts about 13 s.
struct SlowDemo {
  fs::path dir;
  fs::path yaml;
  explicit SlowDemo(const std::string& name, bool new_disks = false)
  {
    dir = test::scratch_dir(name) / "demo";
    DemoOptions o;
    o.dir = dir.string();
    o.chunk_size = 128 * 1024;
    o.new_disks = new_disks;
    build_demo(o);
    yaml = dir / "cluster-a.yaml";
  }
  std::string args(const fs::path& topo, const std::string& state) const
  {
    return "-c '" + topo.string() + "' --state-dir '" + (dir / state).string() + "' ";
  }
};

/// Starts the clsync binary with `args` in the background (stdout and stderr to `log`); its pid
/// is clsync's own (the shell execs it).
pid_t spawn_clsync(const std::string& args, const fs::path& log)
{
  std::string cmd =
      std::string("exec ") + CLSYNC_BINARY + " " + args + " >'" + log.string() + "' 2>&1";
  std::string sh = "/bin/sh", dash_c = "-c";
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ) == 0);
  return pid;
}

/// Exit status of `pid` (128 + signal when killed).
int wait_exit(pid_t pid)
{
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool still_running(pid_t pid)
{
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == 0;
}

/// Chunks (<db>/<date>/<hash>/<table>, depth 4) under `root`, a volume or a node's directory
/// with its volumes below; clsync's own entries (.clsync-*) are not chunks.
std::size_t chunks_under(const fs::path& root)
{
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(".clsync", 0) == 0) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory() &&
        it->path().parent_path().parent_path().parent_path().parent_path().filename() ==
            "chunkData") {
      ++n;
      it.disable_recursion_pending();
    }
  }
  return n;
}

/// Waits until the background run has placed its first chunk on `volume` (it holds its leases
/// then) and at least `min_s` seconds have passed since it started.
void wait_until_moving(pid_t pid, const fs::path& volume, int min_s)
{
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1200; ++i) {
    REQUIRE_MESSAGE(still_running(pid), "the first run ended before the second could start");
    if (chunks_under(volume) > 0 &&
        std::chrono::steady_clock::now() - start >= std::chrono::seconds(min_s)) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL("the first run placed no chunk in 2 minutes");
}

/// Every chunk of the demo has 2 replicas on 2 distinct nodes, on disk.
void check_two_replicas_each(const fs::path& yaml, const std::string& when)
{
  auto on_disk = test::replicas_on_disk(load_topology(yaml.string()));
  CHECK_MESSAGE(on_disk.size() == 200, when);
  int short_chunks = 0;
  for (const auto& [key, n] : on_disk) {
    if (n != 2) {
      ++short_chunks;
      MESSAGE(when << ": " << key << " is on " << n << " node(s)");
    }
  }
  CHECK_MESSAGE(short_chunks == 0, when);
}

std::string yaml_node(const std::string& name, const std::vector<std::string>& volumes)
{
  std::string y = "  - name: " + name + "\n    host: local\n    volumes: [";
  for (std::size_t i = 0; i < volumes.size(); ++i) {
    y += (i ? ", \"" : "\"") + volumes[i] + "\"";
  }
  return y + "]\n";
}

} // namespace

TEST_SUITE("leases")
{
  TEST_CASE("a live run's lease is never taken over, whatever the second run's --lease-ttl")
  {
    SlowDemo d("lease-takeover");
    const fs::path p3 = d.dir / "a/P3-dn1/ssd0/chunkData";
    pid_t first = spawn_clsync(d.args(d.yaml, "s1") +
                                   "move-replicas --from-node P1-dn1 --to-node P3-dn1 --bwlimit 2M",
                               d.dir / "first.log");
    wait_until_moving(first, p3, 5);

    // The first run's move in flight (its source trashed, not yet removed) can look like an
    // under-replicated chunk to the second run's inventory: --allow-degraded lets the second run
    // reach its leases, which is what is tested here.
    std::string out;
    int rc =
        test::run_clsync(d.args(d.yaml, "s2") + "move-replicas --from-node P2-dn1 --to-node P3-dn1 "
                                                "--lease-ttl 3s --allow-degraded 2>&1",
                         &out);
    CHECK_MESSAGE(rc == 4, out);
    CHECK_MESSAGE(out.find("pid " + std::to_string(first)) != std::string::npos, out);
    REQUIRE_MESSAGE(still_running(first), "the first run ended before the second did");

    CHECK(wait_exit(first) == 0);
    check_two_replicas_each(d.yaml, "after both runs");
    CHECK(chunks_under(p3) == 200);
  }

  TEST_CASE("two topology files listing each node's volumes in another order see each other")
  {
    SlowDemo d("lease-two-topologies", true);
    auto topo = load_topology(d.yaml.string());
    // Every node gets two volumes (P3-dn1 a second, empty one), listed in opposite orders.
    std::string forward = "cluster: demo-a\nreplication: 2\nnodes:\n";
    std::string reverse = forward;
    for (const auto& n : topo.nodes) {
      std::vector<std::string> v = n.volumes;
      if (v.size() == 1) {
        fs::path extra = fs::path(v[0]).parent_path().parent_path() / "ssd1" / "chunkData";
        fs::create_directories(extra);
        v.push_back(extra.string());
      }
      forward += yaml_node(n.name, v);
      reverse += yaml_node(n.name, {v.rbegin(), v.rend()});
    }
    std::string dbs = test::read_file(d.yaml);
    dbs = dbs.substr(dbs.find("databases:"));
    test::write_file(d.dir / "forward.yaml", forward + dbs);
    test::write_file(d.dir / "reverse.yaml", reverse + dbs);

    pid_t first = spawn_clsync(d.args(d.dir / "forward.yaml", "s1") +
                                   "move-replicas --from-node P1-dn1 --to-node P3-dn1 --bwlimit 2M",
                               d.dir / "first.log");
    const fs::path p3 = d.dir / "a/P3-dn1";
    wait_until_moving(first, p3, 1);
    std::string out;
    int rc = test::run_clsync(
        d.args(d.dir / "reverse.yaml", "s2") +
            "move-replicas --from-node P2-dn1 --to-node P3-dn1 --allow-degraded 2>&1",
        &out);
    CHECK_MESSAGE(rc == 4, out);
    CHECK_MESSAGE(out.find("volume") != std::string::npos, out);
    REQUIRE_MESSAGE(still_running(first), "the first run ended before the second did");
    CHECK(wait_exit(first) == 0);
    check_two_replicas_each(d.dir / "forward.yaml", "after both drains");
  }

  TEST_CASE("--break-lock refuses a live holder and breaks a dead one")
  {
    SlowDemo d("lease-break");
    const fs::path p3 = d.dir / "a/P3-dn1/ssd0/chunkData";
    pid_t first = spawn_clsync(d.args(d.yaml, "s1") +
                                   "move-replicas --from-node P1-dn1 --to-node P3-dn1 --bwlimit 2M",
                               d.dir / "first.log");
    wait_until_moving(first, p3, 1);

    std::string out;
    int rc =
        test::run_clsync(d.args(d.yaml, "s2") + "move-replicas --from-node P2-dn1 --to-node P3-dn1 "
                                                "--break-lock --allow-degraded 2>&1",
                         &out);
    CHECK_MESSAGE(rc == 4, out);
    CHECK_MESSAGE(out.find("pid " + std::to_string(first)) != std::string::npos, out);
    REQUIRE(still_running(first));
    CHECK(test::read_file(p3 / ".clsync-lease").find("\"pid\":" + std::to_string(first)) !=
          std::string::npos);

    // Killed, the holder leaves its leases behind; --break-lock removes them and runs.
    REQUIRE(::kill(first, SIGKILL) == 0);
    CHECK(wait_exit(first) == 128 + SIGKILL);
    REQUIRE(fs::exists(p3 / ".clsync-lease"));
    rc = test::run_clsync(d.args(d.yaml, "s1") +
                              "move-replicas --from-node P1-dn1 --to-node P3-dn1 --break-lock 2>&1",
                          &out);
    CHECK_MESSAGE(rc == 0, out);
    CHECK_MESSAGE(out.find("broke the lease") != std::string::npos, out);
    check_two_replicas_each(d.yaml, "after the rerun");
    CHECK(chunks_under(p3) == 200);
    CHECK_FALSE(fs::exists(p3 / ".clsync-lease"));
  }

  TEST_CASE("a lease lost mid-run: the in-flight commit is refused and no new task starts")
  {
    DemoCopy d("lease-lost");
    const std::string p3 = d.volume("P3-dn1");
    std::vector<std::shared_ptr<test::RecordingNode>> recorders;
    std::mutex rec_mutex;
    std::atomic<int> commits{0};
    std::atomic<bool> lost_seen{false};
    std::atomic<std::size_t> p3_at_loss{0};
    auto factory = [&](const NodeSpec& spec) -> std::shared_ptr<transport::Node> {
      auto rec = std::make_shared<test::RecordingNode>(open_node(spec));
      if (spec.name == "P3-dn1") {
        rec->set_hook([&](const test::RecordedCall& call) {
          if (call.name != "commit_chunk" || ++commits != 3) {
            return;
          }
          // The third commit: another hand removes the lease first, and the run notices.
          fs::remove(fs::path(p3) / ".clsync-lease");
          for (int i = 0; i < 300 && !lost_seen; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            std::lock_guard l(d.events.m);
            for (const auto& w : d.events.warnings) {
              lost_seen = lost_seen || w.find("lost the lease") != std::string::npos;
            }
          }
          p3_at_loss = chunks_under(p3);
        });
      }
      std::lock_guard l(rec_mutex);
      recorders.push_back(rec);
      return rec;
    };
    d.nodes = std::make_shared<NodeSet>(*d.topo, factory);
    d.ctx.nodes = d.nodes;

    MoveReplicasOptions o;
    o.from_node = "P1-dn1";
    o.to_node = "P3-dn1";
    o.write.per_node = 1; // one task at a time: the third is the one in flight at the loss
    o.write.lease_ttl_s = 3;
    auto r = move_replicas(d.ctx, o);

    REQUIRE(lost_seen);
    CHECK(r.code != ExitCode::ok);
    CHECK(p3_at_loss == 2);
    CHECK(chunks_under(p3) == 2); // the third commit was refused, nothing came after it
    bool refused = false;
    for (const auto& t : d.events.tasks) {
      refused = refused || (t.state == "failed" && t.error.find("lease") != std::string::npos);
    }
    CHECK(refused);
    bool noted = false;
    for (const auto& n : r.notes) {
      noted = noted || n.reason.find("a lease was lost") != std::string::npos;
    }
    CHECK(noted);
    // After the refused commit nothing was written to P3-dn1: no new task started.
    std::shared_ptr<test::RecordingNode> p3_node;
    for (const auto& rec : recorders) {
      if (rec->describe().find("P3-dn1") != std::string::npos) {
        p3_node = rec;
      }
    }
    REQUIRE(p3_node);
    auto calls = p3_node->calls();
    int seen = 0;
    std::size_t i = 0;
    for (; i < calls.size() && seen < 3; ++i) {
      seen += calls[i].name == "commit_chunk" ? 1 : 0;
    }
    REQUIRE(seen == 3);
    for (; i < calls.size(); ++i) {
      CHECK_MESSAGE(calls[i].name != "write_chunk", calls[i].detail);
      CHECK_MESSAGE(calls[i].name != "commit_chunk", calls[i].detail);
      CHECK_MESSAGE(calls[i].name != "write_intent", calls[i].detail);
    }
    check_two_replicas_each(d.yaml, "after the lost lease");

    // A fresh run recovers what the fenced task left and completes the drain.
    d.reload();
    o.write.lease_ttl_s = 600;
    CHECK(move_replicas(d.ctx, o).code == ExitCode::ok);
    CHECK(chunks_under(p3) == 200);
    check_two_replicas_each(d.yaml, "after the rerun");
  }
}
