// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/render_plan.hpp"

#include "cli/json_stream.hpp"
#include "cli/text_table.hpp"
#include "core/json_names.hpp"
#include "core/plan/replica_planner.hpp"

#include <cstdio>
#include <sstream>

namespace clsync::cli {
namespace {

constexpr std::size_t k_moves_shown = 20;

std::string place(const core::Place& p)
{
  return p.node + ":" + p.volume;
}


nlohmann::json loads_json(const std::map<std::string, core::NodeLoad>& loads)
{
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, l] : loads) {
    j[name] = {{"chunks", l.chunks}, {"bytes", l.bytes}};
  }
  return j;
}

/// Whether a run left part of its plan undone (failed, rolled back or not started tasks).
bool partly_done(const core::RebalanceResult& r)
{
  return r.exec && r.exec->finished < r.plan.moves.size();
}

/// The moves whose tasks finished.
std::vector<core::Move> done_moves(const core::RebalanceResult& r)
{
  std::vector<core::Move> done;
  if (r.exec) {
    for (const auto& t : r.exec->tasks) {
      if (t.state == "finished") {
        done.push_back(t.move);
      }
    }
  }
  return done;
}

/// The loads after the run: what the finished tasks did when tasks ran, else the plan's.
std::map<std::string, core::NodeLoad> after_loads(const core::RebalanceResult& r)
{
  return partly_done(r) ? core::loads_after(r.plan, done_moves(r)) : r.plan.after;
}

std::string rate(std::uint64_t bytes, double seconds)
{
  if (seconds <= 0) {
    return "-";
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB/s", static_cast<double>(bytes) / 1e6 / seconds);
  return buf;
}

void render_moves(std::ostringstream& out, const core::RebalanceResult& r, bool all_moves)
{
  const auto& moves = r.plan.moves;
  out << (r.dry_run ? "Planned moves: " : "Moves: ") << moves.size() << " ("
      << human_size(r.plan.bytes()) << ")\n";
  if (moves.empty()) {
    return;
  }
  TextTable t;
  t.column("CHUNK").column("KIND").column("FROM").column("TO").column("BYTES",
                                                                      TextTable::Align::right);
  if (r.exec) {
    t.column("STATE");
  }
  const std::size_t shown = all_moves ? moves.size() : std::min(moves.size(), k_moves_shown);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& m = moves[i];
    std::vector<std::string> row{m.chunk, core::to_string(m.kind), place(m.from), place(m.to),
                                 human_size(m.bytes)};
    if (r.exec && i < r.exec->tasks.size()) {
      row.push_back(r.exec->tasks[i].state);
    }
    t.add_row(std::move(row));
  }
  std::istringstream lines(t.render());
  for (std::string line; std::getline(lines, line);) {
    out << "  " << line << '\n';
  }
  if (shown < moves.size()) {
    out << "  … and " << moves.size() - shown << " more (-v shows all)\n";
  }
}

void render_matrix(std::ostringstream& out,
                   const core::RebalanceResult& r,
                   const core::Topology* topo)
{
  if (r.plan.moves.empty()) {
    return;
  }
  bool by_volume = r.command == "rebalance-disks";
  for (const auto& m : r.plan.moves) {
    by_volume = by_volume || m.from.node == m.to.node;
  }
  auto mx = core::plan_matrix(r.plan, topo, by_volume);
  TextTable t;
  t.column("FROM \\ TO");
  for (const auto& l : mx.labels) {
    t.column(l, TextTable::Align::right);
  }
  for (std::size_t i = 0; i < mx.labels.size(); ++i) {
    std::vector<std::string> row{mx.labels[i]};
    bool any = false;
    for (std::size_t j = 0; j < mx.labels.size(); ++j) {
      const auto& c = mx.cells[i][j];
      any = any || c.moves > 0;
      row.push_back(c.moves ? std::to_string(c.moves) + " (" + human_size(c.bytes) + ")" : "-");
    }
    if (any) {
      t.add_row(std::move(row));
    }
  }
  out << "\nFrom → to (moves, bytes):\n";
  std::istringstream lines(t.render());
  for (std::string line; std::getline(lines, line);) {
    out << "  " << line << '\n';
  }
}

