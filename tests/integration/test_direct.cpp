// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// `transfer: direct` (suite `direct`, SPEC §6): every node behind a real sshd on 127.0.0.x; the
// destination's agent pulls from the source's agent through the real OpenSSH client with a
// throwaway node-to-node key. Checked from outside clsync: what lies on the disks.
#include "core/rebalance.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/chunk_tree.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using clsync::test::DemoCopy;

namespace {

/// A chunk the demo lacks, on P1-dn1 and P2-dn1: a sparse file, an 8 MiB file, a hard link, an
/// empty directory, odd modes and old mtimes (directories last, so their mtimes stay).
const std::string k_odd_chunk = "Level1/20991231/7/Odd";

void make_odd_chunk(const fs::path& volume)
{
  const fs::path c = volume / k_odd_chunk;
  fs::create_directories(c / "sub" / "empty");
  test::fill_file(c / "big.data", 8u << 20, 7);
  {
    // 3 MiB of hole, 4 KiB of data, then 1 MiB of hole again.
    const int fd = ::open((c / "sparse.data").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0640);
    REQUIRE(fd >= 0);
    const std::string block(4096, 'x');
    REQUIRE(::pwrite(fd, block.data(), block.size(), 3 << 20) == 4096);
    REQUIRE(::ftruncate(fd, (4 << 20) + 4096) == 0);
    ::close(fd);
  }
  test::put_file(c / "sub" / "a.col", "sub/a.col", "columns", 0600, 1'500'000'000'000'000'001);
  REQUIRE(::link((c / "sub" / "a.col").c_str(), (c / "sub" / "a-link.col").c_str()) == 0);
  ::chmod((c / "sparse.data").c_str(), 0640);
  test::set_mtime(c / "big.data", 1'400'000'000'000'000'000);
  test::set_mtime(c / "sparse.data", 1'400'000'000'000'000'002);
  ::chmod((c / "sub" / "empty").c_str(), 0700);
  test::set_mtime(c / "sub" / "empty", 1'300'000'000'000'000'000);
  test::set_mtime(c / "sub", 1'300'000'000'000'000'001);
  test::set_mtime(c, 1'300'000'000'000'000'002);
}

/// Everything a copy must keep, read with plain system calls: per entry its path, type, mode,
/// owner, mtime, size, content hash, whether it is sparse, and which names share an inode.
std::string exact_listing(const fs::path& chunk)
{
  // Hard links: each is named after the first name of its inode in path order, not in
  // readdir order (which differs between two copies: tmpfs lists newest first).
  std::vector<std::string> names;
  for (auto it = fs::recursive_directory_iterator(chunk); it != fs::recursive_directory_iterator();
       ++it) {
    names.push_back(it->path().lexically_relative(chunk).string());
  }
  std::sort(names.begin(), names.end());
  std::string out;
  std::map<std::pair<dev_t, ino_t>, std::string> first_name;
  for (const auto& rel : names) {
    const fs::path path = chunk / rel;
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    std::ostringstream line;
    line << rel << " mode=" << std::oct << (st.st_mode & 07777) << std::dec << " uid=" << st.st_uid
         << " gid=" << st.st_gid << " mtime=" << st.st_mtim.tv_sec << "."
         << st.st_mtim.tv_nsec;
    if (S_ISDIR(st.st_mode)) {
      line << " dir";
    } else {
      REQUIRE(S_ISREG(st.st_mode));
      line << " size=" << st.st_size << " sha=" << test::sha256_of_file(path)
           << " sparse=" << (st.st_blocks * 512 < st.st_size);
      auto [at, fresh] = first_name.try_emplace({st.st_dev, st.st_ino}, rel);
      if (!fresh) {
        line << " link_of=" << at->second;
      }
    }
    out += line.str() + "\n";
  }
  return out;
}

/// Rewrites the demo copy's topology: node i is SSH host i of `sshd`, every node `transfer:
/// direct` with the node-side key `node_key` and known_hosts `node_known_hosts`; `extra` is
/// appended to P1-dn1's entry.
void to_direct_nodes(DemoCopy& d, const test::SshdHarness& sshd, const std::string& node_key,
                     const std::string& node_known_hosts, const std::string& p1_extra = "")
{
  std::string y = "cluster: demo-a\n"
                  "replication: 2\n"
                  "transfer: direct\n"
                  "direct:\n"
                  "  identity: " + node_key + "\n"
                  "  known_hosts: " + node_known_hosts + "\n" +
                  sshd.topology_ssh_block();
  for (std::size_t i = 0; i < d.topo->nodes.size(); ++i) {
    const auto& n = d.topo->nodes[i];
    y += "  - name: " + n.name + "\n";
    y += "    host: " + sshd.host(static_cast<int>(i)).address + "\n";
    y += "    port: " + std::to_string(sshd.host(static_cast<int>(i)).port) + "\n";
    y += "    volumes: [\"" + n.volumes[0] + "\"]\n";
    if (i == 0) {
      y += p1_extra;
    }
  }
  y += "databases:\n"
       "  Level1:\n"
       "    levels: [date, hash]\n"
       "  Level1_TSDB:\n"
       "    levels: [date, hash]\n";
  d.edit_yaml([&](std::string& text) { text = y; });
  REQUIRE(!d.topo->nodes[0].is_local());
}

/// A throwaway node-to-node key, authorized on every harness host.
fs::path provision_node_key(const test::SshdHarness& sshd)
{
  const fs::path key = sshd.dir() / "node_ed25519";
  REQUIRE(test::run_command("ssh-keygen -q -t ed25519 -N '' -C clsync-node -f '" + key.string() +
                            "'") == 0);
  std::ofstream(sshd.dir() / "authorized_keys", std::ios::app)
      << test::read_file(key.string() + ".pub");
  return key;
}

void check_even(DemoCopy& d, const std::map<std::string, std::string>& hashes)
{
  auto inv = d.inventory(true);
  auto per = test::replicas_per_node(inv);
  std::uint64_t lo = ~0ull, hi = 0;
  for (const auto& [node, n] : per) {
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  CHECK(per.size() == 3);
  CHECK(hi - lo <= 1);
  CHECK(inv.health.healthy == hashes.size());
  CHECK(inv.leftovers.empty());
  CHECK(test::content_by_chunk(inv) == hashes);
}

/// No `.clsync-*` entry (temp, trash, intent) left on any volume of `d`.
void check_no_leftovers(DemoCopy& d)
{
  for (const auto& n : d.topo->nodes) {
    CHECK_MESSAGE(!test::has_entry_starting(n.volumes[0], ".clsync-tmp"), n.name);
    CHECK_MESSAGE(!test::has_entry_starting(n.volumes[0], ".clsync-intent"), n.name);
    CHECK_MESSAGE(!test::has_entry_starting(n.volumes[0], ".clsync-trash"), n.name);
  }
}

std::string joined_warnings(DemoCopy& d)
{
  std::lock_guard lock(d.events.m);
  std::string all;
  for (const auto& w : d.events.warnings) {
    all += w + "\n";
  }
  return all;
}

bool has_text(const std::string& s, const std::string& part)
{
  return s.find(part) != std::string::npos;
}

} // namespace

TEST_SUITE("direct")
{
  TEST_CASE("rebalance-nodes and move-replicas pull node to node, exactly, relaying nothing")
  {
    test::SshdHarness sshd(3, "direct-exact");
    const fs::path key = provision_node_key(sshd);
    DemoCopy d("direct-exact");
    make_odd_chunk(d.volume("P1-dn1"));
    make_odd_chunk(d.volume("P2-dn1"));
    const std::string odd_before = exact_listing(fs::path(d.volume("P1-dn1")) / k_odd_chunk);
    REQUIRE(has_text(odd_before, "sparse=1"));
    REQUIRE(has_text(odd_before, "link_of="));
    to_direct_nodes(d, sshd, key.string(), sshd.known_hosts().string());
    const auto hashes = test::content_by_chunk(d.inventory(true));

    RebalanceNodesOptions o;
    o.plan.by = "count";
    o.write.direct_only = true;
    auto r = rebalance_nodes(d.ctx, o);
    CHECK(r.code == ExitCode::ok);
    REQUIRE(r.exec);
    CHECK(r.exec->finished > 100);
    CHECK(r.exec->bytes_relayed == 0);
    CHECK(r.exec->bytes_direct > 0);
    for (const auto& t : r.exec->tasks) {
      CHECK_MESSAGE(t.transfer == "direct", t.move.chunk, " ", t.error);
    }
    check_even(d, hashes);
    check_no_leftovers(d);

    // The odd chunk to P3-dn1 (if the rebalance did not put it there), then compared as read
    // from the disks: bytes, modes, owners, mtimes, holes, the empty directory, the hard link.
    std::string holder = fs::exists(fs::path(d.volume("P3-dn1")) / k_odd_chunk) ? "P3-dn1" : "";
    if (holder.empty()) {
      MoveReplicasOptions mo;
      mo.from_node = fs::exists(fs::path(d.volume("P1-dn1")) / k_odd_chunk) ? "P1-dn1" : "P2-dn1";
      mo.to_node = "P3-dn1";
      mo.filter.chunks = {k_odd_chunk};
      auto m = move_replicas(d.ctx, mo);
      CHECK(m.code == ExitCode::ok);
      REQUIRE(m.exec);
      CHECK(m.exec->finished == 1);
      CHECK(m.exec->bytes_relayed == 0);
      CHECK(m.exec->bytes_direct == (8u << 20) + 4096 + 7);
    }
    CHECK(test::first_difference(odd_before,
                                 exact_listing(fs::path(d.volume("P3-dn1")) / k_odd_chunk)) == "");
    check_no_leftovers(d);
  }

  TEST_CASE("no node key, or a refused host key: relayed with the reason, or failed (exit 3) "
            "under --direct-only")
  {
    test::SshdHarness sshd(3, "direct-fallback");
    DemoCopy d("direct-fallback");
    const auto hashes = test::content_by_chunk(d.inventory(true));
    // The key is missing on the nodes; P1-dn1 relays by its own choice (transfer: relay).
    to_direct_nodes(d, sshd, "/nonexistent/clsync_node_key", sshd.known_hosts().string(),
                    "    transfer: relay\n");
    const std::string cmd = "-c '" + d.yaml.string() + "' --state-dir '" +
                            d.ctx.state_dir.string() + "' --json rebalance-nodes --by count";
    std::string out;
    CHECK(test::run_clsync(cmd + " --direct-only", &out) == 3);
    const auto doc = nlohmann::json::parse(out);
    CHECK(doc["tasks"]["finished"].get<int>() > 0);
    CHECK(doc["tasks"]["failed"].get<int>() > 0);
    CHECK(doc["tasks"]["bytes_relayed"].get<std::uint64_t>() > 0);
    CHECK(doc["tasks"]["bytes_direct"] == 0);
    int failed_p2 = 0;
    for (const auto& mv : doc["moves"]) {
      const std::string from = mv["from"]["node"];
      if (from == "P1-dn1") {
        CHECK(mv["state"] == "finished");
        CHECK(mv["transfer"] == "relay");
      } else {
        ++failed_p2;
        CHECK(mv["state"] == "failed");
        const std::string err = mv.value("error", "");
        CHECK_MESSAGE(has_text(err, "--direct-only"), err);
        CHECK_MESSAGE(has_text(err, "from " + from + " to P3-dn1"), err);
        CHECK_MESSAGE(has_text(err, "identity file /nonexistent/clsync_node_key does not exist"),
                      err);
      }
    }
    CHECK(failed_p2 > 0);
    check_no_leftovers(d);
    CHECK(test::content_by_chunk(d.inventory(true)) == hashes);
    to_direct_nodes(d, sshd, "/nonexistent/clsync_node_key", sshd.known_hosts().string());

    // Without --direct-only the same run relays, says why once per node pair, and finishes
    // (two days of one database: enough tasks, less time).
    RebalanceNodesOptions o;
    o.plan.by = "count";
    o.filter.dbs = {"Level1"};
    o.filter.partitions = {"20200601/*", "20200602/*"};
    auto r = rebalance_nodes(d.ctx, o);
    CHECK(r.code == ExitCode::ok);
    REQUIRE(r.exec);
    CHECK(r.exec->bytes_direct == 0);
    CHECK(r.exec->bytes_relayed > 0);
    REQUIRE(!r.exec->tasks.empty());
    CHECK(r.exec->tasks[0].transfer == "relay");
    CHECK(has_text(r.exec->tasks[0].transfer_note, "identity file"));
    const std::string warned = joined_warnings(d);
    CHECK(has_text(warned, "direct transfer from P2-dn1 to P3-dn1 unavailable"));
    CHECK(has_text(warned, "relayed through clsync"));
    for (const auto& t : r.exec->tasks) {
      CHECK(t.state == "finished");
    }
    check_no_leftovers(d);
    CHECK(test::content_by_chunk(d.inventory(true)) == hashes);

    // A node-side known_hosts that lists other keys: ssh refuses the host key.
    const fs::path key = provision_node_key(sshd);
    const fs::path wrong = sshd.dir() / "wrong_known_hosts";
    {
      std::ofstream kh(wrong);
      for (int i = 0; i < sshd.size(); ++i) {
        // Each host's line with host 0's key: a changed key for every other host.
        std::string line = sshd.known_hosts_line(0);
        const std::string host = "[" + sshd.host(i).address + "]:" +
                                 std::to_string(sshd.host(i).port);
        kh << host << line.substr(line.find(' ')) << "\n";
      }
    }
    to_direct_nodes(d, sshd, key.string(), wrong.string());
    MoveReplicasOptions mo;
    mo.from_node = "P2-dn1";
    mo.to_node = "P1-dn1";
    mo.filter.dbs = {"Level1_TSDB"};
    mo.filter.partitions = {"20200601/*"};
    mo.write.direct_only = true;
    d.events.warnings.clear();
    auto m = move_replicas(d.ctx, mo);
    CHECK(m.code == ExitCode::failed);
    REQUIRE(m.exec);
    CHECK(m.exec->finished == 0);
    CHECK(m.exec->failed > 0);
    REQUIRE(!m.exec->tasks.empty());
    CHECK(has_text(m.exec->tasks[0].error, "Host key verification failed"));
    CHECK(has_text(joined_warnings(d), "direct transfer from P2-dn1 to P1-dn1 unavailable"));
    check_no_leftovers(d);
    CHECK(test::content_by_chunk(d.inventory(true)) == hashes);
  }

  TEST_CASE("the source agent killed mid-pull: the task fails cleanly, the rerun converges")
  {
    test::SshdHarness sshd(3, "direct-kill");
    const fs::path key = provision_node_key(sshd);
    DemoCopy d("direct-kill");
    make_odd_chunk(d.volume("P1-dn1"));
    make_odd_chunk(d.volume("P2-dn1"));
    const std::string odd_before = exact_listing(fs::path(d.volume("P1-dn1")) / k_odd_chunk);
    // Peers reach P1-dn1's agent through a wrapper that, the first time only, runs it under
    // strace with a SIGKILL at its 12th frame write: inside the 8 MiB file's stream.
    const fs::path wrapper = sshd.dir() / "killing-agent.sh";
    const fs::path marker = sshd.dir() / "killed-once";
    test::write_file(wrapper, "#!/bin/sh\n"
                              "if [ ! -e '" + marker.string() + "' ]; then\n"
                              "  touch '" + marker.string() + "'\n"
                              "  exec strace -f -qq -o /dev/null -e trace=writev "
                              "-e inject=writev:signal=SIGKILL:when=12 " CLSYNC_BINARY " \"$@\"\n"
                              "fi\n"
                              "exec " CLSYNC_BINARY " \"$@\"\n");
    fs::permissions(wrapper, fs::perms::owner_all);
    to_direct_nodes(d, sshd, key.string(), sshd.known_hosts().string(),
                    "    direct:\n      agent_command: " + wrapper.string() + "\n");
    MoveReplicasOptions mo;
    mo.from_node = "P1-dn1";
    mo.to_node = "P3-dn1";
    mo.filter.chunks = {k_odd_chunk};
    mo.write.retries = 0;
    mo.write.direct_only = true;
    auto first = move_replicas(d.ctx, mo);
    CHECK(fs::exists(marker));
    CHECK(first.code == ExitCode::failed);
    REQUIRE(first.exec);
    REQUIRE(first.exec->tasks.size() == 1);
    const std::string err = first.exec->tasks[0].error;
    CHECK_MESSAGE(has_text(err, "P1-dn1"), err);
    CHECK_FALSE(fs::exists(fs::path(d.volume("P3-dn1")) / k_odd_chunk));
    CHECK(exact_listing(fs::path(d.volume("P1-dn1")) / k_odd_chunk) == odd_before);
    check_no_leftovers(d);

    auto again = move_replicas(d.ctx, mo);
    CHECK(again.code == ExitCode::ok);
    REQUIRE(again.exec);
    CHECK(again.exec->bytes_relayed == 0);
    CHECK_FALSE(fs::exists(fs::path(d.volume("P1-dn1")) / k_odd_chunk));
    CHECK(test::first_difference(odd_before,
                                 exact_listing(fs::path(d.volume("P3-dn1")) / k_odd_chunk)) == "");
    check_no_leftovers(d);
  }

  TEST_CASE("killed at the executor's points while pulling direct: 2 replicas kept, rerun "
            "converges")
  {
    test::SshdHarness sshd(3, "direct-crash");
    const fs::path key = provision_node_key(sshd);
    // A sample of the points (the crash suite sweeps them all on relayed moves): one before the
    // commit, one between the commit and the source's removal.
    for (const char* point : {"mid_copy", "after_commit"}) {
      const std::string point_name = point;
      CAPTURE(point_name);
      DemoCopy d(std::string("direct-crash-") + point);
      const auto hashes = test::content_by_chunk(d.inventory(true));
      to_direct_nodes(d, sshd, key.string(), sshd.known_hosts().string());
      const std::string cmd = "-c '" + d.yaml.string() + "' --state-dir '" +
                              d.ctx.state_dir.string() +
                              "' rebalance-nodes --by count --db Level1 --partition '2020060[1-3]/*'";
      REQUIRE(test::run_clsync(cmd + " --direct-only", nullptr,
                               "CLSYNC_TEST_CRASH_AT=" + point_name + ":5") == test::k_killed);
      for (const auto& chunk_n : test::replicas_on_disk(*d.topo)) {
        const auto& chunk = chunk_n.first; // named, not bound: doctest's lambdas
        const auto& n = chunk_n.second; // capture them (clang 14)
        CHECK_MESSAGE(n >= 2, chunk);
      }
      std::string out;
      REQUIRE(test::run_clsync("--json " + cmd + " --direct-only", &out) == 0);
      const auto doc = nlohmann::json::parse(out);
      CHECK(doc["tasks"]["finished"].get<int>() > 0);
      CHECK(doc["tasks"]["bytes_relayed"] == 0);
      check_no_leftovers(d);
      const auto inv = d.inventory(true);
      CHECK(inv.health.healthy == 200);
      CHECK(test::content_by_chunk(inv) == hashes);
    }
  }
}
