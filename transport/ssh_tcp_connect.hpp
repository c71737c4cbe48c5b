// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/posix_io.hpp"

#include <chrono>
#include <string>

/// The TCP connection under an SSH session, opened by clsync rather than by libssh: it is the
/// first thing a connect does, so that the server's sshd starts (accepts, forks, re-executes
/// itself: most of a cold no-change round's wait, bench/README.md) while libssh sets up the
/// session and reads the identity key, instead of after.
namespace clsync::transport {

/// Connects to `host` (a name or an address; every address it resolves to is tried in turn)
/// port `port` within `timeout`, with TCP_NODELAY set (libssh moves bulk data an order of
/// magnitude slower without it), SO_KEEPALIVE set and the socket left blocking. Throws ConnectError naming
/// `label`: timeout ("connect timed out after N s"), or error, retryable ("connection
/// refused", "cannot resolve host …", "cannot connect: …").
UniqueFd connect_tcp(const std::string& label, const std::string& host, int port,
                     std::chrono::milliseconds timeout);

} // namespace clsync::transport
