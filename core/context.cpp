// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/context.hpp"

#include "core/error.hpp"

namespace clsync::core {

const Topology& Context::topo() const
{
  if (!topology) {
    throw UsageError("this command needs a topology", "pass -c FILE or set CLSYNC_CONFIG");
  }
  return *topology;
}

} // namespace clsync::core
