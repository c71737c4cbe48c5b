// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Network faults (suite `faults_net`, issue 11 item 3) against the real binary and real sshd:
// a node's sshd stopped mid-transfer (its tasks hit io_timeout and fail alone, exit 3); links
// through a TCP proxy (tests/support/tcp_proxy.hpp) that are slow, that hang or that reset
// mid-stream; a host key changed between two runs; sshd rekeying every 16 MiB under a 64 MiB
// transfer. On the move path (repair, move-replicas), a repository command (push) and
// sync-online. After each: the failure names the node, nothing is lost or torn, and a rerun
// converges leaving nothing of clsync's behind.
#include "tests/integration/faults_fixture.hpp"
#include "tests/support/chunk_tree.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"
#include "tests/support/tcp_proxy.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace clsync::test;
using namespace clsync::test::faults;

namespace faults_net_cases {

/// The `ssh:` block of a topology whose nodes are behind `h` (or proxies of it), with short
/// timeouts so that a hung link fails in seconds.
std::vector<std::string> net_ssh_block(const SshdHarness& h, const fs::path& known_hosts)
{
  return {"  user: root",
          "  identity: " + h.client_key().string(),
          "  known_hosts: " + known_hosts.string(),
          "  agent_command: " CLSYNC_BINARY,
          "  connect_timeout: 3",
          "  io_timeout: 3"};
}

/// A known_hosts file for `h`'s hosts plus a line for each proxy (address, port) of host i.
fs::path known_hosts_with(const SshdHarness& h, const fs::path& file,
                          const std::vector<std::pair<int, const TcpProxy*>>& proxies)
{
  std::string text = read_file(h.known_hosts());
  for (const auto& [i, p] : proxies) {
    const std::string line = h.known_hosts_line(i);
    text += "[" + p->address() + "]:" + std::to_string(p->port()) + line.substr(line.find(' ')) +
            "\n";
  }
  write_file(file, text);
  return file;
}

const std::string k_net_key_a = "Level1/20200601/0/T";
const std::string k_net_key_b = "Level1/20200602/0/T";

/// Two chunks of `size` bytes each on `volume`; returns key → tree digest.
std::map<std::string, std::string> two_chunks(const fs::path& volume, std::uint64_t size)
{
  put_fault_file(volume / k_net_key_a / "a.col", size, 21);
  put_fault_file(volume / k_net_key_b / "b.col", size, 22);
  return {{k_net_key_a, fault_tree_digest(volume / k_net_key_a)},
          {k_net_key_b, fault_tree_digest(volume / k_net_key_b)}};
}

/// Every chunk of `want` on exactly `nodes`, each copy equal to the original.
void check_placed(const FaultCluster& c, const std::map<std::string, std::string>& want,
                  const std::set<std::string>& nodes, const std::string& when)
{
  auto now = replica_digests(c);
  for (const auto& key_digest : want) {
    const auto& key = key_digest.first; // named, not bound: doctest's lambdas
    const auto& digest = key_digest.second; // capture them (clang 14)
    std::set<std::string> holders;
    for (const auto& node_d : now[key]) {
      const auto& node = node_d.first; // named, not bound: doctest's lambdas
      const auto& d = node_d.second; // capture them (clang 14)
      holders.insert(node);
      CHECK_MESSAGE(d == digest, when << ": " << key << " on " << node << " differs");
    }
    CHECK_MESSAGE(holders == nodes, when << ": " << key << " is on " << holders.size()
                                         << " nodes");
  }
}

/// Source n1 (local) holding two chunks, destination n2 over sshd host 0 reached through a
/// proxy with `b`; replication 1: `move-replicas --from-node n1` moves both through the proxy.
struct ProxiedMove {
  fs::path dir;
  SshdHarness h;
  TcpProxy proxy;
  FaultCluster c;
  std::map<std::string, std::string> before;

