// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/rename_batch.hpp"

#include "core/exceptions.hpp"
#include "core/fault.hpp"
#include "core/json_names.hpp"
#include "core/plan/replica_planner.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <map>
#include <set>
#include <tuple>

namespace clsync::core {
namespace {

using transport::BatchRenameOutcome;

std::size_t rename_batch_limit()
{
  if (const char* v = std::getenv("CLSYNC_RENAME_BATCH"); v && *v) {
    const long n = std::strtol(v, nullptr, 10);
    return n < 1 ? 1 : static_cast<std::size_t>(n);
  }
  return k_rename_batch;
}

/// True when the inventory shows both volumes of `m` on one known device of its node.
bool same_device(const Inventory& inv, const Move& m)
{
  const VolumeState* a = inv.volume(m.from.node, m.from.volume);
  const VolumeState* b = inv.volume(m.to.node, m.to.volume);
  return a && b && a->device != 0 && a->device == b->device;
}

/// What a batch's item outcome means for its task: "" when it finished, else the error.
std::string batch_item_error(const Move& m, const transport::RenameItemResult& r)
{
  switch (r.outcome) {
  case BatchRenameOutcome::renamed:
    return "";
  case BatchRenameOutcome::destination_exists:
    return "chunk " + m.chunk + " already exists on " + place_str(m.to);
  case BatchRenameOutcome::missing:
    return "the source replica " + m.chunk + " on " + place_str(m.from) + " is gone";
  case BatchRenameOutcome::changed:
    return "the source replica changed since the plan was made; plan again";
  case BatchRenameOutcome::cross_device:
    return "another filesystem";
  case BatchRenameOutcome::failed:
    break;
  }
  return r.error.empty() ? "the rename of " + m.chunk + " failed" : r.error;
}

} // namespace

std::vector<std::vector<std::size_t>> rename_batch_units(const Plan& plan, const Inventory& inv)
{
  const std::size_t limit = rename_batch_limit();
  auto renames = [&](const Move& m) {
    return m.kind == MoveKind::move && m.from.node == m.to.node && m.from.volume != m.to.volume &&
           same_device(inv, m);
  };
  // A chunk is batched only when every move of it in the plan is such a rename, one per node
  // (rebalance-disks --all-nodes renames a chunk's replica on each of its nodes): then no other
  // task ever works on it, and no two batches on one of its replicas.
  std::map<std::string, bool> only_renames;
  std::set<std::pair<std::string, std::string>> node_chunk;
  for (const auto& m : plan.moves) {
    auto [it, inserted] = only_renames.try_emplace(m.chunk, true);
    it->second = it->second && renames(m) && node_chunk.insert({m.from.node, m.chunk}).second;
  }
  std::vector<std::vector<std::size_t>> units;
  // (node, from volume, to volume) → the unit being filled for that pair.
  std::map<std::tuple<std::string, std::string, std::string>, std::size_t> open;
  for (std::size_t i = 0; i < plan.moves.size(); ++i) {
    const Move& m = plan.moves[i];
    if (limit <= 1 || !only_renames[m.chunk]) {
      units.push_back({i});
      continue;
    }
    auto key = std::make_tuple(m.from.node, m.from.volume, m.to.volume);
    auto it = open.find(key);
    if (it == open.end() || units[it->second].size() >= limit) {
      open[key] = units.size();
      units.push_back({i});
    } else {
      units[it->second].push_back(i);
    }
  }
  return units;
}

std::string rename_batch_intent(const std::string& run_id,
                                const std::string& batch_id,
                                const std::vector<const Move*>& moves,
                                const std::vector<std::string>& ids)
{
  const Move& first = *moves.front();
  nlohmann::json source{{"node", first.from.node}};
  put_name(source, "volume", first.from.volume);
  nlohmann::json destination{{"node", first.to.node}};
  put_name(destination, "volume", first.to.volume);
  nlohmann::json chunks = nlohmann::json::array();
  for (const Move* m : moves) {
    nlohmann::json one = nlohmann::json::object();
    put_name(one, "chunk", m->chunk);
    chunks.push_back(std::move(one));
  }
  return dump_json({{"run", run_id},
                    {"task", batch_id},
                    {"kind", "rename_batch"},
                    {"source", std::move(source)},
                    {"destination", std::move(destination)},
                    {"created", utc_timestamp(std::chrono::system_clock::now())},
                    {"chunks", std::move(chunks)},
                    {"tasks", ids}});
}

std::vector<TaskResult> run_rename_batch(TaskEnv& env,
                                         const std::vector<const Move*>& moves,
                                         const std::vector<std::string>& ids)
{
  std::vector<TaskResult> results(moves.size());
  for (std::size_t i = 0; i < moves.size(); ++i) {
    results[i].id = ids[i];
    results[i].move = *moves[i];
    results[i].attempts = 1;
    announce_task(env, *moves[i], ids[i], "running");
  }
  const Move& first = *moves.front();
  const std::string batch_id = ids.front() + "-batch";
  std::vector<Place> intents;
  std::vector<transport::RenameItemResult> out;
  std::string whole_error;  // a failure of the batch as a whole
  bool stopped = false;
  try {
    auto node = env.ctx.nodes->get(first.from.node);
    const std::string rec = rename_batch_intent(env.settings.run.run_id, batch_id, moves, ids);
    node->write_intent(first.to.volume, batch_id, rec);
    intents.push_back(first.to);
    node->write_intent(first.from.volume, batch_id, rec);
    intents.push_back(first.from);
    fault_point("rename_batch_after_intent");
    if (env.ctx.stopping()) {
      stopped = true;
    } else {
      std::vector<transport::RenameItem> items;
      items.reserve(moves.size());
      for (const Move* m : moves) {
        items.push_back({m->chunk, m->fingerprint});
      }
      out = node->rename_chunks(first.from.volume, first.to.volume, items);
      fault_point("rename_batch_after_renames");
    }
    // Each chunk is now in exactly one place, whatever the outcomes: the intent has done its
    // work. Were this removal cut short, recovery removes what is left of it.
    for (auto it = intents.rbegin(); it != intents.rend(); ++it) {
      node->remove_intent(it->volume, batch_id);
    }
    intents.clear();
  } catch (...) {
    whole_error = current_exception_text();
    for (const auto& p : intents) {
      try {
        env.ctx.nodes->get(p.node)->remove_intent(p.volume, batch_id);
      } catch (...) {
        // Left for the next run's recovery.
      }
    }
  }
  for (std::size_t i = 0; i < moves.size(); ++i) {
    TaskResult& r = results[i];
    if (stopped) {
      r.state = "rolled_back";
    } else if (!whole_error.empty() && out.size() != moves.size()) {
      r.state = "failed";
      r.error = "batched rename: " + whole_error + " (the chunk is at its source or its "
                "destination; the next run plans from where it is)";
    } else if (out[i].outcome == BatchRenameOutcome::cross_device) {
      // Same device but another mount (a bind mount): the node copies it, as run_task does.
      results[i] = run_task(env, *moves[i], ids[i]);
      continue;
    } else {
      r.error = batch_item_error(*moves[i], out[i]);
      r.state = r.error.empty() ? "finished" : "failed";
    }
    announce_task(env, *moves[i], ids[i], r.state, r.error);
  }
  return results;
}

} // namespace clsync::core
