// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// SSH-only behaviour of the agent: a scan over SSH equals the local scan of the same volumes,
// refusals of paths outside the roots, protocol version mismatch, a missing agent command and
// --deploy-agent with the static agent build.
#include "tests/support/chunk_tree.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"
#include "transport/agent_protocol.hpp"
#include "transport/open.hpp"
#include "transport/ssh_session.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

using namespace clsync::transport;
using clsync::test::SshdHarness;
using clsync::test::contains;
namespace fs = std::filesystem;

namespace {

std::string failure(const std::function<void()>& f, FailureKind kind)
{
  try {
    f();
  } catch (const TransportError& e) {
    CHECK_MESSAGE(e.kind() == kind, std::string(e.what()));
    return e.what();
  }
  FAIL("no TransportError");
  return {};
}

/// Two volumes with chunks of two databases, an unmanaged directory, a stray file, a leftover.
std::vector<std::string> make_volumes()
{
  using clsync::test::put_file;
  fs::path v1 = clsync::test::scratch_dir("scan-v1");
  fs::path v2 = clsync::test::scratch_dir("scan-v2");
  for (int d = 1; d <= 3; ++d) {
    for (int k = 1; k <= 4; ++k) {
      std::string key = "Level1/2020060" + std::to_string(d) + "/Key" + std::to_string(k) + "/t";
      fs::path vol = (d + k) % 2 ? v1 : v2;
      put_file(vol / key / "price.col", "price.col", std::string(100 * k + d, 'p'));
      put_file(vol / key / "sym.col", "sym.col", "AAPL" + std::to_string(k), 0600,
               1'600'000'000'000'000'000 + k);
      put_file(vol / key / "sub/idx.bin", "sub/idx.bin", std::string(7, char('0' + d)));
    }
  }
  put_file(v1 / "Level1_TSDB/20200601/Key1/t/a.col", "a.col", "tsdb");
  put_file(v2 / "Other/x/y/data.bin", "data.bin", "unmanaged");
  put_file(v1 / ".clsync-intent-t7", ".clsync-intent-t7", R"({"task":"t7"})");
  return {v1.string(), v2.string()};
}

} // namespace

