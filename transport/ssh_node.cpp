// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// PLACEHOLDER: replaced by the SSH work.
#include "transport/open.hpp"

namespace clsync::transport {
std::shared_ptr<Node> make_ssh_node(const SshTarget& t)
{
  throw TransportError(FailureKind::error, "SSH nodes are not built yet (" + t.name + ")");
}
} // namespace clsync::transport