  ProxiedMove(const std::string& name, ProxyBehaviour b, std::uint64_t size)
      : dir(scratch_dir(name)), h(1, name + "-sshd"),
        proxy("127.0.0.50", h.host(0).address, h.host(0).port, b),
        c(dir, 1, {{"n1", {dir / "n1"}}, {"n2", {dir / "n2"}, proxy.address(), proxy.port()}})
  {
    c.ssh = net_ssh_block(h, known_hosts_with(h, dir / "known_hosts", {{0, &proxy}}));
    c.write();
    before = two_chunks(dir / "n1", size);
  }
  std::string drain() const
  {
    return c.args() + "move-replicas --from-node n1 --concurrency 1 --retries 2";
  }
};

/// A link to n2 that stalls or resets once, 3 MiB into the transfer: the task is retried on
/// a fresh connection and completes.
void check_fault_once(const std::string& mode)
{
  ProxyBehaviour b;
  (mode == "stalls" ? b.stall_after : b.reset_after) = 3 << 20;
  b.max_faults = 1;
  ProxiedMove m("fn-once-" + mode, b, 4 << 20);
  Outcome o = run_clsync_all(m.drain());
  INFO("clsync said:\n", o.out);
  CHECK(m.proxy.faults() == 1);
  CHECK(o.code == 0);
  check_placed(m.c, m.before, {"n2"}, "after one that " + mode);
  CHECK(clsync_leftovers(m.c).empty());
}

} // namespace faults_net_cases

using namespace faults_net_cases;

