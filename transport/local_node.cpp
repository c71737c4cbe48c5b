// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// PLACEHOLDER: replaced by the local node work.
#include "transport/open.hpp"

namespace clsync::transport {
std::shared_ptr<Node> make_local_node(const std::string& name, std::vector<std::string>)
{
  throw TransportError(FailureKind::error, "local nodes are not built yet (" + name + ")");
}
} // namespace clsync::transport
