// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// The persistent agent (--agent-persist, transport/agent_daemon.hpp) behind a real sshd: a
// second run reaches it through a direct-streamlocal channel (no exec request), and every way
// it can be wrong (killed, its socket replaced, another protocol, idle too long) falls back to
// exec; peers of another uid are refused. Every daemon a case starts is killed by its PID
// (SO_PEERCRED of its socket) before the case ends.
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"
#include "transport/agent_protocol.hpp"
#include "transport/open.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace clsync::transport;
using clsync::test::SshdHarness;
namespace fs = std::filesystem;

namespace {

int connect_unix(const std::string& path)
{
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// The PID of the daemon listening on `socket` (it called listen()), or -1.
pid_t daemon_pid(const std::string& socket)
{
  int fd = connect_unix(socket);
  if (fd < 0) {
    return -1;
  }
  ucred cred{};
  socklen_t len = sizeof cred;
  pid_t pid = ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : -1;
  ::close(fd);
  return pid;
}

/// Whether `pid` runs (a zombie waiting for its reaper counts as gone).
bool alive(pid_t pid)
{
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) {
    return false;
  }
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

bool gone_within(pid_t pid, std::chrono::seconds limit)
{
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (!alive(pid)) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return !alive(pid);
}

void kill_daemon(pid_t pid)
{
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    CHECK(gone_within(pid, std::chrono::seconds(10)));
  }
}

int count_lines_with(const fs::path& file, const std::string& needle)
{
  std::ifstream in(file);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    n += line.find(needle) != std::string::npos;
  }
  return n;
}

/// One sshd at LogLevel DEBUG1 (it logs every exec request and every streamlocal channel), a
/// volume with one file, and the client's memory directory.
struct PersistFixture {
  SshdHarness h{1, "persist"};
  fs::path volume = clsync::test::scratch_dir("persist-vol");
  fs::path memory = clsync::test::scratch_dir("persist-memory");
  std::vector<pid_t> daemons;

  PersistFixture()
  {
    h.set_extra_config(0, {"LogLevel DEBUG1"});
    std::ofstream(volume / "marker.txt") << "here";
  }
  ~PersistFixture()
  {
    for (pid_t pid : daemons) {
      if (alive(pid)) {
        ::kill(pid, SIGKILL);
      }
    }
  }

  SshTarget target(int persist_s) const
  {
    auto t = h.target(0, {volume.string()});
    t.agent_persist_s = persist_s;
    t.agent_memory_dir = memory.string();
    return t;
  }
  /// One "run": a node, a listing of the volume (it must show the marker), the node closed.
  void run(int persist_s) const
  {
    auto node = make_ssh_node(target(persist_s));
    auto entries = node->list_dir(volume.string(), "");
    bool found = false;
    for (const auto& e : entries) {
      found = found || e.name == "marker.txt";
    }
    CHECK(found);
  }
  int execs() const { return count_lines_with(h.host(0).log, "request exec"); }
  /// Channels to the agent's socket that sshd opened.
  int streamlocals() const
  {
    return count_lines_with(h.host(0).log, "confirm direct-streamlocal");
  }
  std::vector<fs::path> memory_files() const
  {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(memory)) {
      out.push_back(e.path());
    }
    return out;
  }
  /// The socket the client remembers (exactly one memory file).
  std::string remembered_socket() const
  {
    auto files = memory_files();
    REQUIRE(files.size() == 1);
    std::ifstream in(files.front());
    return nlohmann::json::parse(in).at("socket").get<std::string>();
  }
  pid_t record_daemon(const std::string& socket)
  {
    pid_t pid = daemon_pid(socket);
    if (pid > 0) {
      daemons.push_back(pid);
    }
    return pid;
  }
};

/// A listener answering every hello with protocol `protocol` (an agent of another clsync).
class FakeAgent {
public:
  FakeAgent(const std::string& path, std::uint32_t protocol) : m_path(path)
  {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(m_fd, 8) == 0);
    m_thread = std::thread([this, protocol] {
      for (;;) {
        int c = ::accept(m_fd, nullptr, nullptr);
        if (c < 0) {
          return;
        }
        ++m_connections;
        char buf[4096];
        (void)!::read(c, buf, sizeof buf);
        auto payload = wire::to_payload(nlohmann::json{{"protocol", protocol}, {"version", "0.0.1"}});
        auto header = wire::encode_header(wire::MsgType::hello_reply, payload.size());
        (void)!::write(c, header.data(), header.size());
        (void)!::write(c, payload.data(), payload.size());
        ::close(c);
      }
    });
  }
  ~FakeAgent()
  {
    ::shutdown(m_fd, SHUT_RDWR);
    ::close(m_fd);
    m_thread.join();
    ::unlink(m_path.c_str());
  }
  int connections() const { return m_connections; }

private:
  std::string m_path;
  int m_fd = -1;
  std::thread m_thread;
  std::atomic<int> m_connections{0};
};

} // namespace

