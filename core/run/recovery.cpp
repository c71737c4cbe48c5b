// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/recovery.hpp"

#include "core/fault.hpp"
#include "core/json_names.hpp"
#include "core/json_number.hpp"
#include "core/cluster/node_set.hpp"
#include "core/run/recount.hpp"
#include "core/run/recovery_sets.hpp"
#include "transport/host_identity.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <map>
#include <set>
#include <stdexcept>
#include <unistd.h>

namespace clsync::core {
namespace {

struct Intent {
  std::string task, chunk, kind;
  std::string src_node, src_volume, dst_node, dst_volume;
  std::vector<std::pair<std::string, std::string>> found_at; ///< (node, volume) of its files
};

struct Found {
  std::string node, volume, task;
  std::string name; ///< the leftover's file name (holds)
};

bool has_replica_at(const Chunk& c, const std::string& node, const std::string& volume)
{
  return std::any_of(c.replicas.begin(), c.replicas.end(),
                     [&](const Replica& r) { return r.node == node && r.volume == volume; });
}

class Recovery {
public:
  Recovery(Context& ctx, const Inventory& inv, const std::vector<std::string>& nodes)
      : m_ctx(ctx), m_inv(inv), m_nodes(nodes.begin(), nodes.end()),
        m_recount(ctx, inv, "recovery-" + std::to_string(::getpid()))
  {
  }

  RecoveryReport run()
  {
    m_set_tasks = recover_commit_sets(m_ctx, m_inv, m_nodes, m_report);
    gather();
    for (const auto& h : m_holds) {
      handle_hold(h);
    }
    for (const auto& c : m_inv.chunks) {
      m_count[c.key] = c.replica_count();
    }
    for (const auto& t : m_trash) {
      if (m_set_tasks.count(t.task)) {
        continue;
      }
      handle_trash(t);
    }
    for (const auto& [task, intent] : m_intents) {
      handle_surplus(intent);
    }
    for (const auto& t : m_temps) {
      if (m_done_dirs.count(t.node + "\n" + t.volume + "\n" + t.task) ||
          m_set_tasks.count(t.task)) {
        continue;
      }
      act(
          t.node, [&](transport::Node& n) { n.remove_task_dirs(t.volume, t.task); },
          "removed the temporary directory .clsync-tmp-" + t.task + " on " + t.node + ":" +
              t.volume,
          m_report.temps_removed, t.task);
    }
    for (const auto& [task, intent] : m_intents) {
      if (m_unresolved.count(task) || m_set_tasks.count(task)) {
        continue;
      }
      for (const auto& [node, volume] : intent.found_at) {
        // Named references: clang 14 cannot capture a structured binding (C++20, clang 16).
        const std::string& vol = volume;
        const std::string& id = task;
        act(
            node, [&](transport::Node& n) { n.remove_intent(vol, id); }, "",
            m_report.intents_removed, task);
      }
    }
    for (const auto& p : m_parts) {
      if (!m_unresolved.count(p.task)) {
        act(
            p.node, [&](transport::Node& n) { n.remove_intent(p.volume, p.task); }, "",
            m_report.intents_removed, p.task);
      }
    }
    report_unexplained_surplus();
    return std::move(m_report);
  }

private:
  void gather()
  {
    for (const auto& [node, l] : m_inv.leftovers) {
      // A re-count holds the other replicas wherever they are, on nodes the run does not lease
      // too: a dead holder's hold is gathered from every node, or it would keep a replica
      // uncounted for an hour and the interrupted move it guards could not be finished.
      if (l.kind == "hold") {
        m_holds.push_back({node, l.volume, l.content, l.name});
        continue;
      }
      if (!m_nodes.count(node)) {
        continue;
      }
      if (l.kind == "intent") {
        auto j = nlohmann::json::parse(l.content, nullptr, false);
        Intent& in = m_intents[l.task];
        in.task = l.task;
        in.found_at.emplace_back(node, l.volume);
        if (j.is_object()) {
          try {
            read_intent(j, in);
          } catch (const std::exception& e) {
            // A damaged intent explains nothing: what it would explain is left alone.
            m_unresolved.insert(l.task);
            note("the intent " + node + ":" + l.volume + "/" + l.name + " cannot be read (" +
                 e.what() + "); left alone");
          }
        }
      } else if (l.kind == "trash") {
        m_trash.push_back({node, l.volume, l.task});
      } else if (l.kind == "tmp") {
        m_temps.push_back({node, l.volume, l.task});
      } else if (l.name.rfind(".clsync-part-intent-", 0) == 0 && !l.task.empty()) {
        // An intent whose write was cut short: never in force, so it simply goes.
        m_parts.push_back({node, l.volume, l.task});
      } else if (l.kind != "lease") {
        note(node + ":" + l.volume + "/" + l.name + " is not something clsync knows; left alone");
      }
    }
  }

