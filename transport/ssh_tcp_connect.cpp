// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/ssh_tcp_connect.hpp"

#include "transport/errors.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

namespace clsync::transport {

namespace {

using Clock = std::chrono::steady_clock;

struct AddrInfoFree {
  void operator()(addrinfo* a) const { freeaddrinfo(a); }
};

/// One address: the connected socket, or an invalid one with `err` set (0: out of time).
UniqueFd try_address(const addrinfo& a, Clock::time_point deadline, int& err)
{
  UniqueFd fd(::socket(a.ai_family, a.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a.ai_protocol));
  if (!fd) {
    err = errno;
    return {};
  }
  if (::connect(fd.get(), a.ai_addr, a.ai_addrlen) != 0 && errno != EINPROGRESS) {
    err = errno;
    return {};
  }
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      err = 0;
      return {};
    }
    pollfd p{fd.get(), POLLOUT, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      err = errno;
      return {};
    }
    if (n == 0) {
      continue; // the deadline check above ends it
    }
    socklen_t len = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
      err = errno;
    }
    if (err != 0) {
      return {};
    }
    break;
  }
  const int flags = ::fcntl(fd.get(), F_GETFL);
  const int yes = 1;
  // Keep-alives: dead peers on idle pooled connections are found by TCP too.
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0 ||
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes) != 0 ||
      ::setsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &yes, sizeof yes) != 0) {
    err = errno;
    return {};
  }
  return fd;
}

} // namespace

UniqueFd connect_tcp(const std::string& label, const std::string& host, int port,
                     std::chrono::milliseconds timeout)
{
  const auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    throw ConnectError(FailureKind::error,
                       label + ": cannot resolve host " + host + ": " +
                           (rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc)),
                       true);
  }
  const std::unique_ptr<addrinfo, AddrInfoFree> owned(found);
  int last_err = 0;
  bool refused = false;
  for (const addrinfo* a = found; a; a = a->ai_next) {
    int err = 0;
    if (UniqueFd fd = try_address(*a, deadline, err)) {
      return fd;
    }
    if (err == 0) {
      const auto s = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
      throw ConnectError(FailureKind::timeout,
                         label + ": connect timed out after " + std::to_string(s) + " s");
    }
    refused = refused || err == ECONNREFUSED;
    last_err = err;
  }
  if (refused) {
    throw ConnectError(FailureKind::error, label + ": connection refused", true);
  }
  throw ConnectError(FailureKind::error, label + ": cannot connect: " + std::strerror(last_err),
                     true);
}

} // namespace clsync::transport
