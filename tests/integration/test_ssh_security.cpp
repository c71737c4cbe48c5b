// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Host keys, authentication and connection failures against real sshd servers (SPEC §6).
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "transport/ssh_session.hpp"

#include <doctest/doctest.h>

#include <fstream>

using namespace clsync::transport;
using clsync::test::SshdHarness;
using clsync::test::contains;
namespace fs = std::filesystem;

namespace {

/// Connects and expects a TransportError of `kind`; returns its message.
std::string connect_error(const SshTarget& t, FailureKind kind)
{
  try {
    SshSession::connect(t);
  } catch (const TransportError& e) {
    CHECK_MESSAGE(e.kind() == kind, std::string(e.what()));
    return e.what();
  }
  FAIL("connected although it should not have");
  return {};
}

/// Runs `command` on the node and returns its stdout.
std::string run_remote(const std::shared_ptr<SshSession>& s, const std::string& command)
{
  SshExecChannel ch(s, command);
  ch.send_eof();
  std::string out;
  char buf[4096];
  while (std::size_t n = ch.read_some(buf, sizeof buf)) {
    out.append(buf, n);
  }
  CHECK(ch.exit_status() == 0);
  return out;
}

} // namespace

TEST_SUITE("ssh_security")
{
  TEST_CASE("a known host key lets a session run commands")
  {
    SshdHarness h(1, "ssh-known");
    auto t = h.target(0, {}, "P1-dn1");
    auto s = SshSession::connect(t);
    CHECK(contains(s->fingerprint(), "SHA256:"));
    CHECK(run_remote(s, "echo hello; id -u") == "hello\n0\n");
  }

  TEST_CASE("strict policy refuses an unknown host key, naming node, host and fingerprint")
  {
    SshdHarness h(1, "ssh-strict");
    auto t = h.target(0, {}, "P2-dn1");
    t.known_hosts = (h.dir() / "empty_known_hosts").string();
    clsync::test::write_file(t.known_hosts, "");
    std::string m = connect_error(t, FailureKind::host_key);
    CHECK(contains(m, "node P2-dn1 (" + h.host(0).address + ":" + std::to_string(h.host(0).port)));
    CHECK(contains(m, "unknown host key"));
    CHECK(contains(m, "SHA256:"));
    CHECK(contains(m, "accept-new"));
    CHECK(clsync::test::read_file(t.known_hosts).empty()); // nothing recorded
  }

  TEST_CASE("accept-new records an unknown key, and strict accepts it afterwards")
  {
    SshdHarness h(1, "ssh-accept-new");
    auto t = h.target(0, {}, "P3-dn1");
    t.known_hosts = (h.dir() / "sub" / "known_hosts").string(); // directory made too
    t.accept_new = true;
    auto s = SshSession::connect(t);
    std::string recorded = clsync::test::read_file(t.known_hosts);
    CHECK(contains(recorded, "[" + h.host(0).address + "]:" + std::to_string(h.host(0).port)));
    // The recorded key is the server's: the same key the harness wrote for it.
    std::string line = h.known_hosts_line(0);
    CHECK(contains(recorded, line.substr(line.find(' ') + 1)));
    t.accept_new = false;
    CHECK_NOTHROW(SshSession::connect(t));
  }

  TEST_CASE("a changed host key is refused under both policies, naming node and line")
  {
    SshdHarness h(2, "ssh-changed");
    h.regenerate_host_key(1); // host 1 was "reinstalled"; known_hosts line 2 is stale
    for (bool accept_new : {false, true}) {
      auto t = h.target(1, {}, "P4-dn2");
      t.accept_new = accept_new;
      std::string m = connect_error(t, FailureKind::host_key);
      CHECK(contains(m, "node P4-dn2 (" + h.host(1).address + ":"));
      CHECK(contains(m, "host key mismatch"));
      CHECK(contains(m, "SHA256:"));
      CHECK(contains(m, "known_hosts " + h.known_hosts().string() + " line 2"));
    }
    // The file still holds the old key: accept-new never overwrites a changed one.
    CHECK(clsync::test::read_file(h.known_hosts()).find(h.known_hosts_line(1)) ==
          std::string::npos);
  }

  TEST_CASE("a key nobody authorized fails authentication and says what was tried")
  {
    SshdHarness h(1, "ssh-auth");
    auto t = h.target(0, {}, "P5-dn1");
    t.identity = (h.dir() / "stranger_ed25519").string();
    REQUIRE(clsync::test::run_command("ssh-keygen -q -t ed25519 -N '' -f " + t.identity) == 0);
    std::string m = connect_error(t, FailureKind::auth);
    CHECK(contains(m, "node P5-dn1"));
    CHECK(contains(m, "authentication failed (tried identity " + t.identity));
    CHECK(contains(m, "default keys)"));
  }

  TEST_CASE("a passphrase-protected identity is never prompted for")
  {
    SshdHarness h(1, "ssh-passphrase");
    auto t = h.target(0, {}, "P6-dn1");
    t.identity = (h.dir() / "locked_ed25519").string();
    REQUIRE(clsync::test::run_command("ssh-keygen -q -t ed25519 -N secret -f " + t.identity) == 0);
    std::string m = connect_error(t, FailureKind::auth);
    CHECK(contains(m, "passphrase"));
  }

  TEST_CASE("a stopped server is a refused connection naming node and host")
  {
    SshdHarness h(1, "ssh-refused");
    auto t = h.target(0, {}, "P7-dn1");
    h.stop(0);
    std::string m = connect_error(t, FailureKind::error);
    CHECK_MESSAGE(contains(m, "node P7-dn1 (" + h.host(0).address + ":" +
                                  std::to_string(h.host(0).port) + "): connection refused"),
                  m);
  }

  TEST_CASE("a host that stops answering mid-authentication times out; it is not refused")
  {
    // A frozen host caught between key exchange and the server's answer to our key: libssh's
    // blocking userauth gives up at the connect timeout, and taking that for the server's "no"
    // reported "authentication failed" (wrong kind, wrong advice) for a host that never
    // answered (integration.inventory_many saw it when the freeze caught a login mid-way).
    SshdHarness h(1, "ssh-auth-stall");
    auto t = h.target(0, {}, "P5-dn1");
    t.known_hosts = (h.dir() / "stall_known_hosts").string();
    t.accept_new = true;
    t.connect_timeout_s = 1;
    std::uint64_t whole = 0;
    {
      clsync::test::TcpProxy probe("127.0.0.62", h.host(0).address, h.host(0).port, {});
      t.host = probe.address();
      t.port = probe.port();
      SshSession::connect(t);
      whole = probe.bytes(); // the key exchange and the login, both ways
    }
    REQUIRE(whole > 2048);
    // Stall the link at points through the last 2 KiB of the login: some fall inside
    // authentication. None may read as a refusal.
    int timed_out_in_auth = 0;
    for (std::uint64_t at = whole - 2048; at < whole; at += 128) {
      clsync::test::ProxyBehaviour b;
      b.stall_after = at;
      clsync::test::TcpProxy proxy("127.0.0.62", h.host(0).address, h.host(0).port, b);
      t.port = proxy.port();
      try {
        SshSession::connect(t);
      } catch (const TransportError& e) {
        const std::string m = e.what();
        INFO("stalled after " << at << " of " << whole << " bytes: " << m);
        CHECK(e.kind() != FailureKind::auth);
        CHECK(!contains(m, "authentication failed"));
        timed_out_in_auth += contains(m, "authentication timed out") ? 1 : 0;
      }
    }
    CHECK(timed_out_in_auth > 0);
  }
}
