// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstdint>
#include <string>

namespace clsync::core {

/// Progress of a run, as a total so far. Sent often; sinks rate-limit what they show.
struct Progress {
  std::uint64_t bytes_done = 0;
  std::uint64_t bytes_total = 0;
  std::uint64_t tasks_done = 0;
  std::uint64_t tasks_total = 0;
  std::uint64_t tasks_failed = 0;
  /// Seconds since a byte last moved while tasks are running (a stopped sshd holding a task at
  /// its I/O deadline); 0 while bytes flow. Reported once a second while it grows.
  std::uint64_t stalled_s = 0;
};

/// One task changed state ("queued", "running", "finished", "failed", "rolled_back").
struct TaskEvent {
  std::string task;
  std::string chunk;
  std::string state;
  std::string source;       ///< "node:volume"
  std::string destination;  ///< "node:volume"
  std::uint64_t bytes = 0;
  std::string error;
};

/// The progress sink core/ reports to; core/ never prints. cli/ picks the terminal bar, the
/// NDJSON stream or nothing. Implementations must be thread-safe: the executor calls from
/// worker threads.
class Events {
public:
  virtual ~Events() = default;
  virtual void phase(const std::string& /*what*/) {}
  virtual void progress(const Progress& /*p*/) {}
  virtual void task(const TaskEvent& /*t*/) {}
  virtual void warning(const std::string& /*message*/) {}
};

/// A sink that drops everything (tests, --no-progress).
class NullEvents final : public Events {};

} // namespace clsync::core
