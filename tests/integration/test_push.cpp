// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// `clsync push` (suite `push`): the real binary between a local repository and one behind a
// real sshd on 127.0.0.x, both directions; a push killed mid-object resumes; tampered and
// missing objects hold back their snapshots (exit 3).
#include "core/repo/repository.hpp"
#include "core/repo/snapshot.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"
#include "transport/sha256.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core::repo;

namespace {

/// A source repository built with the Repository API; objects are `tar --zstd` of small chunk
/// directories (what a backup would write), each named by a snapshot.
struct SourceRepo {
  fs::path dir;
  std::vector<std::string> objects;    ///< content hashes, in creation order
  std::vector<std::string> snapshots;  ///< ids, in creation order

  explicit SourceRepo(const std::string& name) : dir(test::scratch_dir(name) / "src")
  {
    (void)Repository::open(parse_repo_location(dir.string()), RepoConnect{}, true);
  }

  fs::path object_file(const std::string& hash) const { return dir / Repository::object_path(hash); }

  /// A chunk of `bytes` random bytes (incompressible: the object is about as large) packed with
  /// GNU tar; returns its content hash. `seed` makes each chunk's content its own.
  std::string add_object(std::uint64_t bytes, int seed)
  {
    fs::path work = dir.parent_path() / ("chunk-" + std::to_string(seed));
    fs::create_directories(work / "c");
    REQUIRE(test::run_command("head -c " + std::to_string(bytes) + " /dev/urandom > '" +
                              (work / "c/a.col").string() + "'") == 0);
    test::write_file(work / "c/seed.txt", std::to_string(seed));
    fs::path tmp = work / "obj.tar.zst";
    REQUIRE(test::run_command("tar --zstd -cf '" + tmp.string() + "' -C '" + (work / "c").string() +
                              "' .") == 0);
    // The content hash stands in for SPEC §3's (push never recomputes it).
    std::string hash = transport::sha256_hex("chunk " + std::to_string(seed));
    fs::create_directories(object_file(hash).parent_path());
    fs::copy_file(tmp, object_file(hash));
    objects.push_back(hash);
    return hash;
  }

  /// A snapshot naming `hashes` (one chunk each), written through the Repository API.
  std::string add_snapshot(const std::vector<std::string>& hashes, const std::string& tag)
  {
    auto repo = Repository::open(parse_repo_location(dir.string()), RepoConnect{}, false);
    Snapshot s;
    s.id = new_snapshot_id();
    s.created = "2026-12-02T04:00:00Z";
    s.cluster = "demo-a";
    s.host = "test";
    s.tag = tag;
    int i = 0;
    for (const auto& h : hashes) {
      SnapshotChunk c;
      c.key = "Level1/2020060" + std::to_string(++i) + "/" + h.substr(0, 4) + "/pt";
      c.db = "Level1";
      c.table = "pt";
      c.partition = {"2020060" + std::to_string(i), h.substr(0, 4)};
      transport::ObjectFile f;
      f.entry.path = "seed.txt";
      f.entry.size = 1;
      f.entry.mode = 0644;
      f.sha256 = transport::sha256_hex("1");
      c.manifest.files.push_back(f);
      c.manifest.dirs.push_back(transport::ChunkDir{"", 0, 0755, 0, 0});
      c.object = h;
      std::string bytes = test::read_file(object_file(h));
      c.object_sha256 = transport::sha256_hex(bytes);
      c.object_size = bytes.size();
      s.chunks.push_back(std::move(c));
    }
    std::sort(s.chunks.begin(), s.chunks.end(),
              [](const SnapshotChunk& a, const SnapshotChunk& b) { return a.key < b.key; });
    repo.write_snapshot(s);
    snapshots.push_back(s.id);
    return s.id;
  }
};

std::string ssh_url(const test::SshdHarness& sshd, const fs::path& path)
{
  return "ssh://root@" + sshd.host(0).address + ":" + std::to_string(sshd.host(0).port) +
         path.string();
}

std::string ssh_flags(const test::SshdHarness& sshd)
{
  return " --identity '" + sshd.client_key().string() + "' --known-hosts '" +
         sshd.known_hosts().string() + "' --agent-command '" CLSYNC_BINARY "'";
}

/// Runs `clsync push ARGS --json`; returns the exit status and the parsed document.
int push_json(const std::string& args, nlohmann::json& doc, const std::string& env = "")
{
  std::string out;
  int rc = test::run_clsync("push " + args + " --json", &out, env);
  doc = nlohmann::json::parse(out, nullptr, false);
  if (rc < 128) {
    REQUIRE_MESSAGE(!doc.is_discarded(), out);
  }
  return rc;
}

/// Every object and snapshot of `src` is at `dest`, byte for byte.
void check_same(const SourceRepo& src, const fs::path& dest)
{
  for (const auto& h : src.objects) {
    const auto rel = Repository::object_path(h);
    REQUIRE_MESSAGE(fs::exists(dest / rel), rel);
    CHECK(test::read_file(dest / rel) == test::read_file(src.dir / rel));
    CHECK_FALSE(fs::exists(dest / (rel + ".partial")));
  }
  for (const auto& id : src.snapshots) {
    const auto rel = "snapshots/" + id + ".json";
    REQUIRE_MESSAGE(fs::exists(dest / rel), rel);
    CHECK(test::read_file(dest / rel) == test::read_file(src.dir / rel));
  }
}

/// Every directory below `root` (and `root`) with its mtime in nanoseconds; symlinks not followed.
std::map<std::string, std::int64_t> dir_mtimes(const fs::path& root)
{
  std::map<std::string, std::int64_t> out;
  auto add = [&](const fs::path& p) {
    struct stat st {};
    REQUIRE(::lstat(p.c_str(), &st) == 0);
    out[p.string()] = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  };
  add(root);
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_directory() && !e.is_symlink()) {
      add(e.path());
    }
  }
  return out;
}

