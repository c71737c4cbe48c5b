// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/node.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

/// The node side of the agent protocol (transport/agent_protocol.hpp): `clsync agent` and the
/// static `clsync-agent-static` both call serve_agent on their stdin/stdout.
namespace clsync::transport {

/// Builds the node the agent serves from the roots the client's hello named.
using AgentNodeMaker =
    std::function<std::shared_ptr<Node>(const std::string &name, std::vector<std::string> roots)>;

/// Serves one client on `in_fd` (frames in) and `out_fd` (frames out) until the client closes
/// `in_fd`. Only frames are written to `out_fd`; diagnostics go to stderr. Requests naming a
/// volume or root that is not one of the hello's roots, or a key / relative path with `..`,
/// empty components or a leading '/', are refused (FailureKind::refused) without touching
/// the node. A hello naming a relative root, or a root that exists and is not a directory,
/// is refused (the reply carries the reason) and the agent exits; a missing root is served
/// (its scan reports it, as LocalNode does). By default the node is a LocalNode.
///
/// Returns the process exit code: 0 after a clean end of input, 1 on a protocol error or a
/// broken output, 2 when the hello was refused or its protocol version differs.
int serve_agent(int in_fd, int out_fd, AgentNodeMaker make_node = {});

} // namespace clsync::transport
