// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// A commit set: the all-or-nothing write of a task that replaces replicas (the protocol is in
// core/run/fan_out_task.hpp; recovery's half is in core/run/recovery.cpp).
#include "core/cluster/node_set.hpp"
#include "core/exceptions.hpp"
#include "core/fault.hpp"
#include "core/json_names.hpp"
#include "core/run/fan_out_task.hpp"

#include <nlohmann/json.hpp>

namespace clsync::core {
namespace {

std::string joined(const std::vector<std::string>& parts)
{
  std::string out;
  for (const auto& p : parts) {
    out += (out.empty() ? "" : "; ") + p;
  }
  return out;
}

void numbered_fault_point(const char* prefix, std::size_t n)
{
  const std::string point = prefix + std::to_string(n);
  fault_point(point.c_str());
}

} // namespace

void FanOutAttempt::run_set()
{
  if (!m_set_committed) {
    prepare_set();
    mark_set();
  }
  exchange_set();
  clean_up_set();
}

std::string FanOutAttempt::set_record(const char* state) const
{
  auto j = nlohmann::json::parse(intent_record(m_env.settings.run.run_id, m_id, m_move));
  j["set"] = true;
  j["state"] = state;
  if (!m_content.empty()) {
    j["content_hash"] = m_content;
  }
  return dump_json(j);
}

void FanOutAttempt::fail_set(const std::vector<std::string>& failures, const std::string& after)
{
  roll_back();
  throw FanOutFailed("chunk " + m_move.chunk + ": " + joined(failures) + after +
                     "; nothing replaced: every destination keeps its old version (all or "
                     "nothing when a destination is replaced)");
}

void FanOutAttempt::prepare_set()
{
  const std::string rec = set_record("prepared");
  for (std::size_t i = 0; i < m_move.targets.size(); ++i) {
    const Place& p = m_move.targets[i].place;
    try {
      m_intent[i] = 1; // a write that throws may still have landed
      m_env.ctx.nodes->get(p.node)->write_intent(p.volume, m_id, rec);
    } catch (...) {
      fail_set({place_str(p) + ": " + current_exception_text()}, " (writing its intent)");
    }
  }
  fault_point("after_intent");
  std::vector<std::size_t> ready;
  const auto failures = stream_to_targets(ready);
  if (!failures.empty()) {
    fail_set(failures, "");
  }
  check_stop();
  for (auto& w : m_writers) {
    w.reset(); // finished: the verified temp stays for the exchange
  }
  fault_point("fanout_after_prepare");
}

void FanOutAttempt::mark_set()
{
  const std::string rec = set_record("committed");
  const std::size_t k = m_move.targets.size();
  for (std::size_t i = 0; i < k; ++i) {
    const Place& p = m_move.targets[i].place;
    try {
      m_env.ctx.nodes->get(p.node)->write_intent(p.volume, m_id, rec);
    } catch (...) {
      const std::string why = place_str(p) + ": " + current_exception_text();
      if (i + 1 < k) {
        // The last participant still says "prepared": not committed, roll back.
        fail_set({why}, " (marking its intent committed)");
      }
      // The commit point itself: whether the mark landed is unknown. Leave everything for the
      // next run's recovery, which reads the intent and decides.
      throw FanOutFailed("chunk " + m_move.chunk + ": " + why +
                         " (marking the last intent committed): the set may be committed; its "
                         "temps and intents stay for the next run's recovery to finish or "
                         "roll back");
    }
    numbered_fault_point("fanout_after_mark_", i + 1);
  }
  m_set_committed = true;
}

void FanOutAttempt::exchange_set()
{
  for (std::size_t i = 0; i < m_move.targets.size(); ++i) {
    if (!m_done[i]) {
      exchange_one(i);
      numbered_fault_point("fanout_after_exchange_", i + 1);
    }
  }
}

void FanOutAttempt::exchange_one(std::size_t i)
{
  const Target& t = m_move.targets[i];
  auto dst = m_env.ctx.nodes->get(t.place.node);
  if (m_tried[i]) {
    // A retry: the exchange may have happened with its reply lost. The new version in place
    // (its content hash) says so.
    if (!dst->fingerprint(t.place.volume, m_move.chunk).empty() &&
        dst->hash_chunk(t.place.volume, m_move.chunk).content_hash == m_content) {
      m_done[i] = 1;
      return;
    }
  }
  m_tried[i] = 1;
  const auto mode = t.replace ? transport::CommitMode::exchange : transport::CommitMode::no_replace;
  const auto outcome = dst->commit_chunk(t.place.volume, m_id, m_move.chunk, mode);
  if (outcome == transport::CommitOutcome::exists_different) {
    // A chunk appeared where the plan saw none: never overwritten without --force. The only way
    // a committed set can end uneven, so it is reported by name.
    m_late.push_back(place_str(t.place) + ": a different chunk " + m_move.chunk +
                     " appeared there after the plan; left alone");
    m_done[i] = 2;
    return;
  }
  m_done[i] = 1;
}

void FanOutAttempt::clean_up_set()
{
  fault_point("fanout_before_cleanup");
  for (std::size_t i = 0; i < m_move.targets.size(); ++i) {
    const Place& p = m_move.targets[i].place;
    // The replaced old version (the count is unchanged: the new one stands in its place), or
    // the temp of a target left alone.
    m_env.ctx.nodes->get(p.node)->remove_task_dirs(p.volume, m_id);
    m_temp[i] = 0;
  }
  fault_point("before_intent_removal");
  for (std::size_t i = 0; i < m_move.targets.size(); ++i) {
    // In plan order: the last participant's "committed" goes last (the rule of the header).
    const Place& p = m_move.targets[i].place;
    m_env.ctx.nodes->get(p.node)->remove_intent(p.volume, m_id);
    m_intent[i] = 0;
  }
  m_set_finished = true;
  if (!m_late.empty()) {
    throw FanOutFailed("chunk " + m_move.chunk + ": " + joined(m_late) + " (" +
                       std::to_string(written()) + " of " + std::to_string(m_move.targets.size()) +
                       " destinations replaced)");
  }
}

} // namespace clsync::core
