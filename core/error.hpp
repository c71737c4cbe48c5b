// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <stdexcept>
#include <string>

namespace clsync {

/// Process exit codes (SPEC §9). Listed under EXIT STATUS in every --help and man page.
enum class ExitCode : int {
  ok = 0,
  failed = 1,       ///< nothing done, or everything failed
  usage = 2,        ///< bad options or topology
  partial = 3,      ///< some tasks failed, or some nodes unreachable for status
  lock_held = 4,    ///< another run holds a lease
  unhealthy = 5,    ///< status --check found unhealthy chunks
  interrupted = 130 ///< SIGINT or SIGTERM
};

/// Base of every error core/ throws. `what()` is the message, `hint()` what to do about it.
class Error : public std::runtime_error {
public:
  Error(ExitCode code, const std::string& what, std::string hint = {})
      : std::runtime_error(what), m_code(code), m_hint(std::move(hint)) {}
  ExitCode code() const noexcept { return m_code; }
  const std::string& hint() const noexcept { return m_hint; }

private:
  ExitCode m_code;
  std::string m_hint;
};

/// Bad options or arguments: exit 2.
class UsageError : public Error {
public:
  explicit UsageError(const std::string& what, std::string hint = {})
      : Error(ExitCode::usage, what, std::move(hint)) {}
};

/// A topology file that does not load or validate: exit 2. The message starts with
/// "FILE:LINE:COL: ".
class TopologyError : public Error {
public:
  explicit TopologyError(const std::string& what, std::string hint = {})
      : Error(ExitCode::usage, what, std::move(hint)) {}
};

/// Another run holds a lease on a node: exit 4. The message names the holder.
class LockHeld : public Error {
public:
  explicit LockHeld(const std::string& what, std::string hint = {})
      : Error(ExitCode::lock_held, what, std::move(hint)) {}
};

/// The run was interrupted by SIGINT or SIGTERM: exit 130.
class Interrupted : public Error {
public:
  explicit Interrupted(const std::string& what = "interrupted")
      : Error(ExitCode::interrupted, what) {}
};

/// Not built yet: exit 1 with a message saying so.
class NotImplemented : public Error {
public:
  explicit NotImplemented(const std::string& command)
      : Error(ExitCode::failed, "'" + command + "' is not built yet",
              "see the project's issues for its progress") {}
};

} // namespace clsync
