// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// A network link for the benchmarks (`tc netem` is not available): a TCP proxy whose bytes per
// second, each direction, are shared by every connection through it, as on a real link.
//   clsync-bench-link LISTEN_ADDRESS TARGET_ADDRESS TARGET_PORT BYTES_PER_SECOND
// prints the port it listens on, then forwards until SIGTERM or SIGINT.
#include "tests/support/tcp_proxy.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

int main(int argc, char** argv)
{
  if (argc != 5) {
    std::fprintf(stderr, "usage: clsync-bench-link LISTEN_ADDRESS TARGET_ADDRESS TARGET_PORT "
                         "BYTES_PER_SECOND\n");
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  // Blocked before the proxy's threads start, so they inherit the mask and only sigwait sees
  // the signal.
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  try {
    clsync::test::ProxyBehaviour link;
    char* end = nullptr;
    link.rate = std::strtoull(argv[4], &end, 10);
    const int port = std::atoi(argv[3]);
    if (*argv[4] == '\0' || *end != '\0' || link.rate == 0 || port <= 0 || port > 65535) {
      std::fprintf(stderr, "clsync-bench-link: BYTES_PER_SECOND must be a whole number above 0 "
                           "and TARGET_PORT 1 to 65535 (got '%s', '%s')\n", argv[4], argv[3]);
      return 2;
    }
    link.shared_link = true;
    clsync::test::TcpProxy proxy(argv[1], argv[2], port, link);
    std::printf("%d\n", proxy.port());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    std::fprintf(stderr, "clsync-bench-link: %llu bytes carried\n",
                 static_cast<unsigned long long>(proxy.bytes()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clsync-bench-link: %s\n", e.what());
    return 1;
  }
  return 0;
}