/// How many times `what` appears in host 0's sshd log.
int count_in_log(const test::SshdHarness& sshd, const std::string& what)
{
  const std::string log = test::read_file(sshd.host(0).log);
  int n = 0;
  for (auto p = log.find(what); p != std::string::npos; p = log.find(what, p + 1)) {
    ++n;
  }
  return n;
}

/// The calling thread (and every process it starts: sshd, clsync) in a network namespace of its
/// own with only `lo` up, until destroyed: the kernel's TCP counters (/proc/thread-self/net)
/// then count this case's connections alone, whatever else runs on the machine.
class PrivateNetwork {
public:
  PrivateNetwork() : m_home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC))
  {
    REQUIRE_MESSAGE(m_home >= 0, "cannot open this thread's network namespace");
    if (::unshare(CLONE_NEWNET) != 0) {
      ::close(m_home);
      FAIL("unshare(CLONE_NEWNET) failed (root needed)");
    }
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    const bool up = s >= 0 && ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0 &&
                    (ifr.ifr_flags |= IFF_UP, ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
    if (s >= 0) {
      ::close(s);
    }
    if (!up) {
      go_home();  // the destructor does not run for a constructor that throws
      FAIL("cannot bring up lo in the new network namespace");
    }
  }
  ~PrivateNetwork() { go_home(); }
  PrivateNetwork(const PrivateNetwork&) = delete;
  PrivateNetwork& operator=(const PrivateNetwork&) = delete;

  /// A TcpExt counter of this namespace (/proc/net/netstat), e.g. "DelayedACKs": ACKs the
  /// kernel held back and sent only when its delayed-ACK timer fired.
  static std::uint64_t tcp_counter(const std::string& name)
  {
    std::ifstream in("/proc/thread-self/net/netstat");
    std::string names, values;
    while (std::getline(in, names) && std::getline(in, values)) {
      if (names.rfind("TcpExt:", 0) != 0) {
        continue;
      }
      std::istringstream n(names), v(values);
      std::string key, value;
      while (n >> key && v >> value) {
        if (key == name) {
          return std::stoull(value);
        }
      }
    }
    FAIL("no TcpExt counter " << name << " in /proc/thread-self/net/netstat");
    return 0;
  }

private:
  void go_home()
  {
    if (::setns(m_home, CLONE_NEWNET) != 0) {
      std::abort();  // the next cases would run in the wrong namespace
    }
    ::close(m_home);
  }
  int m_home;
};

/// Kills (by PID, SO_PEERCRED of their sockets) the persistent agents listening below `dir`.
void kill_agent_daemons(const fs::path& dir);

