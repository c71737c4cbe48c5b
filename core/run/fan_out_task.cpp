// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/fan_out_task.hpp"

#include "core/exceptions.hpp"
#include "core/fault.hpp"
#include "core/run/fan_out.hpp"

namespace clsync::core {
namespace {

/// Bytes read → chunk bytes for progress (FanOutSource::read_size): never more than the chunk's
/// bytes in all, and the rest credited when the read ends (an object shorter than announced).
class ProgressScale {
public:
  ProgressScale(std::uint64_t chunk_bytes, std::uint64_t read_size)
      : m_chunk(chunk_bytes), m_read(read_size)
  {
  }
  std::uint64_t next(std::uint64_t n)
  {
    if (m_read == 0) {
      return n;  // unknown: bytes read are what is written
    }
    m_seen = std::min(m_read, m_seen + n);
    const auto want = static_cast<std::uint64_t>(static_cast<long double>(m_seen) /
                                                 static_cast<long double>(m_read) *
                                                 static_cast<long double>(m_chunk));
    const std::uint64_t d = want > m_credited ? want - m_credited : 0;
    m_credited += d;
    return d;
  }
  std::uint64_t rest()
  {
    if (m_read == 0 || m_credited >= m_chunk) {
      return 0;
    }
    const std::uint64_t d = m_chunk - m_credited;
    m_credited = m_chunk;
    return d;
  }

private:
  std::uint64_t m_chunk, m_read, m_seen = 0, m_credited = 0;
};


using transport::CommitMode;
using transport::CommitOutcome;

} // namespace

FanOutAttempt::FanOutAttempt(TaskEnv& env, const Move& move, const std::string& id)
    : m_env(env), m_move(move), m_id(id), m_writers(move.targets.size()),
      m_done(move.targets.size(), 0), m_temp(move.targets.size(), 0),
      m_intent(move.targets.size(), 0), m_tried(move.targets.size(), 0)
{
  for (const auto& t : move.targets) {
    m_set = m_set || t.replace;
  }
}

void FanOutAttempt::check_stop()
{
  if (m_env.ctx.stopping()) {
    throw FanOutStopped();
  }
}

void FanOutAttempt::write_intents()
{
  const std::string rec = intent_record(m_env.settings.run.run_id, m_id, m_move);
  for (std::size_t i = 0; i < m_move.targets.size(); ++i) {
    if (m_done[i] || m_intent[i]) {
      continue;
    }
    const Place& p = m_move.targets[i].place;
    m_env.ctx.nodes->get(p.node)->write_intent(p.volume, m_id, rec);
    m_intent[i] = 1;
  }
  fault_point("after_intent");
}

void FanOutAttempt::run()
{
  if (!m_env.settings.source) {
    throw std::runtime_error("a write task without a source (internal error)");
  }
  if (m_set) {
    run_set();
  } else {
    run_independent();
  }
}

std::vector<std::string> FanOutAttempt::stream_to_targets(std::vector<std::size_t>& ready)
{
  FanOutSource* source = m_env.settings.source;
  const std::size_t k = m_move.targets.size();
  // Open a writer on every target still to do; a target that cannot open fails alone.
  std::vector<std::size_t> live;
  std::vector<transport::ByteSink*> outs;
  std::vector<std::string> failures;
  for (std::size_t i = 0; i < k; ++i) {
    if (m_done[i]) {
      continue;
    }
    const Place& p = m_move.targets[i].place;
    try {
      m_temp[i] = 1;
      m_writers[i] = source->open(*m_env.ctx.nodes->get(p.node), p.volume, m_id, m_move);
      live.push_back(i);
      outs.push_back(m_writers[i].get());
    } catch (...) {
      failures.push_back(place_str(p) + ": " + current_exception_text());
    }
  }
  if (live.empty()) {
    return failures;
  }
  bool seen = false;
  const auto nodes = m_move.nodes();
  ProgressScale scale(m_move.bytes, source->read_size(m_move));
  FanOutSink sink(outs, [&](std::uint64_t n) {
    if (m_env.ctx.stopping()) {
      throw FanOutStopped();
    }
    if (!seen) {
      seen = true;
      fault_point("mid_copy");
    }
    m_env.limits.consume(n, nodes);
    if (m_env.on_bytes) {
      m_env.on_bytes(scale.next(n));
    }
  });
  source->read(m_move, sink);
  if (m_env.on_bytes) {
    m_env.on_bytes(scale.rest());
  }
  m_content = source->content_hash(m_move);
  for (std::size_t j = 0; j < live.size(); ++j) {
    const std::size_t i = live[j];
    if (sink.failed(j)) {
      continue;
    }
    try {
      auto d = source->finish(*m_writers[i], m_move);
      if (d.content_hash != m_content) {
        sink.fail(j, "content hash mismatch: wrote " + d.content_hash + ", the source is " +
                         m_content);
      } else {
        m_env.recount->remember(m_move.targets[i].place, m_move.chunk, d.fingerprint, m_content);
      }
    } catch (...) {
      sink.fail(j, current_exception_text());
    }
  }
  fault_point("after_copy");
  for (std::size_t j = 0; j < live.size(); ++j) {
    const std::size_t i = live[j];
    if (sink.failed(j)) {
      failures.push_back(place_str(m_move.targets[i].place) + ": " + sink.error(j));
    } else {
      ready.push_back(i);
    }
  }
  return failures;
}

void FanOutAttempt::run_independent()
{
  const std::size_t k = m_move.targets.size();
  write_intents();
  std::vector<std::size_t> ready;
  std::vector<std::string> failures = stream_to_targets(ready);
  if (!ready.empty()) {
    check_stop();
  }
  for (std::size_t i : ready) {
    try {
      commit(i);
    } catch (...) {
      failures.push_back(place_str(m_move.targets[i].place) + ": " + current_exception_text());
    }
  }
  if (!failures.empty()) {
    roll_back();
    std::string what;
    for (const auto& f : failures) {
      what += (what.empty() ? "" : "; ") + f;
    }
    const int done = written();
    throw FanOutFailed("chunk " + m_move.chunk + ": " + what +
                       (done > 0 ? " (" + std::to_string(done) + " of " + std::to_string(k) +
                                       " destinations written; a rerun completes it)"
                                 : ""));
  }
  fault_point("before_intent_removal");
  remove_intents();
}

void FanOutAttempt::commit(std::size_t i)
{
  const Target& t = m_move.targets[i];
  auto dst = m_env.ctx.nodes->get(t.place.node);
  m_writers[i].reset();
  const auto mode = t.replace ? CommitMode::exchange : CommitMode::no_replace;
  auto outcome = dst->commit_chunk(t.place.volume, m_id, m_move.chunk, mode);
  if (outcome == CommitOutcome::exists_different) {
    throw std::runtime_error("a different chunk " + m_move.chunk + " is already on " +
                             place_str(t.place) + "; left alone (--force replaces it)");
  }
  m_done[i] = 1;
  fault_point("after_commit");
  // The temp is gone; under exchange the old version sits in the task's trash: remove it.
  dst->remove_task_dirs(t.place.volume, m_id);
  m_temp[i] = 0;
}

void FanOutAttempt::roll_back() noexcept
{
  if (m_set_committed) {
    return;  // past the commit point: only forward (run() again, or recovery)
  }
  for (std::size_t i = 0; i < m_move.targets.size(); ++i) {
    if (m_writers[i]) {
      m_writers[i]->abort();
      m_writers[i].reset();
    }
    if (m_temp[i] && !m_done[i]) {
      try {
        const Place& p = m_move.targets[i].place;
        m_env.ctx.nodes->get(p.node)->remove_task_dirs(p.volume, m_id);
        m_temp[i] = 0;
      } catch (...) {
        // Left for the next run's recovery.
      }
    }
  }
  remove_intents();
}

int FanOutAttempt::written() const
{
  int n = 0;
  for (char d : m_done) {
    n += d == 1 ? 1 : 0;
  }
  return n;
}

void FanOutAttempt::remove_intents() noexcept
{
  for (std::size_t i = 0; i < m_move.targets.size(); ++i) {
    if (!m_intent[i]) {
      continue;
    }
    try {
      const Place& p = m_move.targets[i].place;
      m_env.ctx.nodes->get(p.node)->remove_intent(p.volume, m_id);
      m_intent[i] = 0;
    } catch (...) {
      if (m_set) {
        // A commit set's intents leave in order: the ones after a failed removal stay (the
        // last one's "prepared" keeps the set decidable for recovery, see the header).
        return;
      }
    }
  }
}

} // namespace clsync::core
