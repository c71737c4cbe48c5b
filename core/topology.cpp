// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// PLACEHOLDER: replaced by the topology work.
#include "core/topology.hpp"

#include "core/error.hpp"

namespace clsync::core {
Topology load_topology(const std::filesystem::path&) { throw NotImplemented("topology"); }
Topology parse_topology(std::string_view, const std::string&) { throw NotImplemented("topology"); }
const NodeSpec* Topology::find_node(std::string_view name) const
{
  for (const auto& n : nodes) {
    if (n.name == name) {
      return &n;
    }
  }
  return nullptr;
}
} // namespace clsync::core
