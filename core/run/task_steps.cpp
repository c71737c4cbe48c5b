// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/task_steps.hpp"

#include "core/run/fan_out_task.hpp"

#include "core/exceptions.hpp"
#include "core/fault.hpp"
#include "core/json_names.hpp"
#include "core/plan/replica_planner.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <system_error>
#include <thread>

namespace clsync::core {
namespace {

using transport::CommitMode;
using transport::CommitOutcome;
using transport::TransportError;

/// A final failure of one task (no retry).
struct TaskFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// The source changed while it was copied: the copy is dropped and the task tried again.
struct SourceChanged : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// A stop request arrived before the commit: roll back.
struct StopBeforeCommit : std::runtime_error {
  StopBeforeCommit() : std::runtime_error("interrupted before commit") {}
};


/// One attempt of one task. Keeps what it created so that a failure before the commit can be
/// undone, and knows when the commit happened (after which nothing is undone).
class Attempt {
public:
  Attempt(TaskEnv& env, const Move& move, const std::string& id)
      : m_env(env), m_move(move), m_id(id), m_nodes(*env.ctx.nodes)
  {
    if (move.kind == MoveKind::write) {
      m_fan = std::make_unique<FanOutAttempt>(env, move, id);
    }
  }

  void run()
  {
    switch (m_move.kind) {
    case MoveKind::drop_duplicate:
      drop_duplicate();
      return;
    case MoveKind::write:
      m_fan->run();
      return;
    case MoveKind::remove:
      remove_replica();
      return;
    case MoveKind::move:
    case MoveKind::copy:
      if (m_move.from.node == m_move.to.node) {
        same_node();
      } else {
        across_nodes();
      }
      return;
    }
  }

  /// A commit set past its commit point counts as committed: finished by retrying, never
  /// rolled back (core/run/fan_out_task.hpp).
  bool committed() const { return m_fan ? m_fan->committed() : m_committed; }
  int targets_written() const { return m_fan ? m_fan->written() : 0; }
  const std::string& transfer() const { return m_transfer; }
  const std::string& transfer_note() const { return m_transfer_note; }
  bool placed_new() const { return m_placed_new; }

  /// Undoes an attempt that did not commit: temp removed, intents removed. Best effort: what
  /// cannot be removed now is a leftover for the next run's recovery.
  void roll_back() noexcept
  {
    if (m_fan) {
      m_fan->roll_back();
      return;
    }
    if (m_writer) {
      m_writer->abort();
      m_writer.reset();
    }
    if (m_temp_started) {
      try {
        m_nodes.get(m_move.to.node)->remove_task_dirs(m_move.to.volume, m_id);
      } catch (...) {
      }
    }
    remove_intents();
  }

  void remove_intents() noexcept
  {
    if (m_fan) {
      m_fan->remove_intents();
    }
    for (const auto& p : m_intents) {
      try {
        m_nodes.get(p.node)->remove_intent(p.volume, m_id);
      } catch (...) {
      }
    }
    m_intents.clear();
  }

private:
  void check_stop()
  {
    if (m_env.ctx.stopping()) {
      throw StopBeforeCommit();
    }
  }

  std::string source_fingerprint(transport::Node& src)
  {
    std::string fp = src.fingerprint(m_move.from.volume, m_move.chunk);
    if (fp.empty()) {
      throw TaskFailed("the source replica " + m_move.chunk + " on " + place_str(m_move.from) +
                       " is gone");
    }
    if (!m_move.fingerprint.empty() && fp != m_move.fingerprint) {
      throw TaskFailed("the source replica changed since the plan was made; plan again");
    }
    return fp;
  }