  /// An intent's fields into `in`, all read before any is kept (throws for a wrong type).
  static void read_intent(const nlohmann::json& j, Intent& in)
  {
    Intent r = in;
    r.chunk = get_name_or(j, "chunk", in.chunk);
    r.kind = j.value("kind", in.kind);
    if (auto s = j.find("source"); s != j.end() && s->is_object()) {
      r.src_node = s->value("node", "");
      r.src_volume = get_name_or(*s, "volume", "");
    }
    if (auto d = j.find("destination"); d != j.end() && d->is_object()) {
      r.dst_node = d->value("node", "");
      r.dst_volume = get_name_or(*d, "volume", "");
    }
    in = std::move(r);
  }

  void note(const std::string& what)
  {
    m_report.notes.push_back(what);
    m_ctx.events->warning("recovery: " + what);
  }

  /// Runs one node action; on success counts it and says so, on failure notes it and marks the
  /// task unresolved (its intents stay for a later run).
  template <typename F>
  bool act(const std::string& node,
           F&& f,
           const std::string& what,
           std::uint64_t& counter,
           const std::string& task)
  {
    try {
      f(*m_ctx.nodes->get(node));
      ++counter;
      if (!what.empty()) {
        m_ctx.events->warning("recovery: " + what);
      }
      fault_point("recovery_mid");
      return true;
    } catch (const std::exception& e) {
      m_unresolved.insert(task);
      note("could not finish recovery on node " + node + " (" + e.what() +
           "); left for a later run");
      return false;
    }
  }

