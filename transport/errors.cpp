// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/errors.hpp"

namespace clsync::transport {

const char* to_string(FailureKind kind) noexcept
{
  switch (kind) {
  case FailureKind::error: return "error";
  case FailureKind::timeout: return "timeout";
  case FailureKind::auth: return "auth";
  case FailureKind::host_key: return "host_key";
  case FailureKind::not_found: return "not_found";
  case FailureKind::refused: return "refused";
  case FailureKind::no_space: return "no_space";
  }
  return "error";
}

} // namespace clsync::transport
