// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/run/task_steps.hpp"

#include <memory>
#include <string>
#include <vector>

/// One attempt of a `write` task (fan-out, core/run/fan_out.hpp), step by step (SPEC §5).
/// Internal to core/run/task_steps.cpp, which retries and reports it like any task.
///
/// When "all or nothing" applies. A task with at least one target marked `replace` (it swaps an
/// existing replica: restore --force, sync-online) is a *commit set*: its destinations end all
/// new or all old, new targets of the same task included. A task whose targets are all new (the
/// chunk is new to the destination) is not: each target commits on its own, and a chunk that
/// reached fewer nodes is under-replicated until the next run completes it.
///
/// The commit set protocol, participants being the task's targets in plan order 0..k-1:
/// 1. prepare: an intent `{"set": true, "state": "prepared", targets: [...]}` is written on every
///    participant (in order), then one read is streamed into every temp, each temp verified
///    (content hash) and fsynced. Any participant failing → every temp and intent removed: all
///    old. The old versions are not touched.
/// 2. mark: each participant's intent is rewritten (atomically, by rename) with
///    `"state": "committed"` and the content hash, in order 0..k-1.
///    The rule: the set is committed when every participant's intent says so. Marks are written
///    in order and removed (step 4) in the same order, so that is exactly when the LAST
///    participant's intent says "committed": before its mark some intent still says "prepared";
///    after it, intents only disappear from the front. Recovery decides from the last
///    participant's intent; when that node cannot be reached, a visible "prepared" intent means
///    not committed, and anything else is left alone (never guessed).
/// 3. exchange: each participant's temp is committed (RENAME_EXCHANGE for a replace target, the
///    old version going to `.clsync-trash-<task>`; RENAME_NOREPLACE for a new one), in order.
///    Past the mark nothing is rolled back: a failure is retried, or left to the next run's
///    recovery, which finishes it.
/// 4. cleanup: after every exchange, each trash (the replaced old version: the replica count is
///    unchanged, the new version stands in its place) is removed, then the intents in order.
/// A roll back removes every temp first, then the intents in order 0..k-1 (the last one,
/// "prepared", goes last), so that no moment looks committed; it stops at the first intent it
/// cannot remove (a node down), so the last participant's intent outlives every other one:
/// recovery reads a "committed" intent next to a missing last one as "the last one is out of
/// sight" (left alone), never as "rolled back".
namespace clsync::core {

/// A destination failed (and was cleaned up) while others may have committed: a final failure.
struct FanOutFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class FanOutAttempt {
public:
  FanOutAttempt(TaskEnv& env, const Move& move, const std::string& id);
  /// Writes every target not done yet. Not a commit set: intents, one read streamed to every
  /// writer, checks, commits (no_replace), intents removed; throws FanOutFailed naming each
  /// failed destination after the others committed and every intent was removed. A commit set
  /// (see above): all or nothing; throws FanOutFailed "all old" when a participant fails before
  /// the commit point, after rolling back. Both throw FanOutStopped / TransferCancelled, or what
  /// the source's read throws, before any commit. A call after committed() resumes the set.
  void run();
  /// True when a commit set passed its commit point and still has work left (run() again, or
  /// the next run's recovery, finishes it; never roll back).
  bool committed() const { return m_set_committed && !m_set_finished; }
  /// Undoes what did not commit: writers aborted, temps removed, intents removed. Best effort.
  /// Does nothing to a commit set past its commit point.
  void roll_back() noexcept;
  void remove_intents() noexcept;
  /// Destinations committed so far.
  int written() const;

private:
  void check_stop();
  void write_intents();
  void commit(std::size_t i);
  /// Opens, streams, finishes: the failures (each naming its destination) of every target not
  /// done yet; targets that did not fail have a verified, fsynced temp.
  std::vector<std::string> stream_to_targets(std::vector<std::size_t>& ready);
  void run_independent();
  // A commit set, core/run/fan_out_set.cpp.
  void run_set();
  std::string set_record(const char* state) const;
  void prepare_set();
  void mark_set();
  void exchange_set();
  void exchange_one(std::size_t i);
  void clean_up_set();
  [[noreturn]] void fail_set(const std::vector<std::string>& failures, const std::string& after);

  TaskEnv& m_env;
  const Move& m_move;
  const std::string& m_id;
  std::vector<std::unique_ptr<transport::ObjectWriter>> m_writers;
  std::vector<char> m_done;        ///< target committed (or already equal)
  std::vector<char> m_temp;        ///< target's temp may exist
  std::vector<char> m_intent;      ///< target's intent written
  bool m_set = false;              ///< any target is a replace: all or nothing
  bool m_set_committed = false;    ///< every participant's intent is marked committed
  bool m_set_finished = false;     ///< exchanged and cleaned up
  std::string m_content;           ///< the content hash every target verified
  std::vector<char> m_tried;       ///< exchange of target i attempted (its reply may be lost)
  std::vector<std::string> m_late; ///< participants that could not take the new version
};

/// Thrown by FanOutAttempt when a stop request arrives before a commit: roll back.
struct FanOutStopped : std::runtime_error {
  FanOutStopped() : std::runtime_error("interrupted before commit") {}
};

} // namespace clsync::core