void render_loads(std::ostringstream& out, const core::RebalanceResult& r)
{
  if (r.plan.before.empty() && r.plan.after.empty()) {
    return;
  }
  const auto after = after_loads(r);
  TextTable t;
  t.column(r.command == "rebalance-disks" ? "VOLUME" : "NODE")
      .column("CHUNKS BEFORE", TextTable::Align::right)
      .column("BYTES BEFORE", TextTable::Align::right)
      .column("CHUNKS AFTER", TextTable::Align::right)
      .column("BYTES AFTER", TextTable::Align::right);
  std::map<std::string, bool> names;
  for (const auto& [n, l] : r.plan.before) {
    names[n] = true;
  }
  for (const auto& [n, l] : after) {
    names[n] = true;
  }
  for (const auto& [n, _] : names) {
    auto b = r.plan.before.count(n) ? r.plan.before.at(n) : core::NodeLoad{};
    auto a = after.count(n) ? after.at(n) : core::NodeLoad{};
    t.add_row({n, std::to_string(b.chunks), human_size(b.bytes), std::to_string(a.chunks),
               human_size(a.bytes)});
  }
  out << "\nPer " << (r.command == "rebalance-disks" ? "volume" : "node")
      << (r.dry_run           ? " (after: as planned)"
          : partly_done(r) ? " (after: what the finished tasks did, not the plan)"
                           : "")
      << ":\n";
  std::istringstream lines(t.render());
  for (std::string line; std::getline(lines, line);) {
    out << "  " << line << '\n';
  }
}

} // namespace

std::string
render_rebalance_text(const core::RebalanceResult& r, const core::Topology* topo, bool all_moves)
{
  std::ostringstream out;
  out << r.command << (r.dry_run ? ": dry run, nothing changed" : ": run " + r.run_id) << '\n';
  render_moves(out, r, all_moves);
  render_matrix(out, r, topo);
  render_loads(out, r);
  if (r.exec) {
    const auto& e = *r.exec;
    out << "\nTasks: " << e.finished << " finished, " << e.failed << " failed";
    if (e.rolled_back) {
      out << ", " << e.rolled_back << " rolled back";
    }
    if (e.not_started) {
      out << ", " << e.not_started << " not started";
    }
    out << "; " << human_size(e.bytes) << " in " << decimal(e.seconds) << " s ("
        << rate(e.bytes, e.seconds) << ")\n";
    std::size_t listed = 0;
    for (const auto& t : e.tasks) {
      if (t.state == "finished") {
        continue;
      }
      if (!all_moves && listed++ == k_moves_shown) {
        out << "  … and more (-v shows all)\n";
        break;
      }
      const std::string what = t.state == "not_started" ? "not started"
                               : t.state == "rolled_back" ? "rolled back"
                                                          : t.state;
      out << "  " << what << ": " << quote_name(t.move.chunk) << " (" << place(t.move.from)
          << " → " << place(t.move.to) << ")"
          << (t.error.empty() ? "" : ": " + quote_name(t.error)) << '\n';
    }
    if (!r.journal.empty()) {
      out << "Journal: " << r.journal << '\n';
    }
  }
  if (!r.notes.empty()) {
    out << "\nNotes:\n";
    for (const auto& n : r.notes) {
      out << "  " << (n.chunk.empty() ? "" : quote_name(n.chunk) + ": ") << quote_name(n.reason)
          << '\n';
    }
  }
  return out.str();
}

