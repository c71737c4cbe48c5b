// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/recovery_sets.hpp"

#include "core/cluster/node_set.hpp"
#include "core/fault.hpp"
#include "core/json_names.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <vector>

namespace clsync::core {
namespace {

struct Participant {
  std::string node, volume;
  bool replace = false;
};

/// One commit set as its visible intents describe it.
struct CommitSet {
  std::string task, chunk, content;
  std::vector<Participant> parts;           ///< plan order: the order of marks and removals
  std::map<std::string, std::string> state; ///< "node\nvolume" → "prepared" | "committed"
  std::set<std::string> temps, trash;       ///< "node\nvolume" holding `.clsync-tmp/trash-<task>`
};

std::string where_key(const std::string& node, const std::string& volume)
{
  return node + "\n" + volume;
}

class SetRecovery {
public:
  SetRecovery(Context& ctx,
              const Inventory& inv,
              const std::set<std::string>& nodes,
              RecoveryReport& report)
      : m_ctx(ctx), m_inv(inv), m_nodes(nodes), m_report(report)
  {
  }

  std::set<std::string> run()
  {
    gather();
    std::set<std::string> tasks;
    for (auto& [task, s] : m_sets) {
      tasks.insert(task);
      if (s.parts.empty() || s.chunk.empty()) {
        note("the intents of task " + task + " name no participants; left alone");
        continue;
      }
      decide(s);
    }
    return tasks;
  }

private:
  void gather()
  {
    for (const auto& [node, l] : m_inv.leftovers) {
      if (!m_nodes.count(node) || l.kind != "intent") {
        continue;
      }
      auto j = nlohmann::json::parse(l.content, nullptr, false);
      if (!j.is_object() || !j.value("set", false)) {
        continue;
      }
      CommitSet& s = m_sets[l.task];
      s.task = l.task;
      s.chunk = get_name_or(j, "chunk", s.chunk);
      s.state[where_key(node, l.volume)] = j.value("state", std::string("prepared"));
      if (j.contains("content_hash") && j["content_hash"].is_string()) {
        s.content = j["content_hash"].get<std::string>();
      }
      if (s.parts.empty() && j.contains("targets") && j["targets"].is_array()) {
        for (const auto& t : j["targets"]) {
          if (t.is_object()) {
            s.parts.push_back(
                {t.value("node", ""), get_name_or(t, "volume", ""), t.value("replace", false)});
          }
        }
      }
    }
    for (const auto& [node, l] : m_inv.leftovers) {
      auto it = m_sets.find(l.task);
      if (it == m_sets.end() || !m_nodes.count(node)) {
        continue;
      }
      if (l.kind == "tmp") {
        it->second.temps.insert(where_key(node, l.volume));
      } else if (l.kind == "trash") {
        it->second.trash.insert(where_key(node, l.volume));
      }
    }
  }

  bool visible(const std::string& node) const
  {
    const NodeState* n = m_inv.node(node);
    return m_nodes.count(node) && n && n->reachable;
  }

  std::string state_of(const CommitSet& s, const Participant& p) const
  {
    auto it = s.state.find(where_key(p.node, p.volume));
    return it == s.state.end() ? "" : it->second;
  }

  void note(const std::string& what)
  {
    m_report.notes.push_back(what);
    m_ctx.events->warning("recovery: " + what);
  }

  /// The rule of core/run/fan_out_task.hpp: committed when the last participant's intent says
  /// so; with the last one out of sight, a visible "prepared" intent still decides "not".
  void decide(CommitSet& s)
  {
    const Participant& last = s.parts.back();
    bool committed = false;
    if (visible(last.node)) {
      committed = state_of(s, last) == "committed";
    } else {
      bool prepared = false;
      for (const auto& p : s.parts) {
        prepared = prepared || (visible(p.node) && state_of(s, p) == "prepared");
      }
      if (!prepared) {
        note("chunk " + s.chunk + ": whether the replacement of task " + s.task +
             " was committed is known only to node " + last.node +
             ", which cannot be reached; every part of it is left for a later run");
        return;
      }
    }
    if (committed) {
      finish(s);
    } else {
      roll_back(s);
    }
  }

  /// Runs one node action; false (noted) when it fails.
  template <typename F> bool act(const std::string& node, const std::string& task, F&& f)
  {
    try {
      f(*m_ctx.nodes->get(node));
      fault_point("recovery_mid");
      return true;
    } catch (const std::exception& e) {
      note("could not finish recovery of task " + task + " on node " + node + " (" + e.what() +
           "); left for a later run");
      return false;
    }
  }

