// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// The statically linked agent (`clsync-agent-static`) that --deploy-agent uploads to nodes with
// an older C library: only the agent, no CLI11, spdlog or libssh. It answers `agent` (the
// command line clsync runs on a node) and --version.
#include "transport/agent_server.hpp"

#include <cstdio>
#include <cstring>
#include <unistd.h>

#ifndef CLSYNC_VERSION
#define CLSYNC_VERSION "0.0.0"
#endif

int main(int argc, char **argv) {
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("clsync-agent %s\n", CLSYNC_VERSION);
    return 0;
  }
  if (argc != 2 || std::strcmp(argv[1], "agent") != 0) {
    std::fprintf(stderr, "usage: %s agent\n  (the clsync agent; started by clsync over SSH)\n",
                 argv[0]);
    return 2;
  }
  return clsync::transport::serve_agent(STDIN_FILENO, STDOUT_FILENO) == 0 ? 0 : 1;
}
