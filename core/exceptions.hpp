// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <exception>
#include <string>

namespace clsync::core {

/// The message of the exception being handled, for a `catch (...)` on a worker thread or at the
/// catch site: what() of a std::exception, else a sentence saying an unknown exception was
/// thrown (never rethrows). Call only inside a catch block.
inline std::string current_exception_text()
{
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an unexpected exception not derived from std::exception";
  }
}

} // namespace clsync::core