TEST_SUITE("transport_ssh")
{
  TEST_CASE("a scan over SSH equals the local scan of the same volumes")
  {
    SshdHarness h(1, "ssh-scan");
    auto vols = make_volumes();
    ScanSpec spec;
    spec.databases = {{"Level1", 2}, {"Level1_TSDB", 2}};
    spec.with_files = true;
    spec.with_hashes = true;
    auto local = make_local_node("S1-dn1", vols)->scan(spec);
    auto remote = make_ssh_node(h.target(0, vols, "S1-dn1"))->scan(spec);

    REQUIRE(local.replicas.size() == 13);
    REQUIRE(remote.replicas.size() == local.replicas.size());
    for (std::size_t i = 0; i < local.replicas.size(); ++i) {
      const auto& a = local.replicas[i];
      const auto& b = remote.replicas[i];
      CHECK(a.volume == b.volume);
      CHECK(a.key == b.key);
      CHECK(a.bytes == b.bytes);
      CHECK(a.files == b.files);
      CHECK(a.newest_mtime_ns == b.newest_mtime_ns);
      CHECK(a.fingerprint == b.fingerprint);
      CHECK(a.layout_hash == b.layout_hash);
      CHECK(a.content_hash == b.content_hash);
      CHECK_FALSE(b.content_hash.empty());
      REQUIRE(a.file_list.size() == b.file_list.size());
      for (std::size_t f = 0; f < a.file_list.size(); ++f) {
        CHECK(a.file_list[f].path == b.file_list[f].path);
        CHECK(a.file_list[f].size == b.file_list[f].size);
        CHECK(a.file_list[f].mtime_ns == b.file_list[f].mtime_ns);
        CHECK(a.file_list[f].mode == b.file_list[f].mode);
      }
    }
    REQUIRE(remote.volumes.size() == local.volumes.size());
    for (std::size_t i = 0; i < local.volumes.size(); ++i) {
      CHECK(local.volumes[i].path == remote.volumes[i].path);
      CHECK(local.volumes[i].ok == remote.volumes[i].ok);
      CHECK(local.volumes[i].capacity_bytes == remote.volumes[i].capacity_bytes);
      CHECK(local.volumes[i].filesystem_id == remote.volumes[i].filesystem_id);
    }
    REQUIRE(remote.unmanaged.size() == local.unmanaged.size());
    CHECK_FALSE(remote.unmanaged.empty());
    for (std::size_t i = 0; i < local.unmanaged.size(); ++i) {
      CHECK(local.unmanaged[i].path == remote.unmanaged[i].path);
      CHECK(local.unmanaged[i].bytes == remote.unmanaged[i].bytes);
    }
    REQUIRE(remote.leftovers.size() == 1);
    CHECK(remote.leftovers[0].kind == "intent");
    CHECK(remote.leftovers[0].content == local.leftovers[0].content);
    CHECK(remote.problems == local.problems);
  }

  TEST_CASE("the agent refuses paths outside its roots")
  {
    SshdHarness h(1, "ssh-roots");
    fs::path v = clsync::test::scratch_dir("roots-vol");
    clsync::test::put_file(v / "Level1/20200601/Key1/t/a.col", "a.col", "x");
    fs::create_directories(v / "Level1/20200602");
    fs::create_symlink("/etc", v / "Level1/20200602/Key1");
    auto node = make_ssh_node(h.target(0, {v.string()}, "R1-dn1"));
    struct NullSink : ChunkSink {
      void begin_file(const FileEntry&) override { FAIL("a file was sent"); }
      void file_data(std::span<const char>) override {}
      void end_file(const std::string&) override {}
    } sink;
    struct NullBytes : ByteSink {
      void write(std::span<const char>) override { FAIL("bytes were sent"); }
    } bytes;
    auto m = failure([&] { node->read_chunk("/etc", "ssh", sink); }, FailureKind::refused);
    CHECK(contains(m, "node R1-dn1 (" + h.host(0).address));
    CHECK(contains(m, "/etc"));
    failure([&] { node->read_chunk(v.string(), "../../../etc", sink); }, FailureKind::refused);
    failure([&] { node->read_chunk(v.string(), "/etc/ssh", sink); }, FailureKind::refused);
    failure([&] { node->read_file(v.string(), "../../etc/passwd", 0, bytes); },
            FailureKind::refused);
    failure([&] { node->hash_chunk(v.string(), "Level1/20200602/Key1/ssh"); },
            FailureKind::refused); // through a symlink
    failure([&] { node->remove_file(v.string() + "/..", "x"); }, FailureKind::refused);
    failure([&] { node->write_chunk("/tmp", "t1"); }, FailureKind::refused);
    CHECK_FALSE(fs::exists("/tmp/.clsync-tmp-t1"));
    // Still serving: the refusals did not break the connection.
    CHECK_FALSE(node->fingerprint(v.string(), "Level1/20200601/Key1/t").empty());
  }

  TEST_CASE("the agent refuses a hello with a relative root or a root that is a file")
  {
    SshdHarness h(1, "ssh-hello");
    fs::path file = clsync::test::scratch_dir("hello") / "plain";
    clsync::test::write_file(file, "x");
    for (const std::string& root : {std::string("relative/vol"), file.string()}) {
      auto t = h.target(0, {root}, "H1-dn1");
      auto m = failure([&] { make_ssh_node(t)->read_lease(t.roots.front()); },
                       FailureKind::refused);
      CHECK(contains(m, "agent on node H1-dn1"));
      CHECK(contains(m, root));
    }
  }

  TEST_CASE("an agent of another protocol version gives a clear message")
  {
    SshdHarness h(1, "ssh-version");
    fs::path dir = clsync::test::scratch_dir("fake-agent");
    wire::HelloReply future;
    future.protocol = wire::k_protocol_version + 1;
    future.version = "9.9.9";
    auto payload = wire::to_payload(wire::to_wire(future));
    auto header = wire::encode_header(wire::MsgType::hello_reply, payload.size());
    clsync::test::write_file(dir / "reply.bin", std::string(header.begin(), header.end()) +
                                                    std::string(payload.begin(), payload.end()));
    clsync::test::write_file(dir / "fake-clsync", "#!/bin/sh\ncat '" +
                                                      (dir / "reply.bin").string() +
                                                      "'\nexec cat >/dev/null\n");
    fs::permissions(dir / "fake-clsync", fs::perms::owner_all);
    auto t = h.target(0, {dir.string()}, "P2-dn1");
    t.agent_command = (dir / "fake-clsync").string();
    auto m = failure([&] { make_ssh_node(t)->read_lease(t.roots.front()); }, FailureKind::error);
    CHECK(contains(m, "agent on node P2-dn1 (" + h.host(0).address + ":" +
                          std::to_string(h.host(0).port) + ") speaks protocol " +
                          std::to_string(wire::k_protocol_version + 1)));
    CHECK(contains(m, "this clsync speaks " + std::to_string(wire::k_protocol_version)));
    CHECK(contains(m, "--deploy-agent"));
  }

  TEST_CASE("a missing agent command is named; --deploy-agent uploads the static agent")
  {
    SshdHarness h(1, "ssh-deploy");
    fs::path v = clsync::test::scratch_dir("deploy-vol");
    clsync::test::put_file(v / "Level1/20200601/Key1/t/a.col", "a.col", "deployed");
    auto t = h.target(0, {v.string()}, "D1-dn1");
    t.agent_command = "/opt/nowhere/clsync";
    auto m = failure([&] { make_ssh_node(t)->read_lease(t.roots.front()); }, FailureKind::error);
    CHECK(contains(m, "node D1-dn1"));
    CHECK_MESSAGE(contains(m, "agent command '/opt/nowhere/clsync' not found"), m);
    CHECK(contains(m, "127"));
    CHECK(contains(m, "--deploy-agent"));

#ifndef CLSYNC_AGENT_STATIC
    FAIL("the clsync-agent-static target was not built (libcrypto.a / libzstd.a missing)");
#else
    t.deploy_agent = true;
    t.deploy_agent_binary = CLSYNC_AGENT_STATIC;
    auto node = make_ssh_node(t);
    CHECK_FALSE(node->fingerprint(v.string(), "Level1/20200601/Key1/t").empty());
    fs::path deployed = h.home() / ".cache/clsync" / (std::string("agent-") + CLSYNC_VERSION);
    REQUIRE(fs::exists(deployed));
    CHECK(fs::file_size(deployed) == fs::file_size(CLSYNC_AGENT_STATIC));
    CHECK((fs::status(deployed).permissions() & fs::perms::owner_exec) != fs::perms::none);
    // The deployed agent is statically linked: it needs no C library of the node's.
    std::string out;
    clsync::test::run_command("ldd '" + deployed.string() + "' 2>&1", &out);
    CHECK_MESSAGE(contains(out, "not a dynamic executable"), out);

    // A second node finds the deployed agent and does not upload it again.
    struct stat before {};
    REQUIRE(::stat(deployed.c_str(), &before) == 0);
    auto again = make_ssh_node(t);
    CHECK(again->hash_chunk(v.string(), "Level1/20200601/Key1/t").bytes == 8);
    // The static agent carries the object codec (our own tar: it links no libarchive).
    struct Bytes : ByteSink {
      std::string bytes;
      void write(std::span<const char> d) override { bytes.append(d.data(), d.size()); }
    } object;
    auto packed = again->pack_chunk(v.string(), "Level1/20200601/Key1/t", {}, object);
    CHECK(packed.object_size == object.bytes.size());
    CHECK(packed.digest.content_hash ==
          again->hash_chunk(v.string(), "Level1/20200601/Key1/t").content_hash);
    struct stat after {};
    REQUIRE(::stat(deployed.c_str(), &after) == 0);
    CHECK(before.st_ino == after.st_ino);
    CHECK(before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
#endif
  }
}
