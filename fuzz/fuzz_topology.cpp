// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Fuzz target: the topology loader (core/cluster/topology.cpp) on arbitrary YAML text. A bad
// file must end in TopologyError (exit 2 with FILE:LINE:COL); anything else escaping — a
// yaml-cpp exception, std::out_of_range, a crash — is a finding.
#include "core/cluster/topology.hpp"
#include "core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto topo = clsync::core::parse_topology(text, "fuzz.yaml");
    // A loaded topology holds what the loader promises.
    if (topo.replication < 1 || topo.nodes.empty()) {
      std::abort();
    }
    for (const auto& db : topo.databases) {
      if (topo.replication_for(db.name) < 1) {
        std::abort();
      }
    }
  } catch (const clsync::TopologyError& e) {
    if (e.code() != clsync::ExitCode::usage || std::string_view(e.what()).find("fuzz.yaml:") != 0) {
      std::abort(); // documented: "FILE:LINE:COL: …", exit 2
    }
  }
  return 0;
}
