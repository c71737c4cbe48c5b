// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Node's defaults: the batched scan, for nodes that only know how to scan at once, and the
// re-count's combined requests, for nodes that answer them one by one.
#include "transport/node.hpp"

namespace clsync::transport {

NodeScan Node::scan_batched(const ScanSpec& spec, const ReplicaBatchSink& sink)
{
  NodeScan scan = this->scan(spec);
  sink(scan.replicas);
  std::vector<ReplicaScan>().swap(scan.replicas);
  return scan;
}

std::vector<std::string> Node::volumes_holding(const std::string& key)
{
  std::vector<std::string> out;
  for (auto& l : locate_chunk(key)) {
    out.push_back(std::move(l.volume));
  }
  return out;
}

Node::PlacedHold
Node::place_hold_fingerprint(const std::string& volume, const std::string& key, const std::string& record)
{
  return {place_hold(volume, key, record), std::nullopt};
}

} // namespace clsync::transport
