// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/run/task_steps.hpp"

#include <memory>
#include <string>
#include <vector>

/// One attempt of a `write` task (fan-out, core/run/fan_out.hpp), step by step (SPEC §5).
/// Internal to core/run/task_steps.cpp, which retries and reports it like any task.
namespace clsync::core {

/// A destination failed (and was cleaned up) while others may have committed: a final failure.
struct FanOutFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class FanOutAttempt {
public:
  FanOutAttempt(TaskEnv& env, const Move& move, const std::string& id);
  /// Writes every target not done yet: intents, one read streamed to every writer, checks,
  /// commits (no_replace, or exchange for a target marked replace, its old version trashed then
  /// removed), intents removed. Throws TransferCancelled / StopBeforeCommit-like errors before
  /// any commit, what the source's read throws, or FanOutFailed naming each failed destination
  /// (after the others committed and every intent was removed).
  void run();
  /// True while a committed target still has work left (never: commits finish in run()).
  bool committed() const { return false; }
  /// Undoes what did not commit: writers aborted, temps removed, intents removed. Best effort.
  void roll_back() noexcept;
  void remove_intents() noexcept;
  /// Destinations committed so far.
  int written() const;

private:
  void check_stop();
  void write_intents();
  void commit(std::size_t i);

  TaskEnv& m_env;
  const Move& m_move;
  const std::string& m_id;
  std::vector<std::unique_ptr<transport::ObjectWriter>> m_writers;
  std::vector<char> m_done;   ///< target committed (or already equal)
  std::vector<char> m_temp;   ///< target's temp may exist
  std::vector<char> m_intent; ///< target's intent written
};

/// Thrown by FanOutAttempt when a stop request arrives before a commit: roll back.
struct FanOutStopped : std::runtime_error {
  FanOutStopped() : std::runtime_error("interrupted before commit") {}
};

} // namespace clsync::core
