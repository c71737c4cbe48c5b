// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/cluster/inventory.hpp"

namespace clsync::core {

std::string Chunk::partition_path() const
{
  std::string out;
  for (const auto& [level, value] : partition) {
    if (!out.empty()) {
      out += '/';
    }
    out += value;
  }
  return out;
}

} // namespace clsync::core
