// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Node's default batched scan, for nodes that only know how to scan at once.
#include "transport/node.hpp"

namespace clsync::transport {

NodeScan Node::scan_batched(const ScanSpec& spec, const ReplicaBatchSink& sink)
{
  NodeScan scan = this->scan(spec);
  sink(scan.replicas);
  std::vector<ReplicaScan>().swap(scan.replicas);
  return scan;
}

} // namespace clsync::transport
