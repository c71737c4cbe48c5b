// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/run/leases.hpp"
#include "core/cluster/topology.hpp"
#include "tests/support/scratch.hpp"
#include "transport/open.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <ctime>
#include <mutex>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace clsync;
using namespace clsync::core;

namespace {

/// Records warnings (the events leases send).
struct Warnings : Events {
  std::mutex m;
  std::vector<std::string> seen;
  void warning(const std::string& w) override
  {
    std::lock_guard l(m);
    seen.push_back(w);
  }
};

struct Cluster {
  Topology topo;
  std::unique_ptr<NodeSet> nodes;
  /// Nodes a and b with one volume each (dir/a, dir/b), or with `volumes_of_a` for a.
  explicit Cluster(const std::filesystem::path& dir, std::vector<std::string> volumes_of_a = {})
  {
    topo.file = (dir / "topo.yaml").string();
    topo.cluster = "leases";
    topo.replication = 1;
    for (const char* n : {"a", "b"}) {
      NodeSpec s;
      s.name = n;
      s.host = "local";
      s.volumes = {(dir / n).string()};
      if (s.name == "a" && !volumes_of_a.empty()) {
        s.volumes.clear();
        for (const auto& v : volumes_of_a) {
          s.volumes.push_back((dir / v).string());
        }
      }
      for (const auto& v : s.volumes) {
        std::filesystem::create_directories(v);
      }
      topo.nodes.push_back(s);
    }
    nodes = std::make_unique<NodeSet>(topo);
  }
};

/// A lease as another run left it; `machine_id` "" for a lease that names none.
void write_lease(const std::filesystem::path& volume,
                 const std::string& host,
                 long pid,
                 std::int64_t heartbeat,
                 const std::string& machine_id = "",
                 std::int64_t ttl = 0)
{
  nlohmann::json j{{"host", host},        {"pid", pid},           {"run_id", "old-run"},
                   {"command", "repair"}, {"started", heartbeat}, {"heartbeat", heartbeat}};
  if (!machine_id.empty()) {
    j["machine_id"] = machine_id;
    j["boot_id"] = transport::this_host_identity().boot_id;
    j["pid_start"] = transport::process_start_ticks(pid);
  }
  if (ttl > 0) {
    j["ttl"] = ttl;
  }
  test::write_file(volume / ".clsync-lease", j.dump());
}

std::string here() { return transport::this_host_identity().machine_id; }

long dead_pid()
{
  pid_t pid = fork();
  if (pid == 0) {
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

} // namespace

TEST_SUITE("core::leases")
{
  TEST_CASE("a second run finds the leases held and gets LockHeld naming the holder")
  {
    auto dir = test::scratch_dir("leases-two-runs");
    Cluster c(dir);
    Warnings ev;
    LeaseSet first(*c.nodes, {"a", "b"}, {"run-1", "rebalance-nodes", 600, false}, ev);
    CHECK(std::filesystem::exists(dir / "a" / ".clsync-lease"));
    CHECK(std::filesystem::exists(dir / "b" / ".clsync-lease"));
    try {
      LeaseSet second(*c.nodes, {"a", "b"}, {"run-2", "repair", 600, false}, ev);
      FAIL("the second run got the leases");
    } catch (const LockHeld& e) {
      std::string what = e.what();
      CHECK(what.find("run-1") != std::string::npos);
      CHECK(what.find("rebalance-nodes") != std::string::npos);
      CHECK(what.find(std::to_string(getpid())) != std::string::npos);
      CHECK(what.find("node a") != std::string::npos);
      CHECK(static_cast<int>(e.code()) == 4);
    }
    // The failed run released nothing of the first run's.
    CHECK(c.nodes->get("b")->read_lease((dir / "b").string())->run_id == "run-1");
    first.release();
    CHECK(!std::filesystem::exists(dir / "a" / ".clsync-lease"));
    CHECK(!std::filesystem::exists(dir / "b" / ".clsync-lease"));
  }

  TEST_CASE("a run that failed on the second node releases the first")
  {
    auto dir = test::scratch_dir("leases-partial");
    Cluster c(dir);
    Warnings ev;
    write_lease(dir / "b", lease_host_name(), getpid(), std::time(nullptr));
    CHECK_THROWS_AS(LeaseSet(*c.nodes, {"a", "b"}, {"run-2", "repair", 600, false}, ev), LockHeld);
    CHECK(!std::filesystem::exists(dir / "a" / ".clsync-lease"));
  }

  TEST_CASE("a lease whose heartbeat is older than the ttl is taken over")
  {
    auto dir = test::scratch_dir("leases-ttl");
    Cluster c(dir);
    Warnings ev;
    write_lease(dir / "a", "elsewhere", 1, std::time(nullptr) - 3600);
    {
      LeaseSet s(*c.nodes, {"a"}, {"run-3", "repair", 600, false}, ev);
      CHECK(c.nodes->get("a")->read_lease((dir / "a").string())->run_id == "run-3");
      REQUIRE(ev.seen.size() == 1);
      CHECK(ev.seen[0].find("stale") != std::string::npos);
    }
    CHECK(!c.nodes->get("a")->read_lease((dir / "a").string()));
  }

  TEST_CASE("a fresh lease of another host is live")
  {
    auto dir = test::scratch_dir("leases-other-host");
    Cluster c(dir);
    Warnings ev;
    write_lease(dir / "a", "elsewhere", dead_pid(), std::time(nullptr));
    CHECK_THROWS_AS(LeaseSet(*c.nodes, {"a"}, {"run-4", "repair", 600, false}, ev), LockHeld);
  }

  TEST_CASE("a lease whose numbers are floats or out of range counts as unreadable, never wraps")
  {
    // Read by the file's age, as a lease of another type is: 1e300 converted to an integer is
    // undefined, 2^64-1 would wrap to pid -1.
    auto dir = test::scratch_dir("leases-numbers");
    Cluster c(dir);
    const std::int64_t now = std::time(nullptr);
    for (const nlohmann::json& bad : {nlohmann::json{{"heartbeat", 1e300}},
                                      nlohmann::json{{"pid", UINT64_MAX}},
                                      nlohmann::json{{"ttl", -1e300}}}) {
      CAPTURE(bad.dump());
      nlohmann::json j{{"host", "elsewhere"}, {"pid", 1}, {"run_id", "old-run"}, {"heartbeat", now}};
      j.update(bad);
      test::write_file(dir / "a" / ".clsync-lease", j.dump());
      const auto l = c.nodes->get("a")->read_lease((dir / "a").string());
      REQUIRE(l);
      CHECK(l->pid != -1);
      CHECK(l->heartbeat_unix >= now - 60);
      CHECK(l->heartbeat_unix <= now + 60);
      CHECK(l->ttl_s >= 0);
      CHECK(l->age_seconds >= -60);
      CHECK(l->age_seconds <= 3600);
    }
  }

  TEST_CASE("a lease of this host whose pid is gone is taken over")
  {
    auto dir = test::scratch_dir("leases-dead-pid");
    Cluster c(dir);
    Warnings ev;
    write_lease(dir / "a", "any-name", dead_pid(), std::time(nullptr), here());
    LeaseSet s(*c.nodes, {"a"}, {"run-5", "repair", 600, false}, ev);
    CHECK(c.nodes->get("a")->read_lease((dir / "a").string())->run_id == "run-5");
  }

  TEST_CASE("--break-lock removes a live lease and says so")
  {
    auto dir = test::scratch_dir("leases-break");
    Cluster c(dir);
    Warnings ev;
    write_lease(dir / "a", "elsewhere", 42, std::time(nullptr));
    LeaseSet s(*c.nodes, {"a"}, {"run-6", "repair", 600, true}, ev);
    CHECK(c.nodes->get("a")->read_lease((dir / "a").string())->run_id == "run-6");
    REQUIRE(ev.seen.size() == 1);
    CHECK(ev.seen[0].find("broke the lease") != std::string::npos);
    CHECK(ev.seen[0].find("old-run") != std::string::npos);
  }

  TEST_CASE("the heartbeat refreshes the lease while the run lasts")
  {
    auto dir = test::scratch_dir("leases-heartbeat");
    Cluster c(dir);
    Warnings ev;
    LeaseSet s(*c.nodes, {"a"}, {"run-7", "repair", 3, false}, ev);
    const auto first = c.nodes->get("a")->read_lease((dir / "a").string())->heartbeat_unix;
    std::int64_t later = first;
    for (int i = 0; i < 60 && later == first; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      later = c.nodes->get("a")->read_lease((dir / "a").string())->heartbeat_unix;
    }
    CHECK(later > first);
    CHECK(!s.lost());
  }

  TEST_CASE("--break-lock refuses a holder whose pid is alive on this host")
  {
    auto dir = test::scratch_dir("leases-break-live");
    Cluster c(dir);
    Warnings ev;
    write_lease(dir / "a", "any-name", getpid(), std::time(nullptr) - 100000, here());
    try {
      LeaseSet s(*c.nodes, {"a"}, {"run-6b", "repair", 3, true}, ev);
      FAIL("--break-lock broke a live holder's lease");
    } catch (const LockHeld& e) {
      CHECK(std::string(e.what()).find("pid " + std::to_string(getpid())) != std::string::npos);
      CHECK(std::string(e.what()).find("old-run") != std::string::npos);
    }
    CHECK(c.nodes->get("a")->read_lease((dir / "a").string())->run_id == "old-run");
  }

  TEST_CASE("the holder's recorded TTL decides, not the reader's")
  {
    auto dir = test::scratch_dir("leases-holder-ttl");
    Cluster c(dir);
    Warnings ev;
    // Silent for 60 s, but its holder said 600 s: a reader with --lease-ttl 3s must wait.
    write_lease(dir / "a", "elsewhere", 1, std::time(nullptr) - 60, "other-machine", 600);
    CHECK_THROWS_AS(LeaseSet(*c.nodes, {"a"}, {"run-t1", "repair", 3, false}, ev), LockHeld);
    // Silent for 60 s with a holder TTL of 30 s: stale even for a reader with 600 s.
    write_lease(dir / "a", "elsewhere", 1, std::time(nullptr) - 60, "other-machine", 30);
    LeaseSet s(*c.nodes, {"a"}, {"run-t2", "repair", 600, false}, ev);
    CHECK(c.nodes->get("a")->read_lease((dir / "a").string())->run_id == "run-t2");
  }

  TEST_CASE("a lease is taken on every volume of a node; other orders and subsets meet it")
  {
    auto dir = test::scratch_dir("leases-volumes");
    Cluster forward(dir, {"a1", "a2"});
    Cluster reverse(dir, {"a2", "a1"});
    Cluster subset(dir, {"a2"});
    Warnings ev;
    {
      LeaseSet first(*forward.nodes, {"a"}, {"run-v1", "rebalance-nodes", 600, false}, ev);
      CHECK(std::filesystem::exists(dir / "a1" / ".clsync-lease"));
      CHECK(std::filesystem::exists(dir / "a2" / ".clsync-lease"));
      for (Cluster* c : {&reverse, &subset}) {
        try {
          LeaseSet second(*c->nodes, {"a"}, {"run-v2", "repair", 600, false}, ev);
          FAIL("a second run got the leases");
        } catch (const LockHeld& e) {
          // Volumes are taken in one order (sorted), whatever the topology lists: the reverse
          // listing meets the lease on a1 first, as the forward one would.
          const std::string first = c == &subset ? "a2" : "a1";
          CHECK(std::string(e.what()).find((dir / first).string() + ")") != std::string::npos);
        }
      }
      CHECK(forward.nodes->get("a")->read_lease((dir / "a1").string())->run_id == "run-v1");
      CHECK(forward.nodes->get("a")->read_lease((dir / "a2").string())->run_id == "run-v1");
    }
    CHECK(!std::filesystem::exists(dir / "a1" / ".clsync-lease"));
    // All or none: a live lease on the second volume leaves nothing taken on the first.
    write_lease(dir / "a2", "elsewhere", 1, std::time(nullptr), "other-machine", 600);
    CHECK_THROWS_AS(LeaseSet(*forward.nodes, {"a"}, {"run-v3", "repair", 600, false}, ev),
                    LockHeld);
    CHECK(!std::filesystem::exists(dir / "a1" / ".clsync-lease"));
  }

  TEST_CASE("a run fences its nodes: no trash on a volume whose lease it lost")
  {
    auto dir = test::scratch_dir("leases-fence");
    Cluster c(dir);
    Warnings ev;
    const std::string key = "Level1/20200601/0/Snapshot";
    test::write_file(dir / "a" / key / "x.col", "x");
    LeaseSet s(*c.nodes, {"a"}, {"run-f", "repair", 600, false}, ev);
    std::filesystem::remove(dir / "a" / ".clsync-lease");
    CHECK_THROWS_AS(c.nodes->get("a")->trash_chunk((dir / "a").string(), key, "t1"),
                    transport::TransportError);
    CHECK(std::filesystem::exists(dir / "a" / key / "x.col"));
  }

  TEST_CASE("stale rules")
  {
    const auto& me = transport::this_host_identity();
    const auto my_start = transport::process_start_ticks(getpid());
    REQUIRE(my_start != 0);
    transport::LeaseInfo h;
    h.host = lease_host_name();
    h.pid = getpid();

    // Elsewhere: the holder's TTL, or the reader's for a lease that recorded none.
    h.machine_id = "other-machine";
    h.ttl_s = 600;
    h.age_seconds = 10;
    CHECK(!lease_is_stale(h, me, 3));
    h.age_seconds = 601;
    CHECK(lease_is_stale(h, me, 3));
    CHECK(lease_is_stale(h, me, 100000));
    h.ttl_s = 0;
    CHECK(lease_is_stale(h, me, 600));
    CHECK(!lease_is_stale(h, me, 1000));

    // Same host name, another machine id: its pid is not ours to probe.
    h.ttl_s = 600;
    h.age_seconds = 0;
    h.pid = dead_pid();
    CHECK(!lease_is_stale(h, me, 600));
    CHECK(!lease_holder_alive_here(h, me));

    // This machine: a dead pid is stale at once.
    h.machine_id = me.machine_id;
    h.boot_id = me.boot_id;
    CHECK(lease_is_stale(h, me, 600));

    // A live pid with its start time is never stale, however old its heartbeat.
    h.pid = getpid();
    h.pid_start = my_start;
    h.age_seconds = 100000;
    h.ttl_s = 3;
    CHECK(!lease_is_stale(h, me, 3));
    CHECK(lease_holder_alive_here(h, me));

    // The pid reused by another process (another start time): stale.
    h.pid_start = my_start + 1;
    CHECK(lease_is_stale(h, me, 600));
    CHECK(!lease_holder_alive_here(h, me));

    // Another boot of this machine: stale, whatever lives under that pid now.
    h.pid_start = my_start;
    h.boot_id = "another-boot";
    h.age_seconds = 0;
    CHECK(lease_is_stale(h, me, 600));
  }
}