  void write_intents(bool on_source)
  {
    const std::string rec = intent_record(m_env.settings.run.run_id, m_id, m_move);
    const bool both = on_source && !(m_move.from == m_move.to);
    // The two records are independent, and both are durable before anything else of the task
    // happens: on two nodes, the source over SSH, they are written at once (the task waits for
    // the slower one).
    auto write_source = [&] {
      m_nodes.get(m_move.from.node)->write_intent(m_move.from.volume, m_id, rec);
    };
    std::future<void> source;
    if (both && m_move.from.node != m_move.to.node &&
        is_remote_node(m_env.ctx, m_move.from.node)) {
      try {
        source = std::async(std::launch::async, write_source);
      } catch (const std::system_error&) {
        // No thread: written after the destination's, as before.
      }
    }
    std::exception_ptr failed;
    try {
      m_nodes.get(m_move.to.node)->write_intent(m_move.to.volume, m_id, rec);
      m_intents.push_back(m_move.to);
    } catch (...) {
      failed = std::current_exception();
    }
    try {
      if (source.valid()) {
        source.get();
        m_intents.push_back(m_move.from);
      } else if (both && !failed) {
        write_source();
        m_intents.push_back(m_move.from);
      }
    } catch (...) {
      failed = failed ? failed : std::current_exception();
    }
    if (failed) {
      std::rethrow_exception(failed);
    }
    fault_point("after_intent");
  }

  /// SPEC §5 step 3: the commit. `already_equal` counts as done; a different chunk in the way
  /// fails the task.
  void commit(transport::Node& dst)
  {
    check_stop();
    auto outcome = dst.commit_chunk(m_move.to.volume, m_id, m_move.chunk, CommitMode::no_replace);
    m_temp_started = false;
    if (outcome == CommitOutcome::exists_different) {
      try {
        dst.remove_task_dirs(m_move.to.volume, m_id);
      } catch (...) {
      }
      throw TaskFailed("a different chunk " + m_move.chunk + " is already on " +
                       place_str(m_move.to) + "; left alone");
    }
    m_placed_new = outcome == CommitOutcome::placed;
    m_committed = true;
    fault_point("after_commit");
  }

  /// SPEC §5 step 4 for a move: trash the source, compare the trash's fingerprint (taken by
  /// the node after the rename, so every write up to it is seen) with the one the task read the
  /// source with, then remove the trash. A changed source is renamed back and the new copy
  /// removed instead; the source is never lost.
  void remove_source(transport::Node& src, transport::Node& dst, const std::string& fp0)
  {
    if (!m_trash_checked) {
      if (m_trash_tried && src.fingerprint(m_move.from.volume, m_move.chunk).empty()) {
        // A retry after a trash whose reply was lost: the source sits unchecked in our trash.
        // Put it back so that trashing it again yields the fingerprint.
        src.untrash_chunk(m_move.from.volume, m_id, m_move.chunk);
      }
      if (m_survivors.valid()) {
        m_survivors.wait();
      }
      // Whatever the plan said and whatever the commit found, the source goes only when the
      // chunk keeps its count without it, counted fresh and held (core/run/recount.hpp).
      m_env.recount->remove_guarded(m_move.chunk, m_move.from, m_content, m_id, [&] {
        m_trash_tried = true;
        const std::string trashed = src.trash_chunk(m_move.from.volume, m_move.chunk, m_id);
        fault_point("after_trash");
        if (trashed != fp0) {
          keep_changed_source(src, dst);
        }
        m_trash_checked = true;
      });
    }
    remove_trash(src);
  }

  /// The trash of a checked removal on `m_move.from` goes: to the run's remover with the intent
  /// there (trash_remover.hpp says why that order is safe), or removed here when there is none.
  void remove_trash(transport::Node& node)
  {
    if (!m_env.remover) {
      node.remove_task_dirs(m_move.from.volume, m_id);
      return;
    }
    if (m_trash_handed) {
      return;  // a retry of the steps after it
    }
    std::erase(m_intents, m_move.from);
    m_env.remover->remove_later(m_move.from, m_id, true);
    m_trash_handed = true;
  }

