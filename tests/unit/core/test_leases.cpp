// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/leases.hpp"
#include "core/topology.hpp"
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
  explicit Cluster(const std::filesystem::path& dir)
  {
    topo.file = (dir / "topo.yaml").string();
    topo.cluster = "leases";
    topo.replication = 1;
    for (const char* n : {"a", "b"}) {
      NodeSpec s;
      s.name = n;
      s.host = "local";
      s.volumes = {(dir / n).string()};
      std::filesystem::create_directories(dir / n);
      topo.nodes.push_back(s);
    }
    nodes = std::make_unique<NodeSet>(topo);
  }
};

void write_lease(const std::filesystem::path& volume,
                 const std::string& host,
                 long pid,
                 std::int64_t heartbeat)
{
  nlohmann::json j{{"host", host},        {"pid", pid},           {"run_id", "old-run"},
                   {"command", "repair"}, {"started", heartbeat}, {"heartbeat", heartbeat}};
  test::write_file(volume / ".clsync-lease", j.dump());
}

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
    CHECK(c.nodes->get("b")->read_lease()->run_id == "run-1");
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
      CHECK(c.nodes->get("a")->read_lease()->run_id == "run-3");
      REQUIRE(ev.seen.size() == 1);
      CHECK(ev.seen[0].find("stale") != std::string::npos);
    }
    CHECK(!c.nodes->get("a")->read_lease());
  }

  TEST_CASE("a fresh lease of another host is live")
  {
    auto dir = test::scratch_dir("leases-other-host");
    Cluster c(dir);
    Warnings ev;
    write_lease(dir / "a", "elsewhere", dead_pid(), std::time(nullptr));
    CHECK_THROWS_AS(LeaseSet(*c.nodes, {"a"}, {"run-4", "repair", 600, false}, ev), LockHeld);
  }

  TEST_CASE("a lease of this host whose pid is gone is taken over")
  {
    auto dir = test::scratch_dir("leases-dead-pid");
    Cluster c(dir);
    Warnings ev;
    write_lease(dir / "a", lease_host_name(), dead_pid(), std::time(nullptr));
    LeaseSet s(*c.nodes, {"a"}, {"run-5", "repair", 600, false}, ev);
    CHECK(c.nodes->get("a")->read_lease()->run_id == "run-5");
  }

  TEST_CASE("--break-lock removes a live lease and says so")
  {
    auto dir = test::scratch_dir("leases-break");
    Cluster c(dir);
    Warnings ev;
    write_lease(dir / "a", "elsewhere", 42, std::time(nullptr));
    LeaseSet s(*c.nodes, {"a"}, {"run-6", "repair", 600, true}, ev);
    CHECK(c.nodes->get("a")->read_lease()->run_id == "run-6");
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
    const auto first = c.nodes->get("a")->read_lease()->heartbeat_unix;
    std::int64_t later = first;
    for (int i = 0; i < 60 && later == first; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      later = c.nodes->get("a")->read_lease()->heartbeat_unix;
    }
    CHECK(later > first);
    CHECK(!s.lost());
  }

  TEST_CASE("stale rules")
  {
    transport::LeaseInfo h;
    h.host = "me";
    h.pid = getpid();
    h.age_seconds = 10;
    CHECK(!lease_is_stale(h, "me", 600));
    h.age_seconds = 601;
    CHECK(lease_is_stale(h, "me", 600));
    h.age_seconds = 0;
    h.pid = dead_pid();
    CHECK(lease_is_stale(h, "me", 600));
    CHECK(!lease_is_stale(h, "other", 600));
  }
}
