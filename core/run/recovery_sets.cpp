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
  std::string unreadable;                   ///< why an intent of it cannot be read, or ""
};

std::string where_key(const std::string& node, const std::string& volume)
{
  return node + "\n" + volume;
}

/// The commit sets whose intents lie on the leased nodes `nodes`, as the inventory shows them,
/// and which of their participants are in sight.
class SetView {
public:
  SetView(const Inventory& inv, const std::set<std::string>& nodes) : m_inv(inv), m_nodes(nodes)
  {
    gather();
  }

  std::map<std::string, CommitSet>& sets() { return m_sets; }

  /// A participant is in sight when its node was leased and reached and its volume scanned
  /// fine: a missing volume (a disk not mounted) hides its intent as surely as a node that is
  /// down, and reading its absence as "no intent" would decide the set wrongly.
  bool visible(const Participant& p) const
  {
    const NodeState* n = m_inv.node(p.node);
    const VolumeState* v = m_inv.volume(p.node, p.volume);
    return m_nodes.count(p.node) && n && n->reachable && v && v->ok;
  }

  /// Why a participant is out of sight, for the notes.
  std::string hidden(const Participant& p) const
  {
    const NodeState* n = m_inv.node(p.node);
    if (!m_nodes.count(p.node) || !n || !n->reachable) {
      return "cannot be reached";
    }
    const VolumeState* v = m_inv.volume(p.node, p.volume);
    return "cannot be read (" + (v ? v->error : std::string("not a volume of the node")) + ")";
  }

private:
  void gather()
  {
    for (const auto& [node, l] : m_inv.leftovers) {
      if (!m_nodes.count(node) || l.kind != "intent") {
        continue;
      }
      auto j = nlohmann::json::parse(l.content, nullptr, false);
      const auto set = j.is_object() ? j.find("set") : j.end();
      if (set == j.end() || !set->is_boolean() || !set->get<bool>()) {
        continue;
      }
      CommitSet& s = m_sets[l.task];
      s.task = l.task;
      try {
        read_intent(j, where_key(node, l.volume), s);
      } catch (const std::exception& e) {
        // A damaged intent (a field of the wrong type) decides nothing: the set waits.
        s.unreadable = "the intent of task " + l.task + " on " + node + ":" + l.volume + " (" +
                       l.name + ") cannot be read (" + e.what() + ")";
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

  /// One participant's intent into `s` (read whole before anything of it is kept).
  static void read_intent(const nlohmann::json& j, const std::string& at, CommitSet& s)
  {
    const std::string chunk = get_name_or(j, "chunk", s.chunk);
    const std::string state = j.value("state", std::string("prepared"));
    std::string content = s.content;
    if (j.contains("content_hash") && j["content_hash"].is_string()) {
      content = j["content_hash"].get<std::string>();
    }
    std::vector<Participant> parts;
    if (j.contains("targets") && j["targets"].is_array()) {
      for (const auto& t : j["targets"]) {
        if (t.is_object()) {
          parts.push_back(
              {t.value("node", ""), get_name_or(t, "volume", ""), t.value("replace", false)});
        }
      }
    }
    s.chunk = chunk;
    s.state[at] = state;
    s.content = content;
    if (s.parts.empty()) {
      s.parts = std::move(parts);
    }
  }

  const Inventory& m_inv;
  const std::set<std::string>& m_nodes;
  std::map<std::string, CommitSet> m_sets;
};

std::string place(const Participant& p)
{
  return p.node + ":" + p.volume;
}

/// What holds a chunk out of a run: the set of `task` is not ended, for `why`.
std::string unfinished(const std::string& task, const std::string& why)
{
  return "its replacement by task " + task + " is not finished (" + why + ")";
}

/// Why a set cannot be ended now, naming the participants out of sight; "" when it can be.
std::string out_of_sight(const SetView& view, const CommitSet& s)
{
  if (!s.unreadable.empty()) {
    return s.unreadable;
  }
  std::string why;
  for (const auto& p : s.parts) {
    if (!view.visible(p)) {
      why += (why.empty() ? "" : ", ") + place(p) + " " + view.hidden(p);
    }
  }
  return why;
}

class SetRecovery {
public:
  SetRecovery(Context& ctx,
              const Inventory& inv,
              const std::set<std::string>& nodes,
              RecoveryReport& report)
      : m_ctx(ctx), m_view(inv, nodes), m_report(report)
  {
  }

  std::set<std::string> run()
  {
    std::set<std::string> tasks;
    for (auto& [task, s] : m_view.sets()) {
      tasks.insert(task);
      if (!s.unreadable.empty()) {
        pending(s, s.unreadable + "; every part of the set is left alone");
        continue;
      }
      if (s.parts.empty() || s.chunk.empty()) {
        pending(s, "the intents of task " + task + " name no participants; left alone");
        continue;
      }
      decide(s);
    }
    return tasks;
  }

private:
  bool visible(const Participant& p) const { return m_view.visible(p); }
  std::string hidden(const Participant& p) const { return m_view.hidden(p); }

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
  /// so. Its intent out of sight (node down, volume missing, or gone): a visible "prepared"
  /// intent still decides "not" (marks run in order); otherwise every intent in sight says
  /// "committed", which only the last one's can confirm, and intents leave from the front, so
  /// the last one's still exists somewhere unseen: the set is left alone, never guessed.
  void decide(CommitSet& s)
  {
    const Participant& last = s.parts.back();
    const std::string last_state = visible(last) ? state_of(s, last) : "";
    bool committed = false;
    if (!last_state.empty()) {
      committed = last_state == "committed";
    } else {
      bool prepared = false;
      for (const auto& p : s.parts) {
        prepared = prepared || (visible(p) && state_of(s, p) == "prepared");
      }
      if (!prepared) {
        pending(s, "chunk " + s.chunk + ": whether the replacement of task " + s.task +
                       " was committed is known only to the intent on " + place(last) + ", which " +
                       (visible(last) ? "is missing although the volume is there (another disk "
                                        "mounted there?)"
                                      : hidden(last)) +
                       "; every part of it is left until that participant is back");
        return;
      }
    }
    if (committed) {
      finish(s);
    } else {
      roll_back(s);
    }
  }

  /// A set left (wholly or partly) for a later run: noted, and the run does not end "ok".
  void pending(const CommitSet& s, const std::string& what)
  {
    note(what);
    wait(s, what);
  }

  /// Counts the set as left for a later run and holds its chunk out of this run's plan, with
  /// why (the participants out of sight, else `what`).
  void wait(const CommitSet& s, const std::string& what)
  {
    ++m_report.sets_pending;
    if (!s.chunk.empty()) {
      const std::string hidden = out_of_sight(m_view, s);
      m_report.held_chunks.emplace(s.chunk, unfinished(s.task, hidden.empty() ? what : hidden));
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

  /// The participants' intents in plan order (the last one's goes last), stopping at the first
  /// one out of sight or failing: an intent is only ever removed after every one before it, so
  /// the last one's outlives all others and keeps the set decidable (decide()).
  bool remove_intents(const CommitSet& s)
  {
    for (const auto& p : s.parts) {
      if (!visible(p)) {
        return false;
      }
      if (!state_of(s, p).empty()) {
        if (!act(p.node, s.task, [&](transport::Node& n) { n.remove_intent(p.volume, s.task); })) {
          return false;
        }
        ++m_report.intents_removed;
      }
    }
    return true;
  }

  void finish(const CommitSet& s)
  {
    if (s.content.empty()) {
      pending(s, "chunk " + s.chunk + ": the committed intents of task " + s.task +
                     " name no content hash; left alone");
      return;
    }
    bool complete = true;
    for (const auto& p : s.parts) {
      if (!visible(p)) {
        note("chunk " + s.chunk + ": " + place(p) + " " + hidden(p) +
             "; its part of the committed replacement (task " + s.task +
             ") is left until it is back (the other replicas are the new version)");
        complete = false;
        continue;
      }
      const std::string at = where_key(p.node, p.volume);
      if (!s.temps.count(at) && !s.trash.count(at)) {
        // Exchanged and cleaned already, so the chunk is in place; if it is not, this volume
        // is not the one the set wrote (an empty mount point): its part stays pending.
        complete = in_place(s, p) && complete;
        continue;
      }
      if (act(p.node, s.task, [&](transport::Node& n) { finish_one(n, s, p); })) {
        ++m_report.set_parts_finished;
      } else {
        complete = false;
      }
    }
    if (!complete || !remove_intents(s)) {
      wait(s, "recovery of its committed replacement to finish");
    } else {
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

  /// A participant with nothing of the set left has its chunk in place (any version: a target
  /// left alone for a different chunk counts too); false (noted) when it has none.
  bool in_place(const CommitSet& s, const Participant& p)
  {
    try {
      if (!m_ctx.nodes->get(p.node)->fingerprint(p.volume, s.chunk).empty()) {
        return true;
      }
      note("chunk " + s.chunk + ": neither the chunk nor anything of task " + s.task + " is on " +
           place(p) +
           " (another disk mounted there?); its part of the committed "
           "replacement is left until it is back");
    } catch (const std::exception& e) {
      note("chunk " + s.chunk + ": cannot look at " + place(p) + " (" + e.what() +
           "); its part of the committed replacement (task " + s.task +
           ") is left for a later "
           "run");
    }
    return false;
  }

  void roll_back(const CommitSet& s)
  {
    for (const auto& p : s.parts) {
      if (visible(p) && s.trash.count(where_key(p.node, p.volume))) {
        // Cannot happen (exchanges follow the last mark); if it did, guessing could lose data.
        note("chunk " + s.chunk + " on " + p.node + ":" + p.volume +
             " was exchanged although "
             "its replacement (task " +
             s.task + ") was never committed; left alone");
        wait(s, "a look at a replica exchanged before the commit point (left alone)");
        return;
      }
    }
    bool ok = true;
    for (const auto& p : s.parts) {
      if (!visible(p)) {
        note("chunk " + s.chunk + ": " + place(p) + " " + hidden(p) +
             "; its part of the uncommitted replacement (task " + s.task +
             ") is left until it is back (every replica keeps its old version)");
        ok = false;
        continue;
      }
      if (s.temps.count(where_key(p.node, p.volume))) {
        const bool done =
            act(p.node, s.task, [&](transport::Node& n) { n.remove_task_dirs(p.volume, s.task); });
        m_report.temps_removed += done ? 1 : 0;
        ok = ok && done;
      }
    }
    if (!ok || !remove_intents(s)) {
      wait(s, "recovery of its uncommitted replacement to finish");
    } else {
      ++m_report.sets_rolled_back;
      m_ctx.events->warning("recovery: rolled back the uncommitted replacement of chunk " +
                            s.chunk + " (task " + s.task +
                            "): every replica keeps its old "
                            "version");
    }
  }

  Context& m_ctx;
  SetView m_view;
  RecoveryReport& m_report;
};

} // namespace

std::map<std::string, std::string> held_by_commit_sets(const Inventory& inv,
                                                       const std::vector<std::string>& nodes)
{
  const std::set<std::string> leased(nodes.begin(), nodes.end());
  SetView view(inv, leased);
  std::map<std::string, std::string> held;
  for (const auto& [task, s] : view.sets()) {
    const std::string why = out_of_sight(view, s);
    if (!s.chunk.empty() && !why.empty()) {
      held.emplace(s.chunk, unfinished(task, why));
    }
  }
  return held;
}

std::set<std::string> recover_commit_sets(Context& ctx,
                                          const Inventory& inv,
                                          const std::set<std::string>& nodes,
                                          RecoveryReport& report)
{
  return SetRecovery(ctx, inv, nodes, report).run();
}

} // namespace clsync::core