TEST_SUITE("agent_persist")
{
  TEST_CASE("without --agent-persist no daemon starts and nothing is remembered")
  {
    PersistFixture f;
    f.run(0);
    f.run(0);
    CHECK(f.execs() == 2);
    CHECK(f.memory_files().empty());
    CHECK(!fs::exists(f.h.runtime_dir() / "clsync"));
  }

  TEST_CASE("a second run reaches the agent through its socket, without an exec request")
  {
    PersistFixture f;
    f.run(60);
    CHECK(f.execs() == 1);
    const std::string socket = f.remembered_socket();
    CHECK(socket.rfind((f.h.runtime_dir() / "clsync").string() + "/", 0) == 0);
    struct stat st {};
    REQUIRE(::lstat((f.h.runtime_dir() / "clsync").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    pid_t pid = f.record_daemon(socket);
    REQUIRE(pid > 0);

    f.run(60);
    f.run(60);
    CHECK(f.execs() == 1);
    CHECK(f.streamlocals() == 2);
    CHECK(daemon_pid(socket) == pid);
    kill_daemon(pid);
  }

  TEST_CASE("a killed daemon: the next run falls back to exec and starts a new one")
  {
    PersistFixture f;
    f.run(60);
    const std::string socket = f.remembered_socket();
    pid_t first = f.record_daemon(socket);
    REQUIRE(first > 0);
    kill_daemon(first);
    REQUIRE(fs::is_socket(socket)); // left behind by the killed daemon

    f.run(60);
    CHECK(f.execs() == 2);
    CHECK(f.remembered_socket() == socket);
    pid_t second = f.record_daemon(socket);
    CHECK(second > 0);
    CHECK(second != first);
    f.run(60);
    CHECK(f.execs() == 2);
    kill_daemon(second);
  }

  TEST_CASE("a socket replaced by another user's file or symlink is left alone and not used")
  {
    for (bool symlink : {false, true}) {
      CAPTURE(symlink);
      PersistFixture f;
      f.run(60);
      const std::string socket = f.remembered_socket();
      kill_daemon(f.record_daemon(socket));
      fs::remove(socket);
      fs::path other = f.h.dir() / "someone-elses";
      std::ofstream(other) << "not a socket";
      if (symlink) {
        fs::create_symlink(other, socket);
      } else {
        std::ofstream(socket) << "not a socket";
      }
      REQUIRE(::lchown(socket.c_str(), 65534, 65534) == 0);

      f.run(60); // through exec: the remembered socket does not answer as an agent
      f.run(60); // and nothing is remembered now, so exec again
      CHECK(f.execs() == 3);
      CHECK(f.memory_files().empty());
      struct stat st {};
      REQUIRE(::lstat(socket.c_str(), &st) == 0);
      CHECK(st.st_uid == 65534u);
      CHECK((symlink ? S_ISLNK(st.st_mode) : S_ISREG(st.st_mode)));
      CHECK(clsync::test::read_file(other) == "not a socket");
    }
  }

  TEST_CASE("a daemon exits after its idle time and removes its socket")
  {
    PersistFixture f;
    f.run(2);
    const std::string socket = f.remembered_socket();
    pid_t pid = f.record_daemon(socket);
    REQUIRE(pid > 0);
    CHECK(gone_within(pid, std::chrono::seconds(20)));
    CHECK(!fs::exists(fs::symlink_status(socket)));
    f.run(2); // falls back and starts another
    CHECK(f.execs() == 2);
    kill_daemon(f.record_daemon(socket));
  }

  TEST_CASE("a socket answering another protocol version is not used")
  {
    PersistFixture f;
    f.run(60);
    const std::string socket = f.remembered_socket();
    pid_t pid = f.record_daemon(socket);
    const std::string fake = (f.h.runtime_dir() / "clsync" / "old-agent.sock").string();
    FakeAgent old(fake, wire::k_protocol_version - 1);
    {
      auto file = f.memory_files().front();
      std::ifstream in(file);
      auto j = nlohmann::json::parse(in);
      j["socket"] = fake;
      std::ofstream(file) << j.dump();
    }
    f.run(60);
    CHECK(old.connections() == 1);
    CHECK(f.execs() == 2);
    CHECK(f.remembered_socket() == socket); // the exec agent named its own socket again
    kill_daemon(pid);
  }

  TEST_CASE("a peer of another uid is refused by the daemon")
  {
    PersistFixture f;
    f.run(60);
    const std::string socket = f.remembered_socket();
    pid_t pid = f.record_daemon(socket);
    REQUIRE(pid > 0);
    // Let the other user reach the socket at all (the directory is 0700): the daemon's own
    // check is what is tested here.
    const fs::path dir = fs::path(socket).parent_path();
    fs::permissions(dir, fs::perms::owner_all | fs::perms::others_exec);
    fs::permissions(f.h.dir(), fs::perms::others_exec, fs::perm_options::add);
    fs::permissions(f.h.runtime_dir(), fs::perms::others_exec, fs::perm_options::add);
    fs::permissions(socket, fs::perms::all);

    auto hello_answered = [&](uid_t uid) {
      pid_t child = ::fork();
      if (child == 0) {
        ::signal(SIGPIPE, SIG_IGN); // the daemon may close before our hello is written
        if (uid != 0 && (::setgid(65534) != 0 || ::setuid(uid) != 0)) {
          ::_exit(3);
        }
        int fd = connect_unix(socket);
        if (fd < 0) {
          ::_exit(4);
        }
        auto payload = wire::to_payload(wire::to_wire(wire::Hello{}));
        auto header = wire::encode_header(wire::MsgType::hello, payload.size());
        (void)!::write(fd, header.data(), header.size());
        (void)!::write(fd, payload.data(), payload.size());
        char c = 0;
        ::_exit(::read(fd, &c, 1) == 1 ? 0 : 1);
      }
      int st = 0;
      ::waitpid(child, &st, 0);
      return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    };
    CHECK(hello_answered(0) == 0);     // its own uid: served
    CHECK(hello_answered(65534) == 1); // nobody: connected, then closed without a word
    kill_daemon(pid);
  }
}
