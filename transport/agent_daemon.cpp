// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/agent_daemon.hpp"

#include "transport/agent_protocol.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLSYNC_VERSION
#define CLSYNC_VERSION "0.0.0"
#endif

namespace clsync::transport {

namespace {

using Clock = std::chrono::steady_clock;

std::string g_daemon_socket;

/// This binary's build, for the socket's name: a rebuilt agent of the same version gets a
/// daemon of its own (FNV-1a of the executable's size and modification time).
std::string build_tag()
{
  struct stat st {};
  if (::stat("/proc/self/exe", &st) != 0) {
    return "0";
  }
  std::uint64_t h = 1469598103934665603ull;
  for (std::uint64_t v : {static_cast<std::uint64_t>(st.st_size),
                          static_cast<std::uint64_t>(st.st_mtim.tv_sec),
                          static_cast<std::uint64_t>(st.st_mtim.tv_nsec)}) {
    for (int i = 0; i < 8; ++i) {
      h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;
    }
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

bool fill_address(const std::string& path, sockaddr_un& addr)
{
  addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

/// Whether something accepts connections on `path` (a live daemon).
bool answers(const std::string& path)
{
  sockaddr_un addr{};
  if (!fill_address(path, addr)) {
    return false;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

int listen_on(const std::string& path)
{
  sockaddr_un addr{};
  if (!fill_address(path, addr)) {
    return -1;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  // The directory is 0700 already; the socket is made 0600 as well.
  mode_t old = ::umask(077);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            ::listen(fd, 64) == 0;
  ::umask(old);
  if (!ok) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const FileId&) const = default;
};

std::optional<FileId> lstat_id(const std::string& path)
{
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return std::nullopt;
  }
  return FileId{st.st_dev, st.st_ino};
}

std::optional<FileId> stat_id(const std::string& path)
{
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return std::nullopt;
  }
  return FileId{st.st_dev, st.st_ino};
}

/// The daemon's accept loop; returns when idle long enough or replaced.
void serve_forever(int lfd, const std::string& path, std::chrono::seconds idle,
                   const ServeConnection& serve)
{
  const auto socket_id = lstat_id(path);
  char exe[4096] = {};
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  const std::string exe_path = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : "";
  const auto exe_id = stat_id("/proc/self/exe");
  auto replaced = [&] {
    // A new socket (another daemon, or someone's file) or a new binary: this daemon is done.
    return !socket_id || lstat_id(path) != socket_id || exe_path.empty() ||
           stat_id(exe_path) != exe_id;
  };

  int live = 0;
  auto last = Clock::now();
  for (;;) {
    int st = 0;
    while (::waitpid(-1, &st, WNOHANG) > 0) {
      --live;
      last = Clock::now();
    }
    if (replaced()) {
      break;
    }
    const auto quiet = Clock::now() - last;
    if (live <= 0 && quiet >= idle) {
      break;
    }
    pollfd p{lfd, POLLIN, 0};
    // Short slices: children are reaped and replacement is noticed within half a second.
    if (::poll(&p, 1, 500) <= 0 || !(p.revents & POLLIN)) {
      continue;
    }
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != ::geteuid()) {
      ::close(fd); // only our own user (through sshd, authenticated as that user) is served
      continue;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(lfd);
      ::_exit(serve(fd));
    }
    ::close(fd);
    if (pid > 0) {
      ++live;
    }
    last = Clock::now();
  }
  if (lstat_id(path) == socket_id) {
    ::unlink(path.c_str());
  }
  ::close(lfd);
}

/// In the daemon (a grandchild of the exec agent, in a session of its own): listens, reports
/// on `ready`, drops every inherited descriptor, serves.
[[noreturn]] void run_daemon(int ready, const std::string& path, std::chrono::seconds idle,
                             const ServeConnection& serve)
{
  int lfd = listen_on(path);
  char c = lfd >= 0 ? '1' : '0';
  (void)!::write(ready, &c, 1);
  if (lfd < 0) {
    ::_exit(1);
  }
  // Nothing of the exec channel stays open here: sshd's session ends with the exec agent.
  int null = ::open("/dev/null", O_RDWR);
  for (int i = 0; i < 3; ++i) {
    ::dup2(null, i);
  }
  if (lfd != 3) {
    ::dup2(lfd, 3);
    lfd = 3;
  }
  ::close_range(4, ~0u, 0);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGCHLD, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  g_daemon_socket = path;
  serve_forever(lfd, path, idle, serve);
  ::_exit(0);
}

} // namespace

std::string agent_socket_dir(std::string& why)
{
  std::string dir;
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg && xdg[0] == '/') {
    dir = std::string(xdg) + "/clsync";
  } else {
    dir = "/tmp/clsync-" + std::to_string(::geteuid());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    why = "cannot create " + dir + ": " + std::strerror(errno);
    return {};
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    why = "cannot stat " + dir + ": " + std::strerror(errno);
    return {};
  }
  // Someone else's directory (made first in /tmp), a symlink, or one others can enter: no
  // daemon, rather than a socket anyone could replace.
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    why = dir + " is not a private directory of uid " + std::to_string(::geteuid()) +
          " (expected mode 0700, not a symlink)";
    return {};
  }
  return dir;
}

std::string agent_socket_path(const std::string& dir)
{
  return dir + "/agent-p" + std::to_string(wire::k_protocol_version) + "-" + CLSYNC_VERSION +
         "-" + build_tag() + ".sock";
}

std::string ensure_agent_daemon(std::chrono::seconds idle, const ServeConnection& serve,
                                std::string& why)
{
  const std::string dir = agent_socket_dir(why);
  if (dir.empty()) {
    return {};
  }
  const std::string path = agent_socket_path(dir);
  sockaddr_un probe{};
  if (!fill_address(path, probe)) {
    why = "socket path too long: " + path;
    return {};
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode) || st.st_uid != ::geteuid()) {
      why = path + " is not a socket of uid " + std::to_string(::geteuid()) + "; left alone";
      return {};
    }
    if (answers(path)) {
      return path;
    }
    // A dead daemon's socket (checked above: ours, a socket): removed only now.
    ::unlink(path.c_str());
  } else if (errno != ENOENT) {
    why = "cannot stat " + path + ": " + std::strerror(errno);
    return {};
  }

  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) {
    why = std::string("pipe: ") + std::strerror(errno);
    return {};
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    why = std::string("fork: ") + std::strerror(errno);
    ::close(ready[0]);
    ::close(ready[1]);
    return {};
  }
  if (pid == 0) {
    ::close(ready[0]);
    ::setsid();
    if (::fork() != 0) {
      ::_exit(0); // the daemon is reparented: nobody waits for it
    }
    run_daemon(ready[1], path, idle, serve);
  }
  ::close(ready[1]);
  ::waitpid(pid, nullptr, 0);
  char c = '0';
  ssize_t got = 0;
  do {
    got = ::read(ready[0], &c, 1);
  } while (got < 0 && errno == EINTR);
  ::close(ready[0]);
  if (got != 1 || c != '1') {
    // Another agent may have bound the name between our check and the daemon's bind.
    if (answers(path)) {
      return path;
    }
    why = "the daemon could not listen on " + path;
    return {};
  }
  return path;
}

const std::string& current_daemon_socket()
{
  return g_daemon_socket;
}

} // namespace clsync::transport
