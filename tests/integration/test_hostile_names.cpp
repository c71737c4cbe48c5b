// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Hostile node contents, end to end through the clsync binary: chunk and file names with
// newlines, quotes, ';', '$(…)', a leading '-' and bytes that are not UTF-8, next to a chunk
// holding a FIFO (with no writer: opening it would block forever), a socket, a device node and
// a symlink to /etc/shadow, a chunk directory that is a symlink to /etc and a date directory
// that is a symlink out of the volume. status --json names the odd chunk by its bytes; backup
// → restore and sync-online (local, and from a node behind a real sshd) copy it exactly (names,
// bytes, modes, mtimes, hard links, holes) and refuse the special one with exit 3, naming it;
// nothing outside the volumes is read into a copy, nothing is written outside them.
#include "core/json_names.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

namespace fs = std::filesystem;
using clsync::test::contains;
using nlohmann::json;

namespace {

const std::string k_hostile_key = "db/-rf \n'\";$(touch x)\xff/-t\x80";
/// The chunk with special files; its name would end a line and clear the screen if printed raw.
const std::string k_hostile_special = "db/20200601/spe\ncial\x1b[2J";
/// How messages show it (cli::terminal_safe).
const std::string k_hostile_special_shown = "db/20200601/spe\\ncial\\x1b[2J";
const std::vector<std::string> k_hostile_files = {"-f\nx.col", "a;b'\"c", "\xff\xfe", "$(touch y)",
                                                  "-d/e/sparse", " lead and trail "};

/// `s` as one shell word.
std::string hostile_sh(const std::string& s)
{
  std::string out = "'";
  for (char c : s) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

/// Runs `clsync <args>` under `timeout 120` (a blocked FIFO read must fail, not hang the
/// suite); stdout into `out`, stderr into `err`. Returns the exit code.
int hostile_clsync(const std::string& args, std::string& out, std::string& err, const fs::path& dir)
{
  const fs::path err_file = dir / "stderr.txt";
  out.clear();
  const int code = clsync::test::run_command("timeout 120 " CLSYNC_BINARY " " + args + " 2>" +
                                                 hostile_sh(err_file.string()),
                                             &out);
  err = clsync::test::read_file(err_file);
  return code;
}

/// Every line of `err` is one message of clsync's (a name never starts a line of its own), and
/// no escape sequence reaches the terminal.
void hostile_check_lines(const std::string& err)
{
  std::size_t start = 0;
  while (start < err.size()) {
    const std::size_t end = err.find('\n', start);
    const std::string line = err.substr(start, end == std::string::npos ? std::string::npos : end - start);
    CHECK_MESSAGE(line.rfind("clsync: ", 0) == 0, line);
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  CHECK(err.find('\x1b') == std::string::npos);
}

/// A sync-online --json document: one chunk copied, the special one failed by name.
void hostile_check_synced(const std::string& out, const std::string& err)
{
  hostile_check_lines(err);
  const json doc = json::parse(out);
  CHECK(doc["copied"] == 1);
  CHECK(doc["failed"] == 1);
  CHECK(doc["exit_code"] == 3);
  CHECK_MESSAGE(contains(doc["errors"].dump(), "db/20200601/spe"), out);
}

/// Every entry under `root` as "path mode uid gid mtime size blocks links content", sorted: two
/// equal listings are identical trees (holes and hard links included).
std::string hostile_tree(const fs::path& root)
{
  std::vector<std::string> lines;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    struct stat st {};
    REQUIRE(::lstat(it->path().c_str(), &st) == 0);
    std::string line = it->path().lexically_relative(root).string() + ' ' + std::to_string(st.st_mode) +
                       ' ' + std::to_string(st.st_uid) + ' ' + std::to_string(st.st_gid) + ' ' +
                       std::to_string(st.st_mtim.tv_sec) + '.' +
                       std::to_string(st.st_mtim.tv_nsec);
    if (S_ISREG(st.st_mode)) {
      line += ' ' + std::to_string(st.st_size) + ' ' +
              (st.st_blocks * 512 < st.st_size ? "holey" : "dense") +
              ' ' + std::to_string(st.st_nlink) + ' ' + clsync::test::read_file(it->path());
    }
    lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) {
    out += l + '\n';
  }
  return out;
}

/// The odd chunk (hard link, hole, empty directories, modes, mtimes) under `volume`.
void hostile_make_odd_chunk(const fs::path& volume)
{
  const fs::path c = volume / k_hostile_key;
  fs::create_directories(c / "-d/e");
  fs::create_directories(c / "\n");
  int i = 0;
  for (const auto& f : k_hostile_files) {
    if (f != "-d/e/sparse") {
      clsync::test::write_file(c / f, "content " + std::to_string(++i) + f);
    }
  }
  fs::create_hard_link(c / "a;b'\"c", c / "-hard");
  {
    std::ofstream sparse(c / "-d/e/sparse", std::ios::binary);
    sparse.seekp(1 << 20);
    sparse << 'x';
  }
  fs::permissions(c / "\xff\xfe", fs::perms(0600));
  fs::permissions(c / "\n", fs::perms(0750));
  // mtimes last (setting one changes no directory's mtime).
  const timespec t[2] = {{0, UTIME_OMIT}, {1'500'000'000, 123456789}};
  for (auto it = fs::recursive_directory_iterator(c); it != fs::recursive_directory_iterator();
       ++it) {
    ::utimensat(AT_FDCWD, it->path().c_str(), t, AT_SYMLINK_NOFOLLOW);
  }
  ::utimensat(AT_FDCWD, c.c_str(), t, AT_SYMLINK_NOFOLLOW);
}

/// A chunk holding a FIFO, a socket, /dev/null's device and a symlink to /etc/shadow; a chunk
/// directory that is a symlink to /etc; a date directory that is a symlink out of the volume.
void hostile_make_special_chunks(const fs::path& volume, const fs::path& outside)
{
  const fs::path s = volume / k_hostile_special;
  clsync::test::write_file(s / "a.col", "ok");
  REQUIRE(::mkfifo((s / "fifo").c_str(), 0644) == 0);
  REQUIRE(::mknod((s / "null").c_str(), S_IFCHR | 0644, makedev(1, 3)) == 0);
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(sock >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string sock_path = (s / "sock").string();
  REQUIRE(sock_path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
  REQUIRE(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(sock);
  fs::create_symlink("/etc/shadow", s / "shadow");
  fs::create_directories(volume / "db/20200602");
  fs::create_directory_symlink("/etc", volume / "db/20200602/tbl");
  clsync::test::write_file(outside / "tbl/z.col", "outside");
  fs::create_directory_symlink(outside, volume / "db/20200603");
}

/// A topology of local nodes, each with one volume, replication 1, database db by date.
std::string hostile_topology(const std::string& cluster,
                             const std::vector<std::pair<std::string, fs::path>>& nodes)
{
  std::string y = "cluster: " + cluster + "\nreplication: 1\nnodes:\n";
  for (const auto& [name, vol] : nodes) {
    y += "  - name: " + name + "\n    host: local\n    volumes: [\"" + vol.string() + "\"]\n";
  }
  return y + "databases:\n  db:\n    levels: [date]\n";
}

} // namespace

TEST_SUITE("hostile")
{
  TEST_CASE("odd names round-trip exactly through status, backup, restore and sync-online")
  {
    const fs::path dir = clsync::test::scratch_dir("hostile-names");
    for (const char* v : {"a1", "a2", "b1", "c1", "outside"}) {
      fs::create_directories(dir / v);
    }
    hostile_make_odd_chunk(dir / "a1");
    hostile_make_special_chunks(dir / "a2", dir / "outside");
    const std::string odd_before = hostile_tree(dir / "a1" / k_hostile_key);
    const std::string special_before = hostile_tree(dir / "a2");
    const std::string outside_before = hostile_tree(dir / "outside");
    const fs::path a = dir / "a.yaml", b = dir / "b.yaml", c = dir / "c.yaml";
    clsync::test::write_file(a, hostile_topology("a", {{"A1", dir / "a1"}, {"A2", dir / "a2"}}));
    clsync::test::write_file(b, hostile_topology("b", {{"B1", dir / "b1"}}));
    clsync::test::write_file(c, hostile_topology("c", {{"C1", dir / "c1"}}));
    const std::string state = " --state-dir " + hostile_sh((dir / "state").string()) + " ";
    std::string out, err;

    // status: the odd chunk by its exact bytes, the special one reported, the symlinks named.
    REQUIRE(hostile_clsync("-c " + hostile_sh(a.string()) + state + "--json status --chunks", out,
                           err, dir) == 0);
    const json st = json::parse(out);
    bool odd_seen = false;
    for (const auto& ch : st["chunks"]) {
      odd_seen = odd_seen || clsync::core::get_name(ch, "key") == k_hostile_key;
    }
    CHECK_MESSAGE(odd_seen, out.substr(0, 400));
    const std::string problems = st["problems"].dump();
    CHECK_MESSAGE(contains(problems, "db/20200601/spe"), problems);
    CHECK_MESSAGE(contains(problems, "db/20200602/tbl"), problems);
    CHECK_MESSAGE(contains(problems, "db/20200603"), problems);

    // backup → restore: exact; the special chunk skipped by name (exit 3: partly done).
    const std::string repo = hostile_sh((dir / "repo").string());
    CHECK(hostile_clsync("-c " + hostile_sh(a.string()) + state + "--json backup --to " + repo, out,
                         err, dir) == 3);
    CHECK_MESSAGE(contains(err, k_hostile_special_shown), err);
    hostile_check_lines(err);
    REQUIRE(hostile_clsync("-c " + hostile_sh(b.string()) + state + "--json restore --from " + repo,
                           out, err, dir) == 0);
    CHECK(hostile_tree(dir / "b1" / k_hostile_key) == odd_before);

    // sync-online: the same.
    CHECK(hostile_clsync(state + "--json sync-online --from " + hostile_sh(a.string()) + " --to " +
                             hostile_sh(c.string()),
                         out, err, dir) == 3);
    hostile_check_synced(out, err);
    CHECK(hostile_tree(dir / "c1" / k_hostile_key) == odd_before);

    // The sources and what their symlinks point at are untouched; nothing of /etc was copied.
    CHECK(hostile_tree(dir / "a1" / k_hostile_key) == odd_before);
    CHECK(hostile_tree(dir / "a2") == special_before);
    CHECK(hostile_tree(dir / "outside") == outside_before);
    for (const char* v : {"b1", "c1"}) {
      CHECK_FALSE(fs::exists(dir / v / "db/20200601"));
      CHECK_FALSE(fs::exists(dir / v / "db/20200602"));
      CHECK_FALSE(fs::exists(dir / v / "db/20200603"));
    }
    CHECK_FALSE(fs::exists(dir / "x"));
    CHECK_FALSE(fs::exists(dir / "y"));
  }

  TEST_CASE("odd names and special files on a node behind sshd: sync-online copies exactly")
  {
    clsync::test::SshdHarness h(1, "hostile-names-ssh");
    const fs::path dir = clsync::test::scratch_dir("hostile-names-ssh");
    for (const char* v : {"a1", "c1", "outside"}) {
      fs::create_directories(dir / v);
    }
    hostile_make_odd_chunk(dir / "a1");
    hostile_make_special_chunks(dir / "a1", dir / "outside");
    const std::string before = hostile_tree(dir / "a1");
    const fs::path a = dir / "a.yaml", c = dir / "c.yaml";
    clsync::test::write_file(
        a, "cluster: a\nreplication: 1\nssh:\n  user: root\n  identity: " +
               h.client_key().string() + "\n  known_hosts: " + h.known_hosts().string() +
               "\n  agent_command: " CLSYNC_BINARY "\n  connect_timeout: 5\n  io_timeout: 30\n"
               "nodes:\n  - name: S1\n    host: " + h.host(0).address + "\n    port: " +
               std::to_string(h.host(0).port) + "\n    volumes: [\"" + (dir / "a1").string() +
               "\"]\ndatabases:\n  db:\n    levels: [date]\n");
    clsync::test::write_file(c, hostile_topology("c", {{"C1", dir / "c1"}}));
    std::string out, err;
    CHECK(hostile_clsync("--state-dir " + hostile_sh((dir / "state").string()) +
                             " --json sync-online --from " + hostile_sh(a.string()) + " --to " +
                             hostile_sh(c.string()),
                         out, err, dir) == 3);
    hostile_check_synced(out, err);
    // Only the odd chunk arrived, exactly.
    CHECK(hostile_tree(dir / "c1" / k_hostile_key) == hostile_tree(dir / "a1" / k_hostile_key));
    CHECK_FALSE(fs::exists(dir / "c1/db/20200601"));
    CHECK_FALSE(fs::exists(dir / "c1/db/20200602"));
    CHECK_FALSE(fs::exists(dir / "c1/db/20200603"));
    CHECK(hostile_tree(dir / "a1") == before);
  }
}