  void handle_trash(const Found& t)
  {
    auto it = m_intents.find(t.task);
    if (it == m_intents.end() || it->second.chunk.empty()) {
      note(t.node + ":" + t.volume + "/.clsync-trash-" + t.task +
           " has no intent naming its chunk; left alone");
      return;
    }
    const Intent& in = it->second;
    const Chunk* c = m_inv.chunk(in.chunk);
    if (in.kind == "write" && c && has_replica_at(*c, t.node, t.volume)) {
      // A replacement (--force) was exchanged into place: the trash is the old version, which
      // the operator asked to replace; the chunk's count does not depend on it.
      m_done_dirs.insert(t.node + "\n" + t.volume + "\n" + t.task);
      act(
          t.node, [&](transport::Node& n) { n.remove_task_dirs(t.volume, t.task); },
          "removed the replaced old version of chunk " + in.chunk + " on " + t.node + ":" +
              t.volume + " left by an interrupted run",
          m_report.trash_removed, t.task);
      return;
    }
    if (in.kind == "remove") {
      // A delete the operator asked for (restore --delete): finish it.
      m_done_dirs.insert(t.node + "\n" + t.volume + "\n" + t.task);
      act(
          t.node, [&](transport::Node& n) { n.remove_task_dirs(t.volume, t.task); },
          "finished the interrupted delete of chunk " + in.chunk + " on " + t.node + ":" +
              t.volume,
          m_report.trash_removed, t.task);
      return;
    }
    const int want = c ? c->replication : 1;
    const int have = m_count[in.chunk];
    m_done_dirs.insert(t.node + "\n" + t.volume + "\n" + t.task);
    if (have >= want) {
      // Counted fresh, verified equal and held, not taken from the inventory (SPEC §5).
      bool refused = false;
      act(
          t.node,
          [&](transport::Node& n) {
            try {
              m_recount.remove_guarded(
                  in.chunk, std::nullopt, "", "recovery-" + t.task,
                  [&] { n.remove_task_dirs(t.volume, t.task); }, want);
            } catch (const RecountRefused& e) {
              refused = true;
              note(e.what());
            }
          },
          "", m_report.trash_removed, t.task);
      if (!refused) {
        m_ctx.events->warning("recovery: removed the trash of chunk " + in.chunk + " on " +
                              t.node + ":" + t.volume + " (" + std::to_string(have) +
                              " replicas elsewhere)");
        return;
      }
      --m_report.trash_removed;
    }
    // The chunk would be short of replicas without it: put it back (SPEC §5).
    if (act(
            t.node, [&](transport::Node& n) { n.untrash_chunk(t.volume, t.task, in.chunk); },
            "restored chunk " + in.chunk + " on " + t.node + ":" + t.volume +
                " from the trash of an interrupted run",
            m_report.trash_restored, t.task)) {
      ++m_count[in.chunk];
    }
  }

  void handle_surplus(const Intent& in)
  {
    if (in.kind != "move" || in.chunk.empty() || !m_nodes.count(in.src_node)) {
      return;
    }
    const Chunk* c = m_inv.chunk(in.chunk);
    if (!c || !has_replica_at(*c, in.src_node, in.src_volume) ||
        !has_replica_at(*c, in.dst_node, in.dst_volume)) {
      return;
    }
    const bool same_node = in.src_node == in.dst_node;
    if (!same_node && m_count[in.chunk] <= c->replication) {
      return;
    }
    // A move committed its copy but was killed before removing the source: finish it, once the
    // two copies are shown to be the same bytes.
    std::string compared_fp, content;
    try {
      auto src = m_ctx.nodes->get(in.src_node);
      auto dst = m_ctx.nodes->get(in.dst_node);
      auto a = src->hash_chunk(in.src_volume, in.chunk);
      compared_fp = a.fingerprint;
      content = a.content_hash;
      auto b = dst->hash_chunk(in.dst_volume, in.chunk);
      if (a.content_hash != b.content_hash) {
        m_unresolved.insert(in.task);
        note("chunk " + in.chunk + " on " + in.src_node + ":" + in.src_volume + " and " +
             in.dst_node + ":" + in.dst_volume + " differ; the interrupted move is left alone");
        return;
      }
    } catch (const std::exception& e) {
      m_unresolved.insert(in.task);
      note("could not compare the copies of " + in.chunk + " (" + e.what() + "); left alone");
      return;
    }
    if (act(
            in.src_node,
            [&](transport::Node& n) {
              m_recount.remove_guarded(
                  in.chunk, Place{in.src_node, in.src_volume}, content, "recovery-" + in.task,
                  [&] {
                    // A write between the comparison and the trash would be lost with it.
                    if (n.trash_chunk(in.src_volume, in.chunk, in.task) != compared_fp) {
                      n.untrash_chunk(in.src_volume, in.task, in.chunk);
                      throw std::runtime_error("the source changed after it was compared; kept");
                    }
                  });
              n.remove_task_dirs(in.src_volume, in.task);
            },
            "finished the interrupted move of chunk " + in.chunk + ": removed the source on " +
                in.src_node + ":" + in.src_volume,
            m_report.surplus_trashed, in.task)) {
      if (!same_node) {
        --m_count[in.chunk];
      }
      m_explained.insert(in.chunk);
    }
  }

