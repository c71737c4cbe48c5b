// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/support/topology_errors.hpp"

#include "core/cluster/topology.hpp"
#include "core/error.hpp"

#include <doctest/doctest.h>

namespace clsync::test {

std::string topology_error_of(const std::string& yaml)
{
  try {
    core::parse_topology(yaml, "t.yaml");
  } catch (const TopologyError& e) {
    CHECK(static_cast<int>(e.code()) == 2);
    return e.what();
  } catch (const std::exception& e) {
    return std::string("(wrong exception) ") + e.what();
  }
  return "(loaded)";
}

} // namespace clsync::test
