// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

/// A small TCP proxy for network-fault tests (`tc netem` is not available): it listens on
/// `listen_address` (a free port) and forwards every connection to `target_address:target_port`
/// (a harness sshd), optionally throttled, stalled or reset. Real sockets, real kernel TCP:
/// the client sees exactly what a slow, hung or broken link shows it.
namespace clsync::test {

struct ProxyBehaviour {
  /// Bytes per second per direction of each connection; 0 is unlimited.
  std::uint64_t rate = 0;
  /// `rate` is the whole link's: every connection shares each direction's bytes per second, as
  /// on a real network link (bench/link_proxy.cpp), and the proxy's sockets send at once
  /// (TCP_NODELAY, as ssh's own do) so it adds no delay of its own to small packets.
  bool shared_link = false;
  /// A connection that has carried this many bytes (both directions) stops forwarding but
  /// stays open, reading and dropping what arrives: a hung link. 0: never.
  std::uint64_t stall_after = 0;
  /// A connection that has carried this many bytes is closed with an RST on both sides (a
  /// reset link). 0: never.
  std::uint64_t reset_after = 0;
  /// How many connections may get the stall or reset; the later ones pass untouched. -1: all.
  int max_faults = -1;
};

class TcpProxy {
public:
  /// Starts listening at once; throws std::runtime_error when it cannot (the test fails).
  TcpProxy(std::string listen_address, std::string target_address, int target_port,
           ProxyBehaviour behaviour);
  /// Stops accepting, closes every connection and joins the threads.
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  const std::string& address() const { return m_address; }
  int port() const { return m_port; }
  /// Connections accepted so far.
  int connections() const { return m_connections.load(); }
  /// Connections stalled or reset so far.
  int faults() const { return m_faults.load(); }
  /// Bytes forwarded so far, every connection and direction.
  std::uint64_t bytes() const { return m_bytes.load(); }

private:
  void accept_loop();
  void pump(int client);
  /// True when this connection, having carried `carried` bytes, is to be faulted now.
  bool take_fault(std::uint64_t carried, std::uint64_t threshold);
  /// When the bytes just read on `side` have passed at `rate` (see ProxyBehaviour::shared_link).
  std::chrono::steady_clock::time_point take_link_time(std::chrono::steady_clock::time_point& own_free,
                                                       int side, ssize_t n);

  std::string m_address;
  std::string m_target_address;
  int m_target_port;
  ProxyBehaviour m_behaviour;
  int m_listen_fd = -1;
  int m_port = 0;
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_connections{0};
  std::atomic<int> m_faults{0};
  std::atomic<std::uint64_t> m_bytes{0};
  std::mutex m_link_mutex;
  std::chrono::steady_clock::time_point m_link_free[2]; ///< shared_link: when each direction is free
  std::thread m_acceptor;
  std::vector<std::thread> m_pumps; ///< touched only by the acceptor thread, then the destructor
};

} // namespace clsync::test
