// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/agent_client.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace clsync::transport {

namespace {

class ProcessStream : public AgentStream {
public:
  ProcessStream(pid_t pid, int to_child, int from_child, int err, std::string label, int timeout)
      : m_pid(pid), m_to(to_child), m_from(from_child), m_err(err), m_label(std::move(label)),
        m_timeout_ms(timeout)
  {
  }
  ~ProcessStream() override
  {
    ::close(m_to);
    ::close(m_from);
    ::close(m_err);
    // EOF on its stdin ends the agent; give it a moment, then make sure.
    for (int i = 0; i < 100 && !reaped(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!reaped()) {
      ::kill(m_pid, SIGKILL);
      int st = 0;
      ::waitpid(m_pid, &st, 0);
    }
  }

  std::size_t read_some(char* buf, std::size_t n) override
  {
    wait_for(m_from, POLLIN, "read");
    for (;;) {
      ssize_t got = ::read(m_from, buf, n);
      if (got >= 0) {
        return static_cast<std::size_t>(got);
      }
      if (errno != EINTR && errno != EAGAIN) {
        fail("read", std::strerror(errno));
      }
    }
  }
  bool readable() override
  {
    pollfd p{m_from, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }
  void write_all(const char* data, std::size_t n) override
  {
    while (n > 0) {
      wait_for(m_to, POLLOUT, "write");
      ssize_t w = ::write(m_to, data, n);
      if (w < 0) {
        if (errno == EINTR || errno == EAGAIN) {
          continue;
        }
        fail("write", std::strerror(errno));
      }
      data += w;
      n -= static_cast<std::size_t>(w);
    }
  }
  void flush() override {}
  std::string diagnostics() override
  {
    char buf[4096];
    for (;;) {
      ssize_t got = ::read(m_err, buf, sizeof buf);
      if (got <= 0) {
        break;
      }
      m_stderr.append(buf, static_cast<std::size_t>(got));
      if (m_stderr.size() > 4096) {
        m_stderr.erase(0, m_stderr.size() - 4096);
      }
    }
    std::string out = m_stderr;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
      out.pop_back();
    }
    for (int i = 0; i < 50 && !reaped(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (reaped()) {
      std::string st = WIFEXITED(m_status)
                           ? "exit status " + std::to_string(WEXITSTATUS(m_status))
                           : "killed by signal " + std::to_string(WTERMSIG(m_status));
      out = out.empty() ? st : out + " (" + st + ")";
    }
    return out;
  }

private:
  bool reaped()
  {
    if (m_reaped) {
      return true;
    }
    if (::waitpid(m_pid, &m_status, WNOHANG) == m_pid) {
      m_reaped = true;
    }
    return m_reaped;
  }
  void wait_for(int fd, short events, const char* what)
  {
    pollfd p{fd, events, 0};
    for (;;) {
      int r = ::poll(&p, 1, m_timeout_ms);
      if (r > 0) {
        return;
      }
      if (r == 0) {
        throw TransportError(FailureKind::timeout, m_label + ": no progress on " + what + " for " +
                                                       std::to_string(m_timeout_ms) + " ms");
      }
      if (errno != EINTR) {
        fail(what, std::strerror(errno));
      }
    }
  }
  [[noreturn]] void fail(const char* what, const std::string& why)
  {
    throw TransportError(FailureKind::error, m_label + ": " + what + " failed: " + why, true);
  }

  pid_t m_pid;
  int m_to, m_from, m_err;
  std::string m_label;
  int m_timeout_ms;
  std::string m_stderr;
  bool m_reaped = false;
  int m_status = 0;
};

} // namespace

std::unique_ptr<AgentStream> spawn_agent_process(const std::vector<std::string>& argv,
                                                 const std::string& label,
                                                 int io_timeout_ms)
{
  // A write into a pipe whose agent died must be an error here, not a process-wide death.
  ::signal(SIGPIPE, SIG_IGN);
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    throw TransportError(FailureKind::error, label + ": pipe: " + std::strerror(errno));
  }
  // A chunk arrives through `out` (a direct pull: from the node's OpenSSH client). At the
  // default 64 KiB, ssh drains its channel buffer 64 KiB per write and compacts the rest of it
  // (up to its 2 MiB window) after each: a perf profile of a pull showed ssh spending most of its
  // CPU in that memmove (bench/README.md "Move path profile"). 1 MiB is the unprivileged limit
  // (/proc/sys/fs/pipe-max-size); best effort, as serve_agent does for sshd's pipes. Set before
  // the fork, so the child's first write already sees it.
  (void)::fcntl(out[0], F_SETPIPE_SZ, 1 << 20);
  std::vector<char*> args;
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    throw TransportError(FailureKind::error, label + ": fork: " + std::strerror(errno));
  }
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "%s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  ::fcntl(err[0], F_SETFL, O_NONBLOCK);
  ::fcntl(in[1], F_SETFL, O_NONBLOCK);
  return std::make_unique<ProcessStream>(pid, in[1], out[0], err[0], label, io_timeout_ms);
}

} // namespace clsync::transport
