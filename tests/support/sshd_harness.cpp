// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/support/sshd_harness.hpp"

#include "tests/support/scratch.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#ifndef CLSYNC_BINARY
#define CLSYNC_BINARY "clsync"
#endif

namespace fs = std::filesystem;

namespace clsync::test {

namespace {

constexpr const char* k_sshd = "/usr/sbin/sshd";

[[noreturn]] void fail(const std::string& what)
{
  throw std::runtime_error("sshd harness: " + what);
}

void run_or_fail(const std::string& cmd)
{
  std::string out;
  if (int rc = run_command(cmd + " 2>&1", &out); rc != 0) {
    fail("'" + cmd + "' exited " + std::to_string(rc) + ": " + out);
  }
}

int free_port(const std::string& address)
{
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = 0;
  ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    fail("cannot bind " + address + ": " + std::strerror(errno));
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

bool accepts(const std::string& address, int port)
{
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

/// pid → (ppid, comm) of every process.
std::map<pid_t, std::pair<pid_t, std::string>> process_table()
{
  std::map<pid_t, std::pair<pid_t, std::string>> table;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) {
      continue;
    }
    std::ifstream in(e.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) {
      continue;
    }
    // pid (comm) state ppid …; comm may hold spaces, so split at the last ')'.
    auto open = stat.find('(');
    auto close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) {
      continue;
    }
    std::istringstream rest(stat.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    table[std::stoi(name)] = {ppid, stat.substr(open + 1, close - open - 1)};
  }
  return table;
}

/// Waits (up to 5 s) until `pid` is gone or in one of `states` (letters of /proc/PID/stat).
void wait_state(pid_t pid, const std::string& states)
{
  for (int k = 0; k < 500; ++k) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) {
      return;
    }
    auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size() ||
        states.find(stat[close + 2]) != std::string::npos) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

} // namespace

