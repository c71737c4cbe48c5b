// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Hostile input that reaches a real sshd: an agent_command with shell metacharacters (sshd runs
// an exec request through the user's login shell, so clsync must quote it as one program
// path), and hostile agents behind the exec channel, through the library and through the
// clsync binary (documented exit codes, the node named).
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"
#include "transport/agent_protocol.hpp"
#include "transport/open.hpp"

#include <doctest/doctest.h>

#include <filesystem>

using namespace clsync::transport;
using clsync::test::contains;
namespace fs = std::filesystem;

namespace {

/// The message of the TransportError `f` throws, or "(no error)".
std::string hostile_ssh_failure(const std::function<void()>& f)
{
  try {
    f();
  } catch (const TransportError& e) {
    return e.what();
  }
  return "(no error)";
}

/// A fake agent at `path` that prints `text` and then reads its input forever.
void hostile_ssh_script(const fs::path& path, const std::string& text)
{
  clsync::test::write_file(path, "#!/bin/sh\nprintf '%s' '" + text + "'\nexec cat >/dev/null\n");
  fs::permissions(path, fs::perms::owner_all);
}

/// Runs the clsync binary with `args` (a shell command line); returns its exit code and
/// stdout + stderr in `out`.
int hostile_run_clsync(const std::string& args, std::string& out)
{
  return clsync::test::run_command(std::string(CLSYNC_BINARY) + " " + args + " 2>&1", &out);
}

} // namespace

TEST_SUITE("hostile")
{
  TEST_CASE("an agent_command reaches the node's shell as one program path, never as shell code")
  {
    clsync::test::SshdHarness h(1, "hostile-command");
    const fs::path dir = clsync::test::scratch_dir("hostile-command");
    const fs::path vol = dir / "vol";
    fs::create_directories(vol / "Level1/d/t");
    clsync::test::write_file(vol / "Level1/d/t/a.col", "abc");
    const std::string pwned = (dir / "pwned").string();
    for (const std::string& command :
         {(dir / "nope").string() + "; touch " + pwned, (dir / "nope").string() + " && touch " + pwned,
          "$(touch " + pwned + ")", "`touch " + pwned + "`", (dir / "nope").string() + " | touch " + pwned,
          (dir / "nope").string() + "\ntouch " + pwned, "-c 'touch " + pwned + "'"}) {
      CAPTURE(command);
      auto t = h.target(0, {vol.string()}, "Q1-dn1");
      t.agent_command = command;
      const std::string m = hostile_ssh_failure([&] { make_ssh_node(t)->read_lease(vol.string()); });
      CHECK_MESSAGE(contains(m, "node Q1-dn1"), m);
      CHECK_MESSAGE(contains(m, "not found"), m);
      CHECK_FALSE(fs::exists(pwned));
      CHECK_FALSE(fs::exists(h.home() / "agent")); // `touch … agent` would make it
    }
    // A real agent under a path full of shell characters runs.
    const fs::path odd = dir / "odd dir $HOME `x` ;&|<>*?[a] it's \"q\"";
    fs::create_directories(odd);
    fs::create_symlink(CLSYNC_BINARY, odd / "clsync");
    auto t = h.target(0, {vol.string()}, "Q1-dn1");
    t.agent_command = (odd / "clsync").string();
    CHECK_FALSE(make_ssh_node(t)->fingerprint(vol.string(), "Level1/d/t").empty());
    // "~/" still means the login user's home (where --deploy-agent puts the agent).
    fs::create_directories(h.home() / "bin dir");
    fs::create_symlink(CLSYNC_BINARY, h.home() / "bin dir/clsync's");
    t.agent_command = "~/bin dir/clsync's";
    CHECK_FALSE(make_ssh_node(t)->fingerprint(vol.string(), "Level1/d/t").empty());
  }

  TEST_CASE("hostile agents behind sshd: the node named, the documented exit code, nothing hangs")
  {
    clsync::test::SshdHarness h(1, "hostile-remote");
    const fs::path dir = clsync::test::scratch_dir("hostile-remote");
    const fs::path vol = dir / "vol";
    const fs::path local_vol = dir / "local";
    fs::create_directories(vol / "db/20200601/t");
    clsync::test::write_file(vol / "db/20200601/t/a.col", "abc");
    fs::create_directories(local_vol);
    hostile_ssh_script(dir / "greeter", "Welcome to node 7! Last login: never\\n");
    hostile_ssh_script(dir / "silent", "");

    // Through the library: a greeting is a protocol error, silence an I/O timeout.
    auto t = h.target(0, {vol.string()}, "R1-dn1");
    t.agent_command = (dir / "greeter").string();
    std::string m = hostile_ssh_failure([&] { make_ssh_node(t)->read_lease(vol.string()); });
    CHECK_MESSAGE(contains(m, "node R1-dn1"), m);
    CHECK_MESSAGE(contains(m, "agent protocol"), m);
    t.agent_command = (dir / "silent").string();
    t.io_timeout_s = 1;
    try {
      make_ssh_node(t)->read_lease(vol.string());
      FAIL("a silent agent answered");
    } catch (const TransportError& e) {
      CHECK(e.kind() == FailureKind::timeout);
      CHECK_MESSAGE(contains(e.what(), "node R1-dn1"), e.what());
    }

    // Through the binary: status reports the node unreachable (exit 3), a writing command
    // refuses (exit 1); each names the node.
    for (const char* agent : {"greeter", "silent"}) {
      CAPTURE(agent);
      const fs::path topo = dir / (std::string(agent) + ".yaml");
      clsync::test::write_file(
          topo, "cluster: c\nreplication: 1\nssh:\n  user: root\n  identity: " +
                    h.client_key().string() + "\n  known_hosts: " + h.known_hosts().string() +
                    "\n  agent_command: " + (dir / agent).string() +
                    "\n  connect_timeout: 5\n  io_timeout: 2\nnodes:\n"
                    "  - name: R1-dn1\n    host: " + h.host(0).address + "\n    port: " +
                    std::to_string(h.host(0).port) + "\n    volumes: [" + vol.string() + "]\n"
                    "  - name: L1\n    host: local\n    volumes: [" + local_vol.string() + "]\n"
                    "databases:\n  db:\n    levels: [date]\n");
      std::string out;
      CHECK_MESSAGE(hostile_run_clsync("status -c '" + topo.string() + "'", out) == 3, out);
      CHECK_MESSAGE(contains(out, "R1-dn1"), out);
      out.clear();
      CHECK_MESSAGE(hostile_run_clsync("rebalance-nodes -c '" + topo.string() + "'", out) == 1, out);
      CHECK_MESSAGE(contains(out, "R1-dn1"), out);
    }
    CHECK(fs::is_empty(local_vol));
    CHECK(clsync::test::read_file(vol / "db/20200601/t/a.col") == "abc");
  }
}
