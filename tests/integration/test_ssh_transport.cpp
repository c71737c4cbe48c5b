// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// The node contract suite through `clsync agent`: once over a local pipe (the protocol alone)
// and once over a real sshd (SshNode).
//
// One case differs: the contract's writer_checks wants a hash mismatch to throw from end_file
// itself. An agent-backed writer streams without a round trip per file (SPEC §6), so the agent's
// verdict on a file's hash arrives on a later call or at the latest in finish(); for those
// nodes writer_checks runs pipelined_writer_checks below, which asserts exactly that (and the
// same cleanup). Every other case runs unchanged.
#include "tests/integration/transport_suite.hpp"
#include "tests/integration/transport_suite_util.hpp"
#include "tests/support/sshd_harness.hpp"
#include "transport/agent_client.hpp"
#include "transport/open.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

using namespace clsync::transport;
namespace fs = std::filesystem;

namespace {

clsync::test::SshdHarness& harness()
{
  static clsync::test::SshdHarness h(1, "ssh-contract");
  return h;
}

std::shared_ptr<Node> make_ssh(const std::vector<std::string>& roots)
{
  return make_ssh_node(harness().target(0, roots, "contract-dn1"));
}

std::shared_ptr<Node> make_piped(const std::vector<std::string>& roots,
                                 std::uint32_t keepalive_ms = 5000)
{
  AgentNodeOptions o;
  o.description = "node piped";
  o.pool_size = 2;
  return make_agent_node(o, [roots, keepalive_ms] {
    auto stream = spawn_agent_process({CLSYNC_BINARY, "agent"}, "node piped", 30000);
    wire::Hello hello;
    hello.version = "test";
    hello.roots = roots;
    hello.keepalive_ms = keepalive_ms;
    agent_hello(*stream, hello, "node piped");
    return stream;
  });
}

void pipelined_writer_checks(const clsync::test::NodeMaker& make)
{
  using clsync::test::contract::expect_failure;
  using clsync::test::contract::write_small;
  fs::path v = clsync::test::scratch_dir("writer");
  auto node = make({v.string()});
  FileEntry f{"f.col", 3, 1'600'000'000'000'000'000, 0644, 0, 0, ""};

  {  // a hash that differs from the source's: fails by finish(), temp gone
    auto w = node->write_chunk(v.string(), "bad1");
    CHECK(fs::is_directory(v / ".clsync-tmp-bad1"));
    w->begin_file(f);
    w->file_data(std::span<const char>("abc", 3));
    std::string msg = expect_failure(
        [&] {
          w->end_file(sha256_hex("abd"));
          w->finish();
        },
        FailureKind::error);
    CHECK(msg.find("f.col") != std::string::npos);
    CHECK(msg.find(node->describe()) != std::string::npos);
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-bad1"));
    CHECK_THROWS_AS(w->finish(), TransportError);
  }
  {  // fewer bytes than announced: seen on this side, at once
    auto w = node->write_chunk(v.string(), "bad2");
    FileEntry g = f;
    g.size = 5;
    w->begin_file(g);
    w->file_data(std::span<const char>("abc", 3));
    expect_failure([&] { w->end_file(sha256_hex("abc")); }, FailureKind::error);
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-bad2"));
  }
  {  // a link to a file the stream never sent, and a path leaving the chunk
    auto w = node->write_chunk(v.string(), "bad3");
    FileEntry l = f;
    l.link_to = "nowhere";
    expect_failure([&] { w->begin_file(l); }, FailureKind::refused);
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-bad3"));
    auto w2 = node->write_chunk(v.string(), "bad4");
    FileEntry evil = f;
    evil.path = "../../evil";
    expect_failure([&] { w2->begin_file(evil); }, FailureKind::refused);
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-bad4"));
    CHECK_FALSE(fs::exists(v.parent_path() / "evil"));
  }
  {  // a leftover temp of the same task is replaced, not merged
    write_small(*node, v.string(), "again", {{"old.col", "old"}});
    CHECK(fs::exists(v / ".clsync-tmp-again/old.col"));
    write_small(*node, v.string(), "again", {{"new.col", "new"}});
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-again/old.col"));
    CHECK(fs::exists(v / ".clsync-tmp-again/new.col"));
    node->remove_task_dirs(v.string(), "again");
  }
  {  // abort after finish removes the temp; twice is harmless; a dropped writer cleans up
    auto w = node->write_chunk(v.string(), "ab");
    w->begin_file(f);
    w->file_data(std::span<const char>("abc", 3));
    w->end_file(sha256_hex("abc"));
    w->finish();
    CHECK(fs::exists(v / ".clsync-tmp-ab/f.col"));
    w->abort();
    w->abort();
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-ab"));
    auto dropped = node->write_chunk(v.string(), "dropped");
    dropped->begin_file(f);
    dropped.reset();
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-dropped"));
  }
  // After all those failures the node's connections still serve requests.
  CHECK(node->fingerprint(v.string(), "db/x").empty());
  CHECK_FALSE(clsync::test::has_entry_starting(v, ".clsync"));
}

using ContractCase = void (*)(const clsync::test::NodeMaker&);

void run_agent_contract(ContractCase c, const clsync::test::NodeMaker& make)
{
  if (c == &clsync::test::run_contract_writer_checks) {
    pipelined_writer_checks(make);
    return;
  }
  c(make);
}

} // namespace