  /// The source changed up to its rename to trash: restore it, remove the copy this task placed
  /// (trashed under the task, then removed) and fail the task as not committed.
  [[noreturn]] void keep_changed_source(transport::Node& src, transport::Node& dst)
  {
    src.untrash_chunk(m_move.from.volume, m_id, m_move.chunk);
    std::string what = "the source is kept";
    if (m_placed_new) {
      const bool removed = m_env.recount->remove_own(m_move.chunk, m_move.to, m_id, [&] {
        try {
          dst.trash_chunk(m_move.to.volume, m_move.chunk, m_id);
        } catch (const TransportError& e) {
          // Already trashed by an attempt whose reply was lost.
          if (e.kind() != transport::FailureKind::not_found) {
            throw;
          }
        }
        dst.remove_task_dirs(m_move.to.volume, m_id);
      });
      what += removed ? ", the copy on " + place_str(m_move.to) + " removed"
                      : ", the copy on " + place_str(m_move.to) +
                            " kept (another removal holds it)";
    }
    remove_intents();
    // Nothing of this task is left to complete: report it as a plain failure.
    m_committed = false;
    throw TaskFailed("source changed during the move; " + what);
  }

  /// The last step: the intents go (SPEC §5). With a remover they are its work, off the task's
  /// slots: every replica is in place and durable, so an intent only explains what recovery
  /// would find if the run were killed now, and a finished task leaves nothing it needs.
  void finish_intents()
  {
    fault_point("before_intent_removal");
    for (const auto& p : m_intents) {
      if (m_env.remover) {
        m_env.remover->remove_later(p, m_id, false);
      } else {
        m_nodes.get(p.node)->remove_intent(p.volume, m_id);
      }
    }
    m_intents.clear();
  }

  void across_nodes()
  {
    auto src = m_nodes.get(m_move.from.node);
    auto dst = m_nodes.get(m_move.to.node);
    if (!m_committed) {
      m_fp0 = source_fingerprint(*src);
      if (m_move.kind == MoveKind::move && !m_survivors.valid()) {
        // The survivors the re-count will verify are read on their nodes while the copy runs
        // (core/run/recount.hpp: prefetch decides nothing; the re-count still checks them
        // fresh under its holds).
        m_survivors = m_env.recount->prefetch(m_move.chunk, {m_move.from, m_move.to});
      }
      write_intents(m_move.kind == MoveKind::move);
      m_temp_started = true;
      transport::ChunkDigest read, written;
      if (!pull_direct(*dst, read, written)) {
        m_transfer = "relay";
        m_writer = dst->write_chunk(m_move.to.volume, m_id);
        TeeSink tee(
            *m_writer, m_env.limits, {m_move.from.node, m_move.to.node},
            [this] { return m_env.ctx.stopping(); }, m_env.on_bytes);
        // File data crossed this process (holes travel as their length), a failed attempt's too.
        struct CountRelayed {
          const TeeSink& tee;
          TransferCounters* counters;
          ~CountRelayed()
          {
            if (counters) {
              counters->relayed += tee.bytes();
            }
          }
        } count_relayed{tee, m_env.counters};
        read = src->read_chunk(m_move.from.volume, m_move.chunk, tee);
        written = m_writer->finish();
        m_writer.reset();
      }
      if (read.content_hash != written.content_hash) {
        throw TaskFailed("content hash mismatch: read " + read.content_hash + ", wrote " +
                         written.content_hash);
      }
      m_content = read.content_hash;
      fault_point("after_copy");
      std::string fp1 = src->fingerprint(m_move.from.volume, m_move.chunk);
      if (fp1 != m_fp0 || (!read.fingerprint.empty() && read.fingerprint != m_fp0)) {
        throw SourceChanged("the source changed while it was copied");
      }
      commit(*dst);
      if (m_placed_new) {
        m_env.recount->remember(m_move.to, m_move.chunk, written.fingerprint,
                                written.content_hash);
      }
    }
    if (m_move.kind == MoveKind::move) {
      remove_source(*src, *dst, m_fp0);
    }
    finish_intents();
  }

