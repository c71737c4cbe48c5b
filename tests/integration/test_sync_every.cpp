// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// sync-online continuous mode (suite `sync_every`, issue 9 item 6), through the real clsync binary:
// a copy of the demo's cluster A (local nodes) synced into cluster B whose node B2 is a loopback
// sshd host that is down for a round. Its bounded memory: test_sync_memory.cpp.
#include "core/cluster/inventory.hpp"
#include "core/run/journal.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <set>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>

extern char** environ;

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using clsync::test::DemoCopy;

namespace {

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

/// 2 dates × 10 hash partitions of Level1: 20 chunks.
const char* const k_filter = " --db Level1 --where 'date<=2020.06.02'";

/// Cluster B for the copy `a`: B1 and B3 local (volumes under a.dir/b), B2 behind sshd host 0.
fs::path write_cluster_b(DemoCopy& a, const test::SshdHarness& sshd)
{
  std::ostringstream y;
  y << "cluster: demo-b\nreplication: 2\nssh:\n  user: root\n  identity: "
    << sshd.client_key().string() << "\n  known_hosts: " << sshd.known_hosts().string()
    << "\n  agent_command: " CLSYNC_BINARY "\n  connect_timeout: 3\n  io_timeout: 20\nnodes:\n";
  for (const char* n : {"B1", "B2", "B3"}) {
    const fs::path vol = a.dir / "b" / n / "ssd0/chunkData";
    fs::create_directories(vol);
    y << "  - name: " << n << "\n";
    if (std::string(n) == "B2") {
      y << "    host: " << sshd.host(0).address << "\n    port: " << sshd.host(0).port << "\n";
    } else {
      y << "    host: local\n";
    }
    y << "    volumes: [\"" << vol.string() << "\"]\n";
  }
  y << "databases:\n  Level1:\n    levels: [date, hash]\n  Level1_TSDB:\n"
       "    levels: [date, hash]\n";
  const fs::path file = a.dir / "cluster-b-ssh.yaml";
  test::write_file(file, y.str());
  return file;
}

/// A clsync process started in the background, stdout and stderr to files.
struct Background {
  pid_t pid = -1;
  fs::path out, err;
  Background(const std::string& args, const fs::path& dir)
      : out(dir / "every.out"), err(dir / "every.err")
  {
    std::string cmd =
        std::string("exec ") + CLSYNC_BINARY + " " + args + " >" + quoted(out) + " 2>" + quoted(err);
    std::string sh = "/bin/sh", dash_c = "-c";
    char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
    REQUIRE(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ) == 0);
  }
  ~Background()
  {
    if (pid > 0 && status < 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  /// Sends `sig` and waits for the exit; the exit status (128 + signal when killed).
  int stop(int sig)
  {
    REQUIRE_MESSAGE(alive(), (std::string("clsync ended before the signal: ") + test::read_file(err)));
    REQUIRE(::kill(pid, sig) == 0);
    int st = 0;
    REQUIRE(::waitpid(pid, &st, 0) == pid);
    status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status;
  }
  bool alive()
  {
    int st = 0;
    if (status < 0 && ::waitpid(pid, &st, WNOHANG) == pid) {
      status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return status < 0;
  }
  int status = -1;  ///< the exit status once reaped
};

/// The complete lines of `file` parsed as JSON: with `strict` (stdout) each must be one object;
/// else (stderr, where a plain log line may appear) other lines are left out.
std::vector<nlohmann::json> json_lines(const fs::path& file, bool strict = true)
{
  std::vector<nlohmann::json> out;
  if (!fs::exists(file)) {
    return out;
  }
  const std::string text = test::read_file(file);
  std::istringstream in(text);
  std::string line;
  std::size_t at = 0;
  while (std::getline(in, line)) {
    at += line.size() + 1;
    if (at > text.size()) {
      break;  // a last line still being written
    }
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (strict) {
      CHECK_MESSAGE(j.is_object(), (std::string("not one JSON object per line: ") + line));
    } else if (!j.is_object()) {
      continue;
    }
    out.push_back(std::move(j));
  }
  return out;
}

/// Polls (generously) until `done` holds over the JSON lines of `file`; false at the deadline
/// or when the process died.
bool wait_until(Background& p,
              const fs::path& file,
              const std::function<bool(const std::vector<nlohmann::json>&)>& done)
{
  const bool strict = file == p.out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done(json_lines(file, strict))) {
      return true;
    }
    if (!p.alive()) {
      return done(json_lines(file, strict));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::vector<std::string> leases_under(const fs::path& root)
{
  std::vector<std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    if (it->path().filename().string().rfind(".clsync-lease", 0) == 0) {
      out.push_back(it->path().string());
    }
  }
  return out;
}

/// Each of A's selected chunks is on 2 distinct nodes of B with A's content.
void check_b_complete(DemoCopy& a, const fs::path& b_yaml)
{
  auto topo = std::make_shared<Topology>(load_topology(b_yaml));
  NodeSet nodes(*topo);
  NullEvents quiet;
  InventoryOptions o;
  o.verify = true;
  const Inventory b = take_inventory(*topo, nodes, o, quiet);
  const auto want = test::content_by_chunk(a.inventory(true));
  std::size_t seen = 0;
  for (const auto& c : b.chunks) {
    ++seen;
    auto it = want.find(c.key);
    REQUIRE_MESSAGE(it != want.end(), c.key);
    std::set<std::string> on;
    for (const auto& r : c.replicas) {
      CHECK_MESSAGE(r.content_hash == it->second, (c.key + " on " + r.node));
      on.insert(r.node);
    }
    CHECK_MESSAGE(on.size() == 2, c.key);
  }
  CHECK(seen == 20);
}

} // namespace

TEST_SUITE("sync_every")
{
  TEST_CASE("--every 1s: a round with B2 down fails and is logged, the next catches up; "
            "SIGUSR1 prints the lag; SIGTERM ends it with 130 and no lease left")
  {
    test::SshdHarness sshd(1, "sync-every");
    DemoCopy a("sync-every");
    const fs::path b_yaml = write_cluster_b(a, sshd);
    const fs::path state = a.dir / "state-b";
    sshd.stop(0);
    Background p("--json --log-format json --state-dir " + quoted(state) + " sync-online --from " +
                     quoted(a.yaml) + " --to " + quoted(b_yaml) + k_filter + " --every 1s",
                 a.dir);

    // Round 1 runs with B2 down: a failed round, on stdout and in the log.
    REQUIRE(wait_until(p, p.out, [](const auto& l) { return !l.empty(); }));
    const auto first = json_lines(p.out).front();
    CHECK(first["exit_code"] != 0);
    CHECK(!first["errors"].empty());
    sshd.start(0);

    // A later round catches up: done, nothing missing afterwards.
    auto caught_up = [](const std::vector<nlohmann::json>& l) {
      for (const auto& j : l) {
        if (j["exit_code"] == 0 && j["lag_after"]["missing"] == 0 &&
            j["lag_after"]["differing"] == 0) {
          return true;
        }
      }
      return false;
    };
    REQUIRE(wait_until(p, p.out, caught_up));

    // SIGUSR1: a lag event on stderr (B up to date now).
    auto lag_events = [](const std::vector<nlohmann::json>& l) {
      std::vector<nlohmann::json> out;
      for (const auto& j : l) {
        if (j.value("type", "") == "lag") {
          out.push_back(j);
        }
      }
      return out;
    };
    REQUIRE(::kill(p.pid, SIGUSR1) == 0);
    REQUIRE(wait_until(p, p.err, [&](const auto& l) { return !lag_events(l).empty(); }));
    const auto lag = lag_events(json_lines(p.err, false)).front();
    CHECK(lag["missing"] == 0);
    CHECK(lag["differing"] == 0);
    CHECK(lag.contains("seconds"));

    CHECK(p.stop(SIGTERM) == 130);

    // Every stdout line is one round's document; every round is logged on stderr too.
    const auto rounds = json_lines(p.out);
    REQUIRE(rounds.size() >= 2);
    for (const auto& r : rounds) {
      for (const char* k : {"copied", "skipped", "deleted", "failed", "bytes", "lag_before",
                            "lag_after", "seconds", "mb_per_s"}) {
        CHECK_MESSAGE(r.contains(k), k);
      }
    }
    std::size_t logged = 0;
    for (const auto& j : json_lines(p.err, false)) {
      logged += j.value("type", "") == "round" ? 1 : 0;
    }
    CHECK(logged >= rounds.size());

    // No lease left anywhere on B; B holds A's selected chunks, 2 replicas each.
    CHECK(leases_under(a.dir / "b").empty());
    check_b_complete(a, b_yaml);

    // status --tasks shows every round, the failed first one with its error.
    const auto runs = read_runs(state, "demo-b", 0);
    CHECK(runs.size() >= rounds.size() - 1);  // the round SIGTERM cut may not have started its run
    REQUIRE(!runs.empty());
    const RunRecord& oldest = runs.back();
    CHECK(oldest.command == "sync-online");
    CHECK(oldest.result != "ok");
  }

  TEST_CASE("--max-lag: a round that leaves B further behind exits 5, once and with --every")
  {
    DemoCopy a("sync-max-lag");
    const fs::path b_yaml = a.dir / "cluster-b.yaml";
    {
      // The demo's B, pointed at the copy's volumes.
      std::string text = test::read_file(b_yaml);
      const auto start = text.find("volumes: [\"") + 11;
      const std::string tmpl = text.substr(start, text.find("/b/", start) - start);
      for (std::size_t p = 0; (p = text.find(tmpl, p)) != std::string::npos;) {
        text.replace(p, tmpl.size(), a.dir.string());
        p += a.dir.string().size();
      }
      test::write_file(b_yaml, text);
    }
    const std::string base = "--state-dir " + quoted(a.dir / "state-b") + " sync-online --from " +
                             quoted(a.yaml) + " --to " + quoted(b_yaml) + k_filter;
    // --max-bytes 1: one chunk copied, the demo's 2020 mtimes leave B years behind.
    std::string out;
    CHECK(test::run_clsync("--json " + base + " --max-bytes 1 --max-lag 1h", &out) == 5);
    auto doc = nlohmann::json::parse(out, nullptr, false);
    REQUIRE_MESSAGE(doc.is_object(), out);
    CHECK(doc["exit_code"] == 5);
    CHECK(doc["lag_after"]["seconds"] > 3600);

    Background p("--json " + base + " --max-bytes 1 --max-lag 1h --every 1s", a.dir);
    REQUIRE(wait_until(p, p.out, [](const auto& l) { return l.size() >= 2; }));
    CHECK(p.stop(SIGINT) == 130);
    for (const auto& r : json_lines(p.out)) {
      CHECK(r["exit_code"] == 5);
    }
    // With B complete the same check passes.
    CHECK(test::run_clsync(base + " --max-lag 1h", &out) == 0);
    CHECK(test::run_clsync(base + " --max-lag 1h", &out) == 0);
  }
}