namespace {

/// One entry of the document's "moves": move `i` of the plan, with its task when the plan ran.
nlohmann::json move_json(const core::RebalanceResult& r, std::size_t i)
{
  const auto& m = r.plan.moves[i];
  nlohmann::json j{{"kind", core::to_string(m.kind)},
                   {"from", place_json(m.from)},
                   {"to", place_json(m.to)},
                   {"bytes", m.bytes}};
  core::put_name(j, "chunk", m.chunk);
  if (r.exec && i < r.exec->tasks.size()) {
    j["state"] = r.exec->tasks[i].state;
    j["task"] = r.exec->tasks[i].id;
    if (!r.exec->tasks[i].error.empty()) {
      j["error"] = core::lossy_utf8(r.exec->tasks[i].error);
    }
    if (!r.exec->tasks[i].transfer.empty()) {
      j["transfer"] = r.exec->tasks[i].transfer;
    }
    if (!r.exec->tasks[i].transfer_note.empty()) {
      j["transfer_note"] = core::lossy_utf8(r.exec->tasks[i].transfer_note);
    }
  }
  return j;
}

/// The moves, one at a time (a plan can hold a million of them).
JsonArraySource moves_source(const core::RebalanceResult& r)
{
  return [&r](const JsonEmit& emit) {
    for (std::size_t i = 0; i < r.plan.moves.size(); ++i) {
      emit(move_json(r, i));
    }
  };
}

/// Every member of the document but "moves".
nlohmann::json rebalance_json_head(const core::RebalanceResult& r)
{
  nlohmann::json notes = nlohmann::json::array();
  for (const auto& n : r.notes) {
    nlohmann::json j{{"reason", core::lossy_utf8(n.reason)}};
    core::put_name(j, "chunk", n.chunk);
    notes.push_back(std::move(j));
  }
  nlohmann::json tasks{{"finished", 0}, {"failed", 0}, {"rolled_back", 0}, {"not_started", 0}};
  if (r.exec) {
    tasks = {{"finished", r.exec->finished},
             {"failed", r.exec->failed},
             {"rolled_back", r.exec->rolled_back},
             {"not_started", r.exec->not_started},
             {"bytes", r.exec->bytes},
             {"bytes_relayed", r.exec->bytes_relayed},
             {"bytes_direct", r.exec->bytes_direct},
             {"seconds", r.exec->seconds}};
  }
  nlohmann::json doc{
      {"dry_run", r.dry_run},
      {"command", r.command},
      {"summary", {{"moves", r.plan.moves.size()}, {"bytes", r.plan.bytes()}}},
      {"before", loads_json(r.plan.before)},
      {"after", loads_json(after_loads(r))},
      {"tasks", std::move(tasks)},
      {"notes", std::move(notes)},
      {"result", r.exec ? r.exec->result() : (r.dry_run ? "dry_run" : "ok")},
      {"exit_code", static_cast<int>(r.code)},
  };
  if (r.exec) {
    doc["after_planned"] = loads_json(r.plan.after);
  }
  if (!r.run_id.empty()) {
    doc["run_id"] = r.run_id;
  }
  if (!r.journal.empty()) {
    core::put_name(doc, "journal", r.journal);
  }
  if (!r.dry_run) {
    doc["recovery"] = {{"temps_removed", r.recovery.temps_removed},
                       {"trash_removed", r.recovery.trash_removed},
                       {"trash_restored", r.recovery.trash_restored},
                       {"surplus_trashed", r.recovery.surplus_trashed},
                       {"intents_removed", r.recovery.intents_removed}};
  }
  return doc;
}

} // namespace

nlohmann::json rebalance_json(const core::RebalanceResult& r)
{
  nlohmann::json doc = rebalance_json_head(r);
  nlohmann::json moves = nlohmann::json::array();
  moves_source(r)([&moves](const nlohmann::json& m) { moves.push_back(m); });
  doc["moves"] = std::move(moves);
  return doc;
}

void write_rebalance_json(std::ostream& out, const core::RebalanceResult& r)
{
  write_json_streamed(out, rebalance_json_head(r), {{"moves", moves_source(r)}});
}

ExitCode emit_rebalance(const core::RebalanceResult& r,
                        const core::Context& ctx,
                        const GlobalOptions& global,
                        std::ostream& out)
{
  if (global.json) {
    write_rebalance_json(out, r);
    out << '\n';
  } else {
    out << render_rebalance_text(r, ctx.topology.get(), global.verbose > 0);
  }
  return r.code;
}

ExitCode run_rebalance_command(const std::string& command,
                               bool dry_run,
                               const std::function<core::RebalanceResult()>& run,
                               const core::Context& ctx,
                               const GlobalOptions& global,
                               std::ostream& out)
{
  core::RebalanceResult r;
  try {
    r = run();
  } catch (const Error& e) {
    if (global.json) {
      core::RebalanceResult none;
      none.command = command;
      none.dry_run = dry_run;
      auto doc = rebalance_json(none);
      doc["result"] = "failed";
      doc["error"] = core::lossy_utf8(e.what());
      doc["exit_code"] = static_cast<int>(e.code());
      out << core::dump_json(doc, 2) << '\n';
    }
    throw;
  }
  return emit_rebalance(r, ctx, global, out);
}

} // namespace clsync::cli