  /// `transfer: direct` (SPEC §6): the destination pulls the chunk from the source itself into
  /// this task's temp; the checks and the commit that follow are the relay's. False when the
  /// task relays instead: the pair is not configured direct, or the pull could not be set up
  /// (the reason is recorded, and warned once per pair). Under --direct-only that fails the
  /// task. A pull that fails after its setup fails like a relayed copy (retried when it may).
  bool pull_direct(transport::Node& dst, transport::ChunkDigest& read,
                   transport::ChunkDigest& written)
  {
    if (!m_env.direct) {
      return false;
    }
    const DirectRoute route = m_env.direct->route(m_move.from, m_move.to, m_move.chunk);
    if (!route.direct) {
      return false;
    }
    std::string why = route.problem;
    if (why.empty()) {
      bool first = true;
      try {
        auto pulled = dst.pull_chunk(m_move.to.volume, m_id, *route.source, [&](std::uint64_t n) {
          if (first) {
            first = false;
            fault_point("mid_copy");
          }
          if (m_env.ctx.stopping()) {
            throw TransferCancelled{};
          }
          if (m_env.counters) {
            m_env.counters->direct += n;
          }
          if (m_env.on_bytes) {
            m_env.on_bytes(n);
          }
        });
        read = pulled.read;
        written = pulled.written;
        m_transfer = "direct";
        m_transfer_note.clear();
        return true;
      } catch (const transport::DirectUnavailable& e) {
        why = e.what();
        if (m_env.direct->mark_unavailable(m_move.from.node, m_move.to.node, why)) {
          m_env.ctx.events->warning(
              "direct transfer from " + m_move.from.node + " to " + m_move.to.node +
              " unavailable: " + why +
              (m_env.direct->direct_only() ? "; its tasks fail (--direct-only)"
                                           : "; its chunks are relayed through clsync"));
        }
      }
    }
    m_transfer_note = "direct transfer unavailable: " + why;
    if (m_env.direct->direct_only()) {
      throw TaskFailed("direct transfer from " + m_move.from.node + " to " + m_move.to.node +
                       " unavailable (--direct-only): " + why);
    }
    return false;
  }

  void same_node()
  {
    auto node = m_nodes.get(m_move.from.node);
    if (!m_committed) {
      m_fp0 = source_fingerprint(*node);
      write_intents(m_move.kind == MoveKind::move);
      check_stop();
      if (m_move.kind == MoveKind::move) {
        auto r = node->rename_chunk(m_move.from.volume, m_move.chunk, m_move.to.volume);
        if (r == transport::RenameOutcome::renamed) {
          m_committed = true;
          fault_point("after_rename");
          finish_intents();
          return;
        }
        if (r == transport::RenameOutcome::destination_exists) {
          throw TaskFailed("chunk " + m_move.chunk + " already exists on " + place_str(m_move.to));
        }
      }
      // Another filesystem (EXDEV): the node copies it itself, never over the network.
      m_temp_started = true;
      auto copied =
          node->copy_chunk_local(m_move.from.volume, m_move.chunk, m_move.to.volume, m_id);
      if (m_env.on_bytes) {
        m_env.on_bytes(copied.bytes);
      }
      m_content = copied.content_hash;
      fault_point("after_copy");
      std::string fp1 = node->fingerprint(m_move.from.volume, m_move.chunk);
      if (fp1 != m_fp0 || (!copied.fingerprint.empty() && copied.fingerprint != m_fp0)) {
        throw SourceChanged("the source changed while it was copied");
      }
      commit(*node);
    }
    if (m_move.kind == MoveKind::move) {
      remove_source(*node, *node, m_fp0);
    }
    finish_intents();
  }

  /// A delete the operator asked for by name: no re-count, but under the replica's own hold
  /// (another removal counting it as a survivor keeps it), trashed first, then removed.
  void remove_replica()
  {
    auto node = m_nodes.get(m_move.from.node);
    if (!m_committed) {
      if (node->fingerprint(m_move.from.volume, m_move.chunk).empty() && !m_trash_tried) {
        m_committed = true;  // already gone: nothing to do
        return;
      }
      const std::string rec = intent_record(m_env.settings.run.run_id, m_id, m_move);
      node->write_intent(m_move.from.volume, m_id, rec);
      m_intents.push_back(m_move.from);
      fault_point("after_intent");
      check_stop();
      m_committed = true;
    }
    if (!m_trash_checked) {
      bool changed = false;
      const bool removed = m_env.recount->remove_own(m_move.chunk, m_move.from, m_id, [&] {
        // Under the hold: a replica written anew since the plan (another run, a restore of a
        // snapshot that has it) is not the one the operator asked to delete.
        if (!m_trash_tried && !m_move.fingerprint.empty() &&
            node->fingerprint(m_move.from.volume, m_move.chunk) != m_move.fingerprint) {
          changed = true;
          return;
        }
        m_trash_tried = true;
        node->trash_chunk(m_move.from.volume, m_move.chunk, m_id);
        fault_point("after_trash");
      });
      if (!removed || changed) {
        remove_intents();
        m_committed = false;
        throw TaskFailed("chunk " + m_move.chunk + " on " + place_str(m_move.from) +
                         (changed ? " changed since it was planned for removal; kept"
                                  : " is held by another removal; kept"));
      }
      m_trash_checked = true;
    }
    remove_trash(*node);
    finish_intents();
  }