std::vector<std::pair<pid_t, std::string>> descendants(pid_t root)
{
  auto table = process_table();
  std::vector<std::pair<pid_t, std::string>> out;
  std::vector<pid_t> frontier{root};
  while (!frontier.empty()) {
    pid_t p = frontier.back();
    frontier.pop_back();
    for (const auto& [pid, info] : table) {
      if (info.first == p) {
        out.emplace_back(pid, info.second);
        frontier.push_back(pid);
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

SshdHarness::SshdHarness(int count, const std::string& name) : m_dir(scratch_dir(name))
{
  // 127.0.0.2 … 127.0.0.33: the proxies of the network tests listen from 127.0.0.50 up.
  if (count < 1 || count > 32) {
    fail("between 1 and 32 hosts, not " + std::to_string(count));
  }
  if (::access(k_sshd, X_OK) != 0) {
    fail(std::string(k_sshd) + " is missing: install openssh-server (scripts/install-deps.sh)");
  }
  // Privilege separation refuses to start without its empty directory.
  std::error_code ec;
  fs::create_directories("/run/sshd", ec);
  fs::create_directories(home());
  fs::create_directories(runtime_dir());
  fs::permissions(runtime_dir(), fs::perms::owner_all);
  run_or_fail("ssh-keygen -q -t ed25519 -N '' -C clsync-test-client -f " + client_key().string());
  fs::copy_file(client_key().string() + ".pub", m_dir / "authorized_keys");
  for (int i = 0; i < count; ++i) {
    SshdHost h;
    h.address = "127.0.0." + std::to_string(2 + i);
    h.config = m_dir / ("sshd_" + std::to_string(i) + ".conf");
    h.host_key = m_dir / ("host_" + std::to_string(i) + "_ed25519");
    h.log = m_dir / ("sshd_" + std::to_string(i) + ".log");
    run_or_fail("ssh-keygen -q -t ed25519 -N '' -C host" + std::to_string(i) + " -f " +
                h.host_key.string());
    m_hosts.push_back(h);
  }
  std::ofstream kh(known_hosts());
  for (int i = 0; i < count; ++i) {
    start(i);
    kh << known_hosts_line(i) << '\n';
  }
}

SshdHarness::~SshdHarness()
{
  for (int i = 0; i < size(); ++i) {
    try {
      stop(i);
    } catch (...) {
      // best effort in a destructor
    }
  }
}

std::string SshdHarness::topology_ssh_block() const
{
  return "ssh:\n"
         "  user: root\n"
         "  identity: " + client_key().string() + "\n"
         "  known_hosts: " + known_hosts().string() + "\n"
         "  agent_command: " CLSYNC_BINARY "\n"
         "  connect_timeout: 5\n"
         "  io_timeout: 30\n"
         "nodes:\n";
}

std::string SshdHarness::known_hosts_line(int i) const
{
  const auto& h = host(i);
  std::ifstream in(h.host_key.string() + ".pub");
  std::string type, key;
  in >> type >> key;
  return "[" + h.address + "]:" + std::to_string(h.port) + " " + type + " " + key;
}

void SshdHarness::write_config(int i)
{
  const auto& h = host(i);
  std::ofstream c(h.config);
  if (static_cast<std::size_t>(i) < m_extra_config.size()) {
    for (const auto& line : m_extra_config[static_cast<std::size_t>(i)]) {
      c << line << "\n";
    }
  }
  c << "Port " << h.port << "\n"
    << "ListenAddress " << h.address << "\n"
    << "HostKey " << h.host_key.string() << "\n"
    << "PidFile " << (m_dir / ("sshd_" + std::to_string(i) + ".pid")).string() << "\n"
    << "AuthorizedKeysFile " << (m_dir / "authorized_keys").string() << "\n"
    << "PermitRootLogin prohibit-password\n"
    << "PubkeyAuthentication yes\n"
    << "PasswordAuthentication no\n"
    << "KbdInteractiveAuthentication no\n"
    << "UsePAM no\n"
    << "StrictModes no\n"
    << "UseDNS no\n"
    << "PrintMotd no\n"
    << "MaxStartups 100\n"
    << "MaxSessions 100\n"
    << "LogLevel VERBOSE\n"
    << "Subsystem sftp /usr/lib/openssh/sftp-server\n"
    // Sessions get a home of their own: --deploy-agent writes under ~ on the node.
    // and a runtime directory of their own: a persistent agent's socket (--agent-persist)
    // lives there, apart from other tests' and the machine's.
    << "SetEnv HOME=" << home().string() << " XDG_RUNTIME_DIR=" << runtime_dir().string()
    << "\n";
  if (!c) {
    fail("cannot write " + h.config.string());
  }
}

void SshdHarness::start(int i)
{
  auto& h = m_hosts.at(static_cast<std::size_t>(i));
  if (h.pid > 0) {
    return;
  }
  std::string last_log;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (h.port == 0 || attempt > 0) {
      h.port = free_port(h.address);
    }
    write_config(i);
    pid_t pid = ::fork();
    if (pid < 0) {
      fail(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
      int log = ::open(h.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::setsid(); // a Ctrl-C of the test run must not reach the servers first
      ::execl(k_sshd, k_sshd, "-D", "-e", "-f", h.config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int k = 0; k < 200; ++k) {
      if (accepts(h.address, h.port)) {
        h.pid = pid;
        return;
      }
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        break; // exited: a port taken meanwhile, or a bad config
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    try {
      last_log = read_file(h.log);
    } catch (...) {
      last_log = "(no log)";
    }
  }
  fail("sshd for " + h.address + " did not start; its log:\n" + last_log);
}

void SshdHarness::stop(int i)
{
  auto& h = m_hosts.at(static_cast<std::size_t>(i));
  if (h.pid <= 0) {
    return;
  }
  // Freeze the listener first: a child it forks for a late connection (the readiness probe)
  // holds the listening socket for a moment, and a client connecting then is reset instead
  // of refused. Once it is stopped, its children are all there to be killed.
  ::kill(h.pid, SIGSTOP);
  wait_state(h.pid, "T");
  auto sessions = descendants(h.pid);
  for (const auto& [pid, comm] : sessions) {
    ::kill(pid, SIGCONT);  // in case a test stopped it
    ::kill(pid, SIGKILL);
  }
  for (const auto& [pid, comm] : sessions) {
    wait_state(pid, "Z");  // dead: its descriptors are closed
  }
  ::kill(h.pid, SIGKILL);
  ::kill(h.pid, SIGCONT);
  ::waitpid(h.pid, nullptr, 0);
  h.pid = -1;
}

void SshdHarness::regenerate_host_key(int i)
{
  const auto& h = host(i);
  stop(i);
  fs::remove(h.host_key);
  fs::remove(h.host_key.string() + ".pub");
  run_or_fail("ssh-keygen -q -t ed25519 -N '' -C host" + std::to_string(i) + "-new -f " +
              h.host_key.string());
  start(i);
}

void SshdHarness::set_extra_config(int i, std::vector<std::string> lines)
{
  stop(i);
  m_extra_config.resize(static_cast<std::size_t>(size()));
  m_extra_config.at(static_cast<std::size_t>(i)) = std::move(lines);
  start(i);
}

transport::SshTarget
SshdHarness::target(int i, std::vector<std::string> roots, const std::string& name) const
{
  transport::SshTarget t;
  t.name = name.empty() ? "ssh" + std::to_string(i) : name;
  t.host = host(i).address;
  t.port = host(i).port;
  t.user = "root";
  t.identity = client_key().string();
  t.known_hosts = known_hosts().string();
  t.agent_command = CLSYNC_BINARY;
  t.roots = std::move(roots);
  t.connect_timeout_s = 5;
  t.io_timeout_s = 30;
  t.pool_size = 2;
  return t;
}

std::vector<pid_t> SshdHarness::session_pids(int i) const
{
  std::vector<pid_t> out;
  if (host(i).pid > 0) {
    for (const auto& [pid, comm] : descendants(host(i).pid)) {
      if (comm == "sshd") {
        out.push_back(pid);
      }
    }
  }
  return out;
}

std::vector<pid_t> SshdHarness::agent_pids(int i) const
{
  std::vector<pid_t> out;
  if (host(i).pid > 0) {
    for (const auto& [pid, comm] : descendants(host(i).pid)) {
      if (comm != "sshd") {
        out.push_back(pid);
      }
    }
  }
  return out;
}

int SshdHarness::signal_sessions(int i, int sig) const
{
  int n = 0;
  for (pid_t p : session_pids(i)) {
    n += ::kill(p, sig) == 0 ? 1 : 0;
  }
  return n;
}

int SshdHarness::signal_agents(int i, int sig) const
{
  int n = 0;
  for (pid_t p : agent_pids(i)) {
    n += ::kill(p, sig) == 0 ? 1 : 0;
  }
  return n;
}

} // namespace clsync::test
