// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/support/tcp_proxy.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace clsync::test {
namespace proxy_detail {

sockaddr_in proxy_addr_of(const std::string& address, int port)
{
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1) {
    throw std::runtime_error("tcp proxy: bad address " + address);
  }
  return a;
}

/// Closes `fd` so that the peer sees a reset, not an orderly end.
void close_with_reset(int fd)
{
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

} // namespace proxy_detail

using namespace proxy_detail;

TcpProxy::TcpProxy(std::string listen_address, std::string target_address, int target_port,
                   ProxyBehaviour behaviour)
    : m_address(std::move(listen_address)), m_target_address(std::move(target_address)),
      m_target_port(target_port), m_behaviour(behaviour)
{
  m_listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(m_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = proxy_addr_of(m_address, 0);
  if (m_listen_fd < 0 || ::bind(m_listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(m_listen_fd, 64) != 0) {
    throw std::runtime_error("tcp proxy: cannot listen on " + m_address + ": " +
                             std::strerror(errno));
  }
  socklen_t len = sizeof a;
  ::getsockname(m_listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
  m_port = ntohs(a.sin_port);
  m_acceptor = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy()
{
  m_stop = true;
  m_acceptor.join();
  for (auto& t : m_pumps) {
    t.join();
  }
  ::close(m_listen_fd);
}

void TcpProxy::accept_loop()
{
  while (!m_stop) {
    pollfd p{m_listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) {
      continue;
    }
    int client = ::accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      continue;
    }
    ++m_connections;
    m_pumps.emplace_back([this, client] { pump(client); });
  }
}

bool TcpProxy::take_fault(std::uint64_t carried, std::uint64_t threshold)
{
  if (threshold == 0 || carried < threshold) {
    return false;
  }
  if (m_behaviour.max_faults < 0) {
    ++m_faults;
    return true;
  }
  int n = m_faults.load();
  while (n < m_behaviour.max_faults) {
    if (m_faults.compare_exchange_weak(n, n + 1)) {
      return true;
    }
  }
  return false;
}

std::chrono::steady_clock::time_point TcpProxy::take_link_time(
    std::chrono::steady_clock::time_point& own_free, int side, ssize_t n)
{
  // Keep the direction at `rate` (no credit saved up while idle): wait out its bytes, on this
  // connection's own clock or, for a shared link, on the link's.
  const auto cost = std::chrono::microseconds(static_cast<std::uint64_t>(n) * 1'000'000 /
                                              m_behaviour.rate);
  const auto now = std::chrono::steady_clock::now();
  if (!m_behaviour.shared_link) {
    own_free = std::max(own_free, now) + cost;
    return own_free;
  }
  // A link sends without pause while it has bytes: the time a pump loses between its wake-up
  // and its next write (a few tens of microseconds a 64 KiB step) is credited back, up to
  // k_link_queue; without it one stream got a third less than the rate (84 of 125 MB/s).
  constexpr auto k_link_queue = std::chrono::milliseconds(5);
  std::lock_guard lock(m_link_mutex);
  m_link_free[side] = std::max(m_link_free[side], now - k_link_queue) + cost;
  return m_link_free[side];
}

void TcpProxy::pump(int client)
{
  int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = proxy_addr_of(m_target_address, m_target_port);
  if (server < 0 || ::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close_with_reset(client);
    if (server >= 0) {
      ::close(server);
    }
    return;
  }
  if (m_behaviour.shared_link) {
    int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  std::uint64_t carried = 0;
  bool stalled = false;
  bool decided = false; // past its threshold without a fault: passes untouched from then on
  std::chrono::steady_clock::time_point next_free[2] = {std::chrono::steady_clock::now(),
                                                        std::chrono::steady_clock::now()};
  std::vector<char> buf(64 * 1024);
  int fds[2] = {client, server};
  while (!m_stop) {
    pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    if (::poll(p, 2, 100) <= 0) {
      continue;
    }
    bool closed = false;
    for (int side = 0; side < 2 && !closed; ++side) {
      if (!(p[side].revents & (POLLIN | POLLHUP | POLLERR))) {
        continue;
      }
      std::size_t want = buf.size();
      if (m_behaviour.rate != 0) {
        want = std::min<std::size_t>(want, std::max<std::uint64_t>(1, m_behaviour.rate / 20));
      }
      ssize_t n = ::read(fds[side], buf.data(), want);
      if (n <= 0) {
        closed = true;
        break;
      }
      if (stalled) {
        continue; // a hung link: what arrives goes nowhere
      }
      carried += static_cast<std::uint64_t>(n);
      if (!decided && take_fault(carried, m_behaviour.reset_after)) {
        close_with_reset(client);
        close_with_reset(server);
        return;
      }
      if (!decided && take_fault(carried, m_behaviour.stall_after)) {
        stalled = true;
        continue;
      }
      const std::uint64_t threshold = std::max(m_behaviour.reset_after, m_behaviour.stall_after);
      decided = decided || (threshold != 0 && carried >= threshold);
      const char* q = buf.data();
      for (ssize_t left = n; left > 0;) {
        ssize_t w = ::write(fds[1 - side], q, static_cast<std::size_t>(left));
        if (w <= 0) {
          if (w < 0 && errno == EINTR) {
            continue;
          }
          closed = true;
          break;
        }
        q += w;
        left -= w;
      }
      m_bytes += static_cast<std::uint64_t>(n);
      if (m_behaviour.rate != 0) {
        std::this_thread::sleep_until(take_link_time(next_free[side], side, n));
      }
    }
    if (closed) {
      break;
    }
  }
  ::close(client);
  ::close(server);
}

} // namespace clsync::test
