// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <chrono>
#include <functional>
#include <string>

/// The persistent agent (`--agent-persist`): an agent started over an exec channel may leave a
/// daemon behind that serves later connections on a unix socket, which clients reach through
/// a `direct-streamlocal` SSH channel: no login shell, no process start per run.
///
/// The daemon has exactly the rights of the exec agent (same user). Its socket lives in a
/// private directory ($XDG_RUNTIME_DIR/clsync, else /tmp/clsync-<uid>), created 0700 and
/// used only when it is a real directory (not a symlink) owned by the agent's uid with no group
/// or other access. The socket is named for the protocol version and this agent's build, so a
/// newer clsync never talks to an old daemon. The daemon accepts only peers of its own uid
/// (SO_PEERCRED) and serves each connection in a child process of its own, as an exec agent
/// would; it exits after `idle` without any connection, and when its socket or its binary is
/// replaced.
namespace clsync::transport {

/// Serves one accepted connection (in the daemon's child); returns its exit code.
using ServeConnection = std::function<int(int fd)>;

/// The directory for this user's agent sockets, checked (and created 0700 when missing);
/// empty when it cannot be used safely (`why` says why).
std::string agent_socket_dir(std::string& why);

/// The socket path of this build's daemon in `dir`.
std::string agent_socket_path(const std::string& dir);

/// Makes sure a daemon of this build listens, starting one when none answers; returns its
/// socket path, or "" when persistence is not possible here (`why` says why). Call from a
/// process with one thread: it forks. A socket of this name left by a dead daemon is removed
/// only after a failed connect and when it is a socket owned by us; anything else in its place
/// (a file, a symlink, another user's socket) is left alone and no daemon starts.
std::string ensure_agent_daemon(std::chrono::seconds idle, const ServeConnection& serve,
                                std::string& why);

/// The socket a daemon serving this process listens on; "" outside a daemon.
const std::string& current_daemon_socket();

} // namespace clsync::transport