/// Kills the kept agents below `dir` when the case ends, however it ends.
struct AgentDaemonsKiller {
  fs::path dir;
  ~AgentDaemonsKiller() { kill_agent_daemons(dir); }
};

void kill_agent_daemons(const fs::path& dir)
{
  if (!fs::exists(dir)) {
    return;
  }
  for (const auto& e : fs::directory_iterator(dir)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", e.path().c_str());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ucred cred{};
    socklen_t len = sizeof cred;
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid > 0) {
      ::kill(cred.pid, SIGKILL);
    }
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

} // namespace

TEST_SUITE("push")
{
  TEST_CASE("local → ssh:// sends objects then snapshots; again sends nothing")
  {
    test::SshdHarness sshd(1, "push-to-ssh");
    SourceRepo src("push-to-ssh");
    auto a = src.add_object(3u << 20, 1);
    auto b = src.add_object(100000, 2);
    auto c = src.add_object(5000, 3);
    src.add_snapshot({a, b}, "daily");
    src.add_snapshot({b, c}, "daily");
    const fs::path dest = src.dir.parent_path() / "dest";
    const std::string args = "'" + src.dir.string() + "' '" + ssh_url(sshd, dest) + "'" +
                             ssh_flags(sshd) + " --parallel 2";

    nlohmann::json doc;
    REQUIRE(push_json(args, doc) == 0);
    CHECK(doc["objects_sent"] == 3);
    CHECK(doc["objects_skipped"] == 0);
    CHECK(doc["snapshots_sent"] == 2);
    CHECK(doc["resumed"] == 0);
    CHECK(doc["bytes"].get<std::uint64_t>() > (3u << 20));
    check_same(src, dest);
    struct stat st {};
    REQUIRE(::stat(dest.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);

    REQUIRE(push_json(args, doc) == 0);
    CHECK(doc["objects_sent"] == 0);
    CHECK(doc["snapshots_sent"] == 0);
    CHECK(doc["bytes"] == 0);
    CHECK(doc["objects_skipped"] == 3);
    CHECK(doc["snapshots_skipped"] == 2);
    std::string text;
    REQUIRE(test::run_clsync("push " + args, &text) == 0);
    CHECK(text.find("nothing to push: 3 objects, 2 snapshots already at") != std::string::npos);

    // A new snapshot with one new object: only those two files cross.
    auto d = src.add_object(2000, 4);
    src.add_snapshot({a, d}, "daily");
    REQUIRE(push_json(args, doc) == 0);
    CHECK(doc["objects_sent"] == 1);
    CHECK(doc["snapshots_sent"] == 1);
    CHECK(doc["objects_skipped"] == 3);
    check_same(src, dest);
  }

  TEST_CASE("ssh:// → local, and a dry run lists without writing")
  {
    test::SshdHarness sshd(1, "push-from-ssh");
    SourceRepo src("push-from-ssh");
    auto a = src.add_object(1u << 20, 11);
    auto b = src.add_object(4000, 12);
    src.add_snapshot({a, b}, "");
    const fs::path dest = src.dir.parent_path() / "local-dest";
    const std::string args =
        "'" + ssh_url(sshd, src.dir) + "' '" + dest.string() + "'" + ssh_flags(sshd);

    nlohmann::json doc;
    REQUIRE(push_json(args + " --dry-run", doc) == 0);
    CHECK(doc["would_send"].size() == 3);
    CHECK_FALSE(fs::exists(dest));

    REQUIRE(push_json(args, doc) == 0);
    CHECK(doc["objects_sent"] == 2);
    CHECK(doc["snapshots_sent"] == 1);
    check_same(src, dest);
    REQUIRE(push_json(args, doc) == 0);
    CHECK(doc["objects_sent"] == 0);
    CHECK(doc["bytes"] == 0);
  }

  TEST_CASE("a push killed mid-object resumes from the partial's durable bytes")
  {
    test::SshdHarness sshd(1, "push-resume");
    SourceRepo src("push-resume");
    auto big = src.add_object(48u << 20, 21);
    src.add_snapshot({big}, "");
    const std::uint64_t size = fs::file_size(src.object_file(big));
    const fs::path dest = src.dir.parent_path() / "dest";
    const std::string args = "'" + src.dir.string() + "' '" + ssh_url(sshd, dest) + "'" +
                             ssh_flags(sshd);

    // A real SIGKILL of the clsync process after about 16 MiB of the object went out.
    nlohmann::json doc;
    REQUIRE(push_json(args, doc, "CLSYNC_TEST_CRASH_AT=push_mid_object:16") == 128 + SIGKILL);
    const auto partial = dest / (Repository::object_path(big) + ".partial");
    // The agent keeps what arrived when the connection drops, then exits.
    for (int i = 0; i < 200 && !sshd.agent_pids(0).empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(sshd.agent_pids(0).empty());
    REQUIRE(fs::exists(partial));
    const auto kept = fs::file_size(partial);
    CHECK(kept > 0);
    CHECK(kept < size);
    CHECK_FALSE(fs::exists(dest / Repository::object_path(big)));

    REQUIRE(push_json(args, doc) == 0);
    CHECK(doc["resumed"] == 1);
    CHECK(doc["objects_sent"] == 1);
    CHECK(doc["snapshots_sent"] == 1);
    CHECK(doc["resumed_bytes"] == kept);
    CHECK(doc["bytes"].get<std::uint64_t>() < size);
    check_same(src, dest);
  }

  TEST_CASE("a tampered object is refused on arrival and its snapshot is not sent (exit 3)")
  {
    test::SshdHarness sshd(1, "push-tampered");
    SourceRepo src("push-tampered");
    auto good = src.add_object(20000, 31);
    auto bad = src.add_object(30000, 32);
    auto good_snap = src.add_snapshot({good}, "a");
    auto bad_snap = src.add_snapshot({good, bad}, "b");
    {
      std::string bytes = test::read_file(src.object_file(bad));
      bytes[bytes.size() / 2] ^= 0x5a;  // same size, other bytes
      test::write_file(src.object_file(bad), bytes);
    }
    const fs::path dest = src.dir.parent_path() / "dest";
    nlohmann::json doc;
    const std::string args = "'" + src.dir.string() + "' '" + ssh_url(sshd, dest) + "'" +
                             ssh_flags(sshd);
    REQUIRE(push_json(args, doc) == 3);
    CHECK(doc["objects_sent"] == 1);
    CHECK(doc["snapshots_sent"] == 1);
    const std::string errors = doc["errors"].dump();
    CHECK(errors.find("object " + bad) != std::string::npos);
    CHECK(errors.find("DEST") != std::string::npos);
    CHECK(errors.find("snapshot " + bad_snap) != std::string::npos);
    CHECK(fs::exists(dest / ("snapshots/" + good_snap + ".json")));
    CHECK_FALSE(fs::exists(dest / ("snapshots/" + bad_snap + ".json")));
    CHECK_FALSE(fs::exists(dest / Repository::object_path(bad)));
    CHECK_FALSE(fs::exists(dest / (Repository::object_path(bad) + ".partial")));
  }

  TEST_CASE("a snapshot whose object is missing at SRC is not sent (exit 3)")
  {
    SourceRepo src("push-missing");
    auto a = src.add_object(10000, 41);
    auto b = src.add_object(10000, 42);
    auto ok_snap = src.add_snapshot({a}, "");
    auto held = src.add_snapshot({a, b}, "");
    fs::remove(src.object_file(b));
    const fs::path dest = src.dir.parent_path() / "dest";
    nlohmann::json doc;
    REQUIRE(push_json("'" + src.dir.string() + "' '" + dest.string() + "'", doc) == 3);
    CHECK(doc["objects_sent"] == 1);
    CHECK(doc["snapshots_sent"] == 1);
    CHECK(fs::exists(dest / ("snapshots/" + ok_snap + ".json")));
    CHECK_FALSE(fs::exists(dest / ("snapshots/" + held + ".json")));
    const std::string errors = doc["errors"].dump();
    CHECK(errors.find("snapshot " + held) != std::string::npos);
    CHECK(errors.find("missing at SRC") != std::string::npos);
  }

  TEST_CASE("a push with nothing to send takes no lock and changes nothing at DEST")
  {
    test::SshdHarness sshd(1, "push-nochange");
    SourceRepo src("push-nochange");
    auto a = src.add_object(30000, 51);
    auto b = src.add_object(40000, 52);
    src.add_snapshot({a, b}, "");
    const fs::path dest = src.dir.parent_path() / "dest";
    const std::string args = "'" + src.dir.string() + "' '" + ssh_url(sshd, dest) + "'" +
                             ssh_flags(sshd);
    nlohmann::json doc;
    REQUIRE(push_json(args, doc) == 0);
    REQUIRE(doc["objects_sent"] == 2);

    // Every directory of DEST dated 2001: a file created or removed anywhere (a lock, a
    // partial, a snapshot) would move its directory's mtime to now.
    const struct timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};
    for (const auto& [dir, mtime] : dir_mtimes(dest)) {
      REQUIRE(::utimensat(AT_FDCWD, dir.c_str(), old_times, AT_SYMLINK_NOFOLLOW) == 0);
    }
    const auto before = dir_mtimes(dest);
    REQUIRE(push_json(args, doc) == 0);
    CHECK(doc["objects_sent"] == 0);
    CHECK(doc["snapshots_sent"] == 0);
    CHECK(doc["objects_skipped"] == 2);
    CHECK(dir_mtimes(dest) == before);
    CHECK_FALSE(fs::exists(dest / ".clsync-lease"));
    check_same(src, dest);
  }

  TEST_CASE("a push of small objects to ssh:// rides one session")
  {
    test::SshdHarness sshd(1, "push-sessions");
    SourceRepo src("push-sessions");
    std::vector<std::string> small;
    for (int i = 0; i < 4; ++i) {
      small.push_back(src.add_object(20000, 60 + i));
    }
    src.add_snapshot(small, "");
    // DEST exists (empty), as for every push after the first: creating a new DEST's root takes
    // a session of its own, on its parent.
    const fs::path dest = src.dir.parent_path() / "dest";
    fs::create_directory(dest);
    fs::permissions(dest, fs::perms::owner_all);
    const std::string args = "'" + src.dir.string() + "' '" + ssh_url(sshd, dest) + "'" +
                             ssh_flags(sshd) + " --parallel 4";
    // Each session of a push is one login; a worker beyond the first opens a session of its
    // own, one at a time, which 80 kB of objects never repays.
    const int logins = count_in_log(sshd, "Accepted publickey");
    nlohmann::json doc;
    REQUIRE(push_json(args, doc) == 0);
    CHECK(doc["objects_sent"] == 4);
    CHECK(count_in_log(sshd, "Accepted publickey") == logins + 1);
    check_same(src, dest);
  }

  TEST_CASE("a push through a kept agent waits on no delayed ACK between objects")
  {
    // sshd sends a forwarded channel's reply behind a window adjust, and Nagle holds it until
    // the client acknowledges the adjust: a client that delays that ACK (waiting, with nothing
    // to send) stalled each object's commit and the next open by the delayed-ACK timer.
    PrivateNetwork net;
    test::SshdHarness sshd(1, "push-acks");
    const AgentDaemonsKiller daemons{sshd.runtime_dir() / "clsync"};
    SourceRepo src("push-acks");
    constexpr int k_objects = 24;
    std::vector<std::string> hashes;
    for (int i = 0; i < k_objects; ++i) {
      hashes.push_back(src.add_object(256 * 1024, 100 + i));
    }
    src.add_snapshot(hashes, "");
    const fs::path state = src.dir.parent_path() / "state";
    const std::string env = "CLSYNC_SSH_AGENT_PERSIST=1m CLSYNC_STATE_DIR='" + state.string() + "'";
    auto push_to = [&](const std::string& name) {
      const fs::path dest = src.dir.parent_path() / name;
      nlohmann::json doc;
      REQUIRE(push_json("'" + src.dir.string() + "' '" + ssh_url(sshd, dest) + "'" +
                            ssh_flags(sshd) + " --parallel 1",
                        doc, env) == 0);
      CHECK(doc["objects_sent"] == k_objects);
      check_same(src, dest);
    };
    push_to("dest-1");  // starts the kept agent (over exec)
    const auto before = PrivateNetwork::tcp_counter("DelayedACKs");
    push_to("dest-2");  // reaches it through its socket: a direct-streamlocal channel
    const auto delayed = PrivateNetwork::tcp_counter("DelayedACKs") - before;
    // Without TCP_QUICKACK before each wait: 26 (one or more per object); with it: 3 (the
    // sessions' set-up and the listings).
    CHECK(delayed < k_objects / 3);
  }
}