TEST_SUITE("transport_agent_pipe")
{
#define CLSYNC_PIPE_CASE(name)                                                                   \
  TEST_CASE("contract: " #name)                                                                  \
  {                                                                                              \
    run_agent_contract(                                                                          \
        &clsync::test::run_contract_##name,                                                      \
        [](const std::vector<std::string>& roots) { return make_piped(roots); });               \
  }
  CLSYNC_CONTRACT_CASES(CLSYNC_PIPE_CASE)
#undef CLSYNC_PIPE_CASE
}

TEST_SUITE("transport_ssh")
{
#define CLSYNC_SSH_CASE(name)                                                                    \
  TEST_CASE("contract: " #name) { run_agent_contract(&clsync::test::run_contract_##name, make_ssh); }
  CLSYNC_CONTRACT_CASES(CLSYNC_SSH_CASE)
#undef CLSYNC_SSH_CASE
}

TEST_SUITE("transport_agent_pipe")
{
  TEST_CASE("keepalives from a busy agent never stall a slow writer or reader")
  {
    // The agent sends KEEPALIVE every 10 ms while it waits for our data; a writer that looked
    // for early errors used to block on them until a "real" frame came, which never did.
    fs::path v = clsync::test::scratch_dir("keepalive");
    auto node = make_piped({v.string()}, 10);
    auto w = node->write_chunk(v.string(), "slow");
    std::string content(64 << 10, 'k');
    FileEntry f{"a.col", content.size() * 8, 1'600'000'000'000'000'000, 0644, 0, 0, ""};
    w->begin_file(f);
    Sha256 sha;
    for (int i = 0; i < 8; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));  // keepalives pile up
      w->file_data(content);
      sha.update(content);
    }
    w->end_file(sha.finish_hex());
    auto d = w->finish();
    CHECK(d.bytes == f.size);
    CHECK(node->commit_chunk(v.string(), "slow", "db/k/t", CommitMode::no_replace) ==
          CommitOutcome::placed);
    // And a read whose consumer is slow skips the keepalives too.
    struct SlowSink : ChunkSink {
      std::uint64_t n = 0;
      void begin_file(const FileEntry&) override {}
      void file_data(std::span<const char> d) override
      {
        n += d.size();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      void end_file(const std::string&) override {}
    } sink;
    CHECK(node->read_chunk(v.string(), "db/k/t", sink).bytes == f.size);
    CHECK(sink.n == f.size);
  }
}
