// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <span>

namespace clsync::transport {

/// Receives plain bytes (repository files, backup objects).
class ByteSink {
public:
  virtual ~ByteSink() = default;
  virtual void write(std::span<const char> data) = 0;
};

} // namespace clsync::transport