  /// A hold whose holder is gone only keeps a replica from being removed: remove it.
  void handle_hold(const Found& h)
  {
    const std::string where = h.node + ":" + h.volume;
    std::string chunk, why;
    bool gone = false;
    try {
      gone = hold_is_gone(h.task, chunk);
    } catch (const std::exception& e) {
      why = e.what(); // a field of the wrong type or a number out of range
    }
    if (chunk.empty()) {
      note("a removal hold on " + where + " (" + h.name + ") cannot be read" +
           (why.empty() ? "" : " (" + why + ")") + "; left alone");
      return;
    }
    if (!gone) {
      note("chunk " + chunk + " on " + where + " is held by a removal of run " +
           hold_run(h.task) + " that may be alive; left alone");
      return;
    }
    act(
        h.node, [&](transport::Node& n) { n.release_hold(h.volume, chunk, h.task); },
        "removed the hold of chunk " + chunk + " on " + where + " left by a run that is gone",
        m_report.holds_removed, "hold");
  }

  /// Whether the holder of hold `record` is gone; `chunk` gets the held chunk, or stays empty
  /// when the record names none. Throws for a field of the wrong type or out of range (a
  /// hand-edited hold: 1e300 as its creation time must not be read as a time).
  static bool hold_is_gone(const std::string& record, std::string& chunk)
  {
    auto j = nlohmann::json::parse(record, nullptr, false);
    if (!j.is_object() || !j.contains("chunk") || !j["chunk"].is_string()) {
      return false;
    }
    const auto& me = transport::this_host_identity();
    const std::string key = get_name_or(j, "chunk", j["chunk"].get<std::string>());
    const auto pid = json_number(j, "pid", pid_t{0});
    const auto created = json_number(j, "created_unix", std::int64_t{0});
    auto text = [&j](const char* field) {
      const auto it = j.find(field);
      if (it != j.end() && !it->is_string()) {
        throw std::runtime_error(std::string("field '") + field + "' is not a string");
      }
      return it == j.end() ? std::string() : it->get<std::string>();
    };
    bool gone = false;
    if (text("machine") == me.machine_id) {
      gone = text("boot") != me.boot_id ||
             (pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH);
    }
    const std::int64_t now = std::time(nullptr);
    if (!gone && created > 0 && created < now && now - created > 3600) {
      gone = true; // holds last seconds; an hour-old one belongs to a run that is gone
    }
    chunk = key;
    return gone;
  }

  static std::string hold_run(const std::string& record)
  {
    auto j = nlohmann::json::parse(record, nullptr, false);
    const auto run = j.is_object() ? j.find("run") : j.end();
    return run != j.end() && run->is_string() ? run->get<std::string>() : "?";
  }

  void report_unexplained_surplus()
  {
    for (const auto& c : m_inv.chunks) {
      if (m_explained.count(c.key)) {
        continue;
      }
      if (c.replica_count() > c.replication) {
        note("chunk " + c.key + " has " + std::to_string(c.replica_count()) + " replicas (wants " +
             std::to_string(c.replication) +
             "); no intent of clsync explains the surplus, so none is removed");
      }
    }
  }

  Context& m_ctx;
  const Inventory& m_inv;
  std::set<std::string> m_nodes;
  std::map<std::string, Intent> m_intents;
  std::vector<Found> m_trash, m_temps, m_parts;
  std::vector<Found> m_holds;  ///< (node, volume, the hold's record in `task`)
  std::map<std::string, int> m_count;
  std::set<std::string> m_done_dirs, m_unresolved, m_explained;
  std::set<std::string> m_set_tasks;  ///< commit sets: recover_commit_sets() owns them
  RecoveryReport m_report;
  Recount m_recount;
};

} // namespace

RecoveryReport recover(Context& ctx, const Inventory& inv, const std::vector<std::string>& nodes)
{
  return Recovery(ctx, inv, nodes).run();
}

} // namespace clsync::core
