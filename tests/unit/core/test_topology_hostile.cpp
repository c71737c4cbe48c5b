// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Hostile topology files: alias bombs, deep nesting, huge files, shell metacharacters and a
// leading '-' where ssh or a shell could read them as options, numbers that overflow. Each must
// end in a TopologyError "FILE:LINE:COL: …" (exit 2), within bounded memory and CPU: the
// parses that could explode run in a child process under rlimits, so an explosion fails the
// test instead of taking the machine down.
#include "core/cluster/topology.hpp"
#include "core/cluster/topology_yaml.hpp"
#include "core/error.hpp"
#include "tests/support/sanitizer_build.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/topology_errors.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using clsync::core::parse_topology;
using clsync::test::topology_error_of;

namespace {

/// The message parse_topology gives for `yaml` ("(loaded)" when it loads), computed in a child
/// process limited to `mib` MiB of address space (not under ASan or TSan, which reserve
/// terabytes) and 20 s of CPU. A child that dies (out of memory, CPU limit, a crash) yields "(died: …)".
std::string hostile_bounded_parse(const std::string& yaml, long mib = 512)
{
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    if (!clsync::test::k_sanitizer_reserves_address_space) {
      const rlimit as{static_cast<rlim_t>(mib) << 20, static_cast<rlim_t>(mib) << 20};
      ::setrlimit(RLIMIT_AS, &as);
    }
    const rlimit cpu{20, 20};
    ::setrlimit(RLIMIT_CPU, &cpu);
    const std::string msg = topology_error_of(yaml);
    const char* p = msg.data();
    std::size_t left = msg.size();
    while (left > 0) {
      const ssize_t n = ::write(fds[1], p, left);
      if (n <= 0) {
        break;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    return "(died: signal " + std::to_string(WTERMSIG(status)) + ")";
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return "(died: exit " + std::to_string(WEXITSTATUS(status)) + ")";
  }
  return out;
}


/// True when `msg` starts "t.yaml:LINE:COL: " and contains `fragment`.
bool hostile_names_place(const std::string& msg, const std::string& fragment)
{
  std::size_t line = 0, col = 0;
  return msg.rfind("t.yaml:", 0) == 0 &&
         std::sscanf(msg.c_str() + 7, "%zu:%zu: ", &line, &col) == 2 && line >= 1 && col >= 1 &&
         msg.find(fragment) != std::string::npos;
}

const std::string k_hostile_head = "cluster: c\nreplication: 1\nnodes:\n"
                                   "  - name: P1\n    host: h\n    volumes: [/a]\n";

} // namespace

TEST_SUITE("core::topology_hostile")
{
  TEST_CASE("an alias bomb is refused in bounded memory, its aliases never expanded")
  {
    // Billion laughs: 9 levels of 9 aliases each, 387 million scalars if expanded.
    std::string bomb = "x0: &x0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n";
    for (int i = 1; i <= 9; ++i) {
      const std::string prev = "*x" + std::to_string(i - 1);
      bomb += "x" + std::to_string(i) + ": &x" + std::to_string(i) + " [" + prev;
      for (int k = 1; k < 9; ++k) {
        bomb += "," + prev;
      }
      bomb += "]\n";
    }
    std::string msg = hostile_bounded_parse(bomb + k_hostile_head, 256);
    CHECK_MESSAGE(hostile_names_place(msg, "unknown key 'x0'"), msg);
    // The whole bomb as one list of levels.
    std::string nested = "databases:\n  L:\n    levels: [";
    for (int i = 0; i <= 9; ++i) {
      const std::size_t from = bomb.find("&x" + std::to_string(i));
      nested += (i ? ", " : "") + bomb.substr(from, bomb.find('\n', from) - from);
    }
    msg = hostile_bounded_parse(k_hostile_head + nested + "]\n", 256);
    CHECK_MESSAGE(hostile_names_place(msg, "levels: expected a list of level names, got a list"),
                  msg);
    // Aliases as nodes and volumes: duplicates, named.
    msg = hostile_bounded_parse("cluster: c\nreplication: 1\nnodes:\n  - &n {name: P1, host: h, "
                                "volumes: [/a]}\n  - *n\n  - *n\n",
                                256);
    CHECK_MESSAGE(hostile_names_place(msg, "duplicate node name 'P1'"), msg);
  }

  TEST_CASE("deep flow nesting is refused at the first level too deep, before yaml-cpp sees it")
  {
    const std::string deep(200000, '[');
    std::string msg = hostile_bounded_parse("cluster: c\nx: " + deep, 256);
    CHECK_MESSAGE(hostile_names_place(msg, "nested more than 32 deep"), msg);
    CHECK_MESSAGE(msg.rfind("t.yaml:2:", 0) == 0, msg);
    std::string maps;
    for (int i = 0; i < 50000; ++i) {
      maps += "{a: ";
    }
    msg = hostile_bounded_parse(maps, 256);
    CHECK_MESSAGE(hostile_names_place(msg, "nested more than 32 deep"), msg);
    // Brackets inside quotes, comments and plain scalars are text, not nesting.
    const std::string text(100, '[');
    CHECK(topology_error_of("cluster: c\nreplication: 1\n# " + text + "\nnodes:\n"
                                 "  - name: P1\n    host: h\n    zone: 'z" + text + "'\n"
                                 "    user: \"a\\\"" + text + "\"\n    volumes: [/a]\n")
              .find("is not a login name") != std::string::npos); // the user, not the nesting
    const std::string ok = topology_error_of(
        "cluster: c\nreplication: 1\n# " + text + "\nnodes:\n  - name: P1\n    host: h\n"
        "    zone: 'it''s " + text + "'\n    identity: \"/k" + text + "\"\n"
        "    known_hosts: /h" + text + "\n    volumes: [/a]\n");
    CHECK_MESSAGE(ok == "(loaded)", ok);
  }

  TEST_CASE("deep block nesting is refused with its place")
  {
    std::string stair;
    for (int i = 0; i < 700; ++i) {
      stair += std::string(static_cast<std::size_t>(i), ' ') + "a:\n";
    }
    // 512 MiB of address space: the forked test process brings its own mappings, and the
    // 500 levels yaml-cpp recurses before it stops need their stack to grow within the limit.
    const std::string msg = hostile_bounded_parse(stair, 512);
    CHECK_MESSAGE(hostile_names_place(msg, "levels deep"), msg);
  }

  TEST_CASE("a flood of values is refused by count, in bounded memory")
  {
    std::string flood = k_hostile_head + "    zone: [";
    while (flood.size() < 900000) {
      flood += "1,";
    }
    flood += "1]\n";
    const std::string msg = hostile_bounded_parse(flood, 128);
    CHECK_MESSAGE(hostile_names_place(msg, "more than 100000 YAML values"), msg);
  }

  TEST_CASE("a file over 1 MiB is refused unparsed, however large")
  {
    const auto dir = clsync::test::scratch_dir("topology-huge");
    const auto just_over = dir / "over.yaml";
    std::string text = k_hostile_head + "# ";
    text.resize(clsync::core::yaml::k_max_topology_bytes + 1, 'x');
    clsync::test::write_file(just_over, text);
    CHECK_THROWS_WITH_AS(clsync::core::load_topology(just_over),
                         doctest::Contains("larger than 1 MiB"), clsync::TopologyError);
    // 50 MB: read no further than the limit.
    const auto huge = dir / "huge.yaml";
    std::FILE* f = std::fopen(huge.c_str(), "w");
    REQUIRE(f);
    REQUIRE(::ftruncate(::fileno(f), 50'000'000) == 0);
    std::fclose(f);
    const std::string huge_says = huge.string() + ": cannot read: larger than 1 MiB";
    CHECK_THROWS_WITH_AS(clsync::core::load_topology(huge), doctest::Contains(huge_says.c_str()),
                         clsync::TopologyError);
  }

  TEST_CASE("a host or user that ssh or a shell would read as something else is refused")
  {
    const std::string node = "cluster: c\nreplication: 1\nnodes:\n  - name: P1\n";
    for (const std::string host :
         {"-oProxyCommand=touch /tmp/pwned", "-p", "a;b", "$(id)", "a`id`", "a|b", "a&b",
          "a>b", "'a'", "a\\\\b", "a/b", "a*"}) {
      CAPTURE(host);
      const std::string msg = topology_error_of(node + "    host: \"" + host +
                                                     "\"\n    volumes: [/a]\n");
      CHECK_MESSAGE(hostile_names_place(msg, "host: '"), msg);
    }
    for (const std::string user :
         {"-oProxyCommand=x", "-l", "a;b", "$(id)", "a b", "a`b`", "root@h", "a\\tb"}) {
      CAPTURE(user);
      const std::string msg = topology_error_of(k_hostile_head + "    user: \"" + user +
                                                     "\"\n");
      CHECK_MESSAGE(hostile_names_place(msg, "is not a login name"), msg);
    }
  }

  TEST_CASE("paths and the agent command are kept as literal bytes, never interpreted")
  {
    // No shell ever sees these on this side; the ssh side quotes the agent command (the
    // integration suite 'hostile' proves it on a real sshd).
    const auto t = parse_topology(
        "cluster: c\nreplication: 1\nssh:\n  agent_command: \"/opt/x; touch /tmp/pwned $(id)\"\n"
        "  identity: \"/k/$(id)`x`\"\nnodes:\n  - name: P1\n    host: h\n"
        "    volumes: [\"/data/$(rm -rf ~);x\", \"/data/-rf\"]\n",
        "t.yaml");
    CHECK(t.ssh.agent_command == "/opt/x; touch /tmp/pwned $(id)");
    CHECK(t.nodes[0].ssh.identity == "/k/$(id)`x`");
    CHECK(t.nodes[0].volumes[0] == "/data/$(rm -rf ~);x");
    CHECK(t.nodes[0].volumes[1] == "/data/-rf");
  }

  TEST_CASE("numbers that overflow are refused, never wrapped")
  {
    const std::string node = "cluster: c\nreplication: 1\nnodes:\n"
                             "  - name: P1\n    host: h\n    volumes: [/a]\n";
    struct Case {
      std::string yaml;
      const char* says;
    };
    const std::vector<Case> cases = {
        {node + "    port: 99999999999999999999\n", "port:"},
        {node + "    port: 18446744073709551638\n", "port:"},
        {node + "    port: 4294967318\n", "port:"},
        {node + "    port: -18446744073709551594\n", "port:"},
        {node + "    port: 0x16\n", "port:"},
        {node + "    port: 2.2e1\n", "port:"},
        {"cluster: c\nreplication: 9223372036854775808\nnodes:\n  - {name: P1, host: h, "
         "volumes: [/a]}\n",
         "replication:"},
        {"cluster: c\nreplication: 4294967297\nnodes:\n  - {name: P1, host: h, volumes: [/a]}\n",
         "replication:"},
        {"cluster: c\nreplication: -1\nnodes:\n  - {name: P1, host: h, volumes: [/a]}\n",
         "replication:"},
        {node + "databases:\n  L:\n    levels: []\n    replication: 18446744073709551617\n",
         "replication:"},
        {node + "    weight: 1e400\n", "weight:"},
        {node + "    weight: .inf\n", "weight:"},
        {node + "    weight: nan\n", "weight:"},
        {node + "    weight: -1e400\n", "weight:"},
        {node + "    io_timeout: 99999999999999999999d\n", "io_timeout:"},
        {node + "    io_timeout: 106751991167301d\n", "io_timeout:"},
        {node + "    connect_timeout: 9223372036854775807\n", "connect_timeout:"},
        {node + "    connect_timeout: -1\n", "connect_timeout:"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.yaml);
      const std::string msg = topology_error_of(c.yaml);
      CHECK_MESSAGE(hostile_names_place(msg, c.says), msg);
    }
  }
}

TEST_SUITE("core::topology_hostile")
{
  TEST_CASE("a FIFO or a device as the topology file fails, never blocks or reads forever")
  {
    const auto dir = clsync::test::scratch_dir("topology-fifo");
    const auto fifo = dir / "topology.yaml";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    for (const std::string& file : {fifo.string(), std::string("/dev/zero"), std::string("/dev/urandom")}) {
      CAPTURE(file);
      // In a child with an alarm: a blocked open or an endless read is a SIGALRM, a failure.
      const pid_t pid = ::fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        ::alarm(20);
        try {
          clsync::core::load_topology(file);
        } catch (const clsync::TopologyError& e) {
          const std::string m = e.what();
          ::_exit(m.rfind(file, 0) == 0 ? 0 : 3);
        } catch (...) {
          ::_exit(4);
        }
        ::_exit(5);
      }
      int status = 0;
      ::waitpid(pid, &status, 0);
      CHECK_MESSAGE(WIFEXITED(status), "killed by signal " << WTERMSIG(status));
      CHECK(WEXITSTATUS(status) == 0);
    }
  }
}