  /// Every visible participant's intent, in plan order (the last one's goes last).
  bool remove_intents(const CommitSet& s)
  {
    for (const auto& p : s.parts) {
      if (visible(p.node) && !state_of(s, p).empty()) {
        if (!act(p.node, s.task, [&](transport::Node& n) { n.remove_intent(p.volume, s.task); })) {
          return false; // stop: the ones after it keep the set decidable
        }
        ++m_report.intents_removed;
      }
    }
    return true;
  }

  void finish(const CommitSet& s)
  {
    if (s.content.empty()) {
      note("chunk " + s.chunk + ": the committed intents of task " + s.task +
           " name no content hash; left alone");
      return;
    }
    bool complete = true;
    for (const auto& p : s.parts) {
      if (!visible(p.node)) {
        note("chunk " + s.chunk + ": node " + p.node +
             " cannot be reached; its part of the "
             "committed replacement (task " +
             s.task + ") is left for a later run");
        complete = false;
        continue;
      }
      const std::string at = where_key(p.node, p.volume);
      if (!s.temps.count(at) && !s.trash.count(at)) {
        continue; // exchanged and cleaned already
      }
      complete = act(p.node, s.task, [&](transport::Node& n) { finish_one(n, s, p); }) && complete;
    }
    if (complete && remove_intents(s)) {
      ++m_report.sets_finished;
      m_ctx.events->warning("recovery: finished the committed replacement of chunk " + s.chunk +
                            " (task " + s.task + "): every replica is the new version");
    }
  }

  /// A participant's temp is the new version until its exchange and the old one after it (the
  /// exchange swaps them): the chunk in place hashing to the set's content tells which.
  void finish_one(transport::Node& n, const CommitSet& s, const Participant& p)
  {
    if (s.temps.count(where_key(p.node, p.volume))) {
      const bool in_place = !n.fingerprint(p.volume, s.chunk).empty() &&
                            n.hash_chunk(p.volume, s.chunk).content_hash == s.content;
      if (!in_place) {
        const auto mode =
            p.replace ? transport::CommitMode::exchange : transport::CommitMode::no_replace;
        if (n.commit_chunk(p.volume, s.task, s.chunk, mode) ==
            transport::CommitOutcome::exists_different) {
          throw std::runtime_error("a different chunk " + s.chunk + " is on " + p.node + ":" +
                                   p.volume + " where a new one was to go; left alone");
        }
      }
    }
    n.remove_task_dirs(p.volume, s.task);
  }

  void roll_back(const CommitSet& s)
  {
    for (const auto& p : s.parts) {
      if (visible(p.node) && s.trash.count(where_key(p.node, p.volume))) {
        // Cannot happen (exchanges follow the last mark); if it did, guessing could lose data.
        note("chunk " + s.chunk + " on " + p.node + ":" + p.volume +
             " was exchanged although "
             "its replacement (task " +
             s.task + ") was never committed; left alone");
        return;
      }
    }
    bool ok = true;
    for (const auto& p : s.parts) {
      if (!visible(p.node)) {
        note("chunk " + s.chunk + ": node " + p.node +
             " cannot be reached; its part of the "
             "uncommitted replacement (task " +
             s.task + ") is left for a later run");
        continue;
      }
      if (s.temps.count(where_key(p.node, p.volume))) {
        const bool done =
            act(p.node, s.task, [&](transport::Node& n) { n.remove_task_dirs(p.volume, s.task); });
        m_report.temps_removed += done ? 1 : 0;
        ok = ok && done;
      }
    }
    if (ok && remove_intents(s)) {
      ++m_report.sets_rolled_back;
      m_ctx.events->warning("recovery: rolled back the uncommitted replacement of chunk " +
                            s.chunk + " (task " + s.task +
                            "): every replica keeps its old "
                            "version");
    }
  }

  Context& m_ctx;
  const Inventory& m_inv;
  const std::set<std::string>& m_nodes;
  RecoveryReport& m_report;
  std::map<std::string, CommitSet> m_sets;
};

} // namespace

std::set<std::string> recover_commit_sets(Context& ctx,
                                          const Inventory& inv,
                                          const std::set<std::string>& nodes,
                                          RecoveryReport& report)
{
  return SetRecovery(ctx, inv, nodes, report).run();
}

} // namespace clsync::core
