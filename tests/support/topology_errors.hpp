// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <string>

namespace clsync::test {

/// The message core::parse_topology throws for `yaml` (read as file "t.yaml"): a TopologyError's
/// text (CHECKed to map to exit code 2), "(wrong exception) <what>" for any other exception,
/// "(loaded)" when it loads. Shared by the topology unit tests.
std::string topology_error_of(const std::string& yaml);

} // namespace clsync::test
