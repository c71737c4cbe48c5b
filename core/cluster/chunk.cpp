// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/cluster/inventory.hpp"

namespace clsync::core {

std::vector<std::pair<Name, std::string_view>> Chunk::partition() const
{
  std::vector<std::pair<Name, std::string_view>> out;
  std::string_view rest(key);
  // Past "<db>/": one part of the key per level.
  for (std::size_t slash = rest.find('/'); slash != rest.npos && out.size() < levels.size();
       slash = rest.find('/')) {
    rest.remove_prefix(slash + 1);
    out.emplace_back(levels[out.size()], rest.substr(0, rest.find('/')));
  }
  return out;
}

std::string Chunk::partition_path() const
{
  std::string out;
  for (const auto& [level, value] : partition()) {
    if (!out.empty()) {
      out += '/';
    }
    out += value;
  }
  return out;
}

} // namespace clsync::core