  void drop_duplicate()
  {
    auto node = m_nodes.get(m_move.from.node);
    if (!m_committed) {
      m_fp0 = source_fingerprint(*node);
      auto keep = node->hash_chunk(m_move.to.volume, m_move.chunk);
      auto drop = node->hash_chunk(m_move.from.volume, m_move.chunk);
      if (keep.content_hash != drop.content_hash) {
        throw TaskFailed("the copies of " + m_move.chunk + " on " + place_str(m_move.from) +
                         " and " + place_str(m_move.to) + " differ; neither is removed");
      }
      m_content = keep.content_hash;
      const std::string rec = intent_record(m_env.settings.run.run_id, m_id, m_move);
      node->write_intent(m_move.from.volume, m_id, rec);
      m_intents.push_back(m_move.from);
      fault_point("after_intent");
      check_stop();
      // Nothing to commit: from here on the task completes.
      m_committed = true;
    }
    remove_source(*node, *node, m_fp0);
    finish_intents();
  }

  TaskEnv& m_env;
  const Move& m_move;
  const std::string& m_id;
  NodeSet& m_nodes;
  std::unique_ptr<transport::ChunkWriter> m_writer;
  std::unique_ptr<FanOutAttempt> m_fan;  ///< kind write
  std::future<void> m_survivors;         ///< Recount::prefetch of a move across nodes
  std::vector<Place> m_intents;
  std::string m_fp0;
  std::string m_content;  ///< content hash the task verified: what survivors must hash to
  bool m_temp_started = false;
  bool m_committed = false;
  bool m_placed_new = false;
  bool m_trash_tried = false;
  bool m_trash_checked = false;
  bool m_trash_handed = false;  ///< the trash (and its volume's intent) is the remover's
  std::string m_transfer;       ///< "relay" | "direct" once bytes moved between nodes
  std::string m_transfer_note;  ///< why a direct task relayed (or failed)
};

TaskRecord record_of(const Move& m,
                     const std::string& id,
                     const std::string& state,
                     const std::string& error = {},
                     const std::string& transfer = {},
                     const std::string& transfer_note = {})
{
  TaskRecord r;
  r.id = id;
  r.chunk = m.chunk;
  r.kind = to_string(m.kind);
  r.source = m.from;
  r.destination = m.to;
  r.bytes = m.bytes;
  r.state = state;
  r.delete_source = m.delete_source();
  r.error = error;
  r.transfer = transfer;
  r.transfer_note = transfer_note;
  return r;
}

void announce(TaskEnv& env,
              const Move& m,
              const std::string& id,
              const std::string& state,
              const std::string& error = {},
              const std::string& transfer = {},
              const std::string& transfer_note = {})
{
  env.journal.record(record_of(m, id, state, error, transfer, transfer_note));
  TaskEvent e;
  e.task = id;
  e.chunk = m.chunk;
  e.state = state;
  e.source = place_str(m.from);
  e.destination = place_str(m.to);
  e.bytes = m.bytes;
  e.error = error;
  env.ctx.events->task(e);
}

/// Sleeps for the backoff of attempt `n` (0.5 s, 1 s, 2 s … at most 30 s), waking early on a
/// stop request.
void backoff(const Context& ctx, int n)
{
  auto wait = std::chrono::milliseconds(500) * (1 << std::min(n, 6));
  wait = std::min<std::chrono::milliseconds>(wait, std::chrono::seconds(30));
  auto until = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < until && !ctx.stopping()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

} // namespace

void announce_task(TaskEnv& env,
                   const Move& move,
                   const std::string& id,
                   const std::string& state,
                   const std::string& error)
{
  announce(env, move, id, state, error);
}

std::string intent_record(const std::string& run_id, const std::string& id, const Move& move)
{
  nlohmann::json source{{"node", move.from.node}};
  put_name(source, "volume", move.from.volume);
  nlohmann::json destination{{"node", move.to.node}};
  put_name(destination, "volume", move.to.volume);
  nlohmann::json j{
      {"run", run_id},
      {"task", id},
      {"kind", to_string(move.kind)},
      {"source", std::move(source)},
      {"destination", std::move(destination)},
      {"created", utc_timestamp(std::chrono::system_clock::now())},
  };
  put_name(j, "chunk", move.chunk); // recovery reads it back exactly (get_name)
  if (move.kind == MoveKind::write) {
    nlohmann::json targets = nlohmann::json::array();
    for (const auto& t : move.targets) {
      nlohmann::json one{{"node", t.place.node}, {"replace", t.replace}};
      put_name(one, "volume", t.place.volume);
      targets.push_back(std::move(one));
    }
    j["targets"] = std::move(targets);
  }
  return dump_json(j);
}

TaskResult run_task(TaskEnv& env, const Move& move, const std::string& id)
{
  TaskResult result;
  result.id = id;
  result.move = move;
  announce(env, move, id, "running");
  const int retries = std::max(0, env.settings.write.retries);
  Attempt attempt(env, move, id);
  for (int n = 0;; ++n) {
    result.attempts = n + 1;
    std::string error;
    bool retry = false;
    try {
      attempt.run();
      result.state = "finished";
      break;
    } catch (const StopBeforeCommit&) {
      attempt.roll_back();
      result.state = "rolled_back";
      break;
    } catch (const TransferCancelled&) {
      attempt.roll_back();
      result.state = "rolled_back";
      break;
    } catch (const FanOutStopped&) {
      attempt.roll_back();
      result.state = "rolled_back";
      break;
    } catch (const FanOutFailed& e) {
      // Each destination's own failure, already cleaned up; the others are committed.
      result.state = "failed";
      result.error = e.what();
      break;
    } catch (const RecountRefused& e) {
      if (e.transient && n < retries && !env.ctx.stopping()) {
        // A node the count needs was unreachable for a moment (its sshd restarting): the
        // replica is kept; count again after the backoff.
        error = e.what();
        backoff(env.ctx, n);
        continue;
      }
      // Final: the replica is kept; a committed copy stays (an extra replica is safe), and
      // nothing is left for recovery to finish.
      attempt.remove_intents();
      result.state = "failed";
      result.error = e.what();
      if (attempt.placed_new()) {
        result.error += "; the new copy on " + place_str(move.to) + " is committed and kept";
      }
      break;
    } catch (const SourceChanged& e) {
      error = e.what();
      retry = true;
    } catch (const TaskFailed& e) {
      error = e.what();
    } catch (const TransportError& e) {
      error = e.what();
      retry = e.retryable();
    } catch (...) {
      // Any other type, std or not: this task's failure, rolled back like the others.
      error = current_exception_text();
    }
    if (!attempt.committed()) {
      attempt.roll_back();
      if (env.ctx.stopping()) {
        // A stop that surfaced as a transport error (an aborted stream) is still a stop.
        result.state = "rolled_back";
        result.error = error;
        break;
      }
    }
    // Past the commit the task is finished off by retrying the remaining steps; intents stay
    // so that the next run's recovery can complete it if the retries run out.
    if (retry && n < retries) {
      backoff(env.ctx, n);
      if (!attempt.committed() && env.ctx.stopping()) {
        result.state = "rolled_back";
        result.error = error;
        break;
      }
      continue;
    }
    result.state = "failed";
    result.error = attempt.committed()
                       ? error + " (the new copy is committed; the next run completes the move)"
                       : error;
    break;
  }
  result.targets_written = attempt.targets_written();
  result.transfer = attempt.transfer();
  result.transfer_note = attempt.transfer_note();
  announce(env, move, id, result.state, result.error, result.transfer, result.transfer_note);
  return result;
}

} // namespace clsync::core