TEST_SUITE("faults_net")
{
  TEST_CASE("repair: one node's sshd stopped mid-transfer: its tasks time out, the others "
            "finish, exit 3; rerun converges")
  {
    fs::path d = scratch_dir("fn-stop");
    SshdHarness h(2, "fn-stop-sshd");
    FaultCluster c(d, 3,
              {{"n1", {d / "n1"}},
               {"n2", {d / "n2"}, h.host(0).address, h.host(0).port},
               {"n3", {d / "n3"}, h.host(1).address, h.host(1).port}});
    c.ssh = net_ssh_block(h, h.known_hosts());
    c.write();
    auto before = two_chunks(d / "n1", 2 << 20);
    const std::string repair = c.args() + "repair --retries 1";
    {
      PausedRun run(repair, "mid_copy", d / "pause");
      REQUIRE(run.reached());
      // n3 hangs: its listener and every session stop answering, as a frozen host does.
      REQUIRE(::kill(h.host(1).pid, SIGSTOP) == 0);
      REQUIRE(h.signal_sessions(1, SIGSTOP) > 0);
      Outcome o = run.finish();
      h.signal_sessions(1, SIGCONT);
      ::kill(h.host(1).pid, SIGCONT);
      INFO("clsync said:\n", o.out);
      CHECK(o.code == 3);
      CHECK(contains(o.out, "n3"));
      CHECK(contains(o.out, "timeout"));
      // n2's copies are complete; n3 holds no torn copy; n1 is untouched.
      check_placed(c, before, {"n1", "n2"}, "after n3 hung");
    }
    Outcome r = run_clsync_all(repair);
    INFO("the rerun said:\n", r.out);
    CHECK(r.code == 0);
    check_placed(c, before, {"n1", "n2", "n3"}, "after the rerun");
    auto left = clsync_leftovers(c);
    CHECK_MESSAGE(left.empty(), (left.empty() ? "" : left.front()));
  }

  TEST_CASE("move: a slow link (4 MB/s) completes and verifies")
  {
    ProxyBehaviour b;
    b.rate = 4'000'000;
    ProxiedMove m("fn-slow", b, 3 << 20);
    Outcome o = run_clsync_all(m.drain());
    INFO("clsync said:\n", o.out);
    CHECK(o.code == 0);
    CHECK(m.proxy.bytes() >= (6u << 20)); // both chunks crossed the throttled link
    check_placed(m.c, m.before, {"n2"}, "over a slow link");
    CHECK(clsync_leftovers(m.c).empty());
  }

  TEST_CASE("move: a link that stalls once mid-stream: the task is retried and completes")
  {
    check_fault_once("stalls");
  }

  TEST_CASE("move: a link reset once mid-stream: the task is retried and completes")
  {
    check_fault_once("resets");
  }

  TEST_CASE("repair: a link to one node that resets every time: its tasks fail, exit 3")
  {
    fs::path d = scratch_dir("fn-reset-always");
    SshdHarness h(2, "fn-reset-always-sshd");
    ProxyBehaviour b;
    b.reset_after = 1 << 20;
    TcpProxy proxy("127.0.0.51", h.host(1).address, h.host(1).port, b);
    FaultCluster c(d, 3,
                   {{"n1", {d / "n1"}},
                    {"n2", {d / "n2"}, h.host(0).address, h.host(0).port},
                    {"n3", {d / "n3"}, proxy.address(), proxy.port()}});
    c.ssh = net_ssh_block(h, known_hosts_with(h, d / "known_hosts", {{1, &proxy}}));
    c.write();
    auto before = two_chunks(d / "n1", 2 << 20);
    Outcome o = run_clsync_all(c.args() + "repair --retries 1");
    INFO("clsync said:\n", o.out);
    CHECK(o.code == 3);
    CHECK(contains(o.out, "n3"));
    CHECK(proxy.faults() >= 2);
    check_placed(c, before, {"n1", "n2"}, "after resets on n3");
    // The link is repaired: n3 straight to its sshd.
    c.nodes[2].host = h.host(1).address;
    c.nodes[2].port = h.host(1).port;
    c.write();
    Outcome r = run_clsync_all(c.args() + "repair");
    INFO("the rerun said:\n", r.out);
    CHECK(r.code == 0);
    check_placed(c, before, {"n1", "n2", "n3"}, "after the rerun");
    CHECK(clsync_leftovers(c).empty());
  }

  TEST_CASE("a host key changed between two runs is refused, naming the node; nothing changes")
  {
    // The transport-level refusal (both policies) is ssh_security's "a changed host key is
    // refused under both policies"; this is the whole binary across two runs.
    fs::path d = scratch_dir("fn-hostkey");
    SshdHarness h(1, "fn-hostkey-sshd");
    FaultCluster c(d, 2, {{"n1", {d / "n1"}}, {"n2", {d / "n2"}, h.host(0).address, h.host(0).port}});
    c.ssh = net_ssh_block(h, h.known_hosts());
    c.write();
    auto before = two_chunks(d / "n1", 64 << 10);
    REQUIRE(run_clsync_all(c.args() + "status").code == 0);
    h.regenerate_host_key(0);
    Outcome o = run_clsync_all(c.args() + "repair");
    INFO("clsync said:\n", o.out);
    CHECK(o.code == 1);
    CHECK(contains(o.out, "n2"));
    CHECK(contains(o.out, "host key mismatch"));
    CHECK_FALSE(fs::exists(d / "n2" / "Level1"));
    CHECK(clsync_leftovers(c).empty());
    check_placed(c, before, {"n1"}, "after a refused host key");
  }

  TEST_CASE("move: sshd rekeys every 16 MiB under a 64 MiB transfer; it completes and verifies")
  {
    fs::path d = scratch_dir("fn-rekey");
    SshdHarness h(1, "fn-rekey-sshd");
    h.set_extra_config(0, {"RekeyLimit 16M", "LogLevel DEBUG1"});
    FaultCluster c(d, 1, {{"n1", {d / "n1"}}, {"n2", {d / "n2"}, h.host(0).address, h.host(0).port}});
    c.ssh = net_ssh_block(h, h.known_hosts());
    c.ssh.back() = "  io_timeout: 30";
    c.write();
    put_fault_file(d / "n1" / k_net_key_a / "big.col", 64ull << 20, 5);
    const std::map<std::string, std::string> before{
        {k_net_key_a, fault_tree_digest(d / "n1" / k_net_key_a)}};
    Outcome o = run_clsync_all(c.args() + "move-replicas --from-node n1");
    INFO("clsync said:\n", o.out);
    CHECK(o.code == 0);
    check_placed(c, before, {"n2"}, "after a transfer with rekeying");
    // More key exchanges than connections: the server rekeyed inside a connection.
    const std::string log = read_file(h.host(0).log);
    auto count = [&](const std::string& what) {
      int n = 0;
      for (auto p = log.find(what); p != std::string::npos; p = log.find(what, p + 1)) {
        ++n;
      }
      return n;
    };
    const int kex = count("SSH2_MSG_KEXINIT sent");
    const int logins = count("Accepted publickey");
    INFO("key exchanges: ", kex, ", logins: ", logins);
    CHECK(logins >= 1);
    CHECK(kex >= logins + 3);
  }

  TEST_CASE("push: a link reset mid-object; the rerun resumes the partial and completes")
  {
    fs::path d = scratch_dir("fn-push");
    SshdHarness h(1, "fn-push-sshd");
    ProxyBehaviour b;
    b.reset_after = 3 << 20;
    b.max_faults = 1;
    TcpProxy proxy("127.0.0.52", h.host(0).address, h.host(0).port, b);
    FaultCluster c(d, 1, {{"n1", {d / "n1"}}});
    two_chunks(d / "n1", 4 << 20);
    const fs::path src = d / "src-repo";
    const fs::path dst = d / "dst-repo";
    REQUIRE(run_clsync_all(c.args() + "backup --to " + fault_quote(src.string())).code == 0);
    const fs::path kh = known_hosts_with(h, d / "known_hosts", {{0, &proxy}});
    const std::string push = "push " + fault_quote(src.string()) + " ssh://root@" +
                             proxy.address() + ":" + std::to_string(proxy.port()) + dst.string() +
                             " --dest-identity " + h.client_key().string() +
                             " --dest-known-hosts " + kh.string() +
                             " --dest-agent-command " CLSYNC_BINARY " --parallel 1";
    Outcome o = run_clsync_all(push);
    INFO("clsync said:\n", o.out);
    CHECK(proxy.faults() == 1);
    CHECK((o.code == 0 || o.code == 1 || o.code == 3));
    if (o.code != 0) {
      CHECK(contains(o.out, "object "));
      CHECK(contains(o.out, "Connection reset"));
      const bool snapshot_sent = fs::exists(dst / "snapshots") && !fs::is_empty(dst / "snapshots");
      CHECK_FALSE(snapshot_sent);
    }
    const std::uint64_t after_first = proxy.bytes();
    Outcome r = run_clsync_all(push);
    INFO("the rerun said:\n", r.out);
    CHECK(r.code == 0);
    // The rerun sent less than the objects: the partial left by the reset was resumed.
    CHECK(proxy.bytes() - after_first < (8u << 20));
    // Every object and snapshot arrived byte for byte; no partial is left.
    for (const auto& e : fs::recursive_directory_iterator(src / "objects")) {
      if (e.is_regular_file()) {
        const fs::path there = dst / e.path().lexically_relative(src);
        REQUIRE_MESSAGE(fs::exists(there), there.string());
        CHECK(sha256_of_file(there) == sha256_of_file(e.path()));
      }
    }
    for (const auto& e : fs::directory_iterator(src / "snapshots")) {
      const fs::path there = dst / "snapshots" / e.path().filename();
      REQUIRE_MESSAGE(fs::exists(there), there.string());
      CHECK(sha256_of_file(there) == sha256_of_file(e.path()));
    }
    FaultCluster none(d / "none", 1, {});
    auto left = clsync_leftovers(none, {dst});
    CHECK_MESSAGE(left.empty(), (left.empty() ? "" : left.front()));
  }

  TEST_CASE("sync-online: a link to B that stalls mid-stream; no torn copy, rerun converges")
  {
    fs::path d = scratch_dir("fn-sync");
    SshdHarness h(1, "fn-sync-sshd");
    ProxyBehaviour b;
    b.stall_after = 3 << 20;
    b.max_faults = 1;
    TcpProxy proxy("127.0.0.53", h.host(0).address, h.host(0).port, b);
    FaultCluster a(d / "a", 1, {{"a1", {d / "a" / "v1"}}});
    FaultCluster bc(d / "b", 1, {{"b1", {d / "b" / "v1"}, proxy.address(), proxy.port()}});
    bc.ssh = net_ssh_block(h, known_hosts_with(h, d / "known_hosts", {{0, &proxy}}));
    bc.write();
    auto before = two_chunks(d / "a" / "v1", 4 << 20);
    const std::string sync = "--state-dir " + fault_quote((d / "state").string()) +
                             " sync-online --from " + fault_quote(a.yaml.string()) + " --to " +
                             fault_quote(bc.yaml.string());
    Outcome o = run_clsync_all(sync);
    INFO("clsync said:\n", o.out);
    CHECK(proxy.faults() == 1);
    CHECK((o.code == 0 || o.code == 3));
    for (const auto& key_digest : before) {
      const auto& key = key_digest.first; // named, not bound: doctest's lambdas
      const auto& digest = key_digest.second; // capture them (clang 14)
      const fs::path copy = d / "b" / "v1" / key;
      CHECK_MESSAGE((!fs::exists(copy) || fault_tree_digest(copy) == digest), key << " is torn");
    }
    Outcome r = run_clsync_all(sync);
    INFO("the rerun said:\n", r.out);
    CHECK(r.code == 0);
    check_placed(bc, before, {"b1"}, "after the rerun");
    CHECK(clsync_leftovers(bc).empty());
  }
}
