// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/text_table.hpp"
#include "cli/repo_options.hpp"
#include "core/json_names.hpp"
#include "core/repo/restore.hpp"
#include "core/units.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <sstream>

namespace clsync::cli {
namespace {

using core::repo::RestoreChunk;
using core::repo::RestoreResult;


/// The --json document: {dry_run, repository, snapshot, run_id, restored, kept, replaced, failed,
/// deleted, replicas_written, bytes, chunks: [{chunk, action, kept: [place], targets: [{node, volume,
/// replace}], bytes, error?}], notes, result, journal, exit_code, error?}.
nlohmann::json restore_json(const RestoreResult& r, bool dry_run)
{
  nlohmann::json chunks = nlohmann::json::array();
  for (const RestoreChunk& c : r.chunks) {
    nlohmann::json j{{"action", c.action}, {"bytes", c.bytes}};
    core::put_name(j, "chunk", c.key);
    j["kept"] = nlohmann::json::array();
    for (const auto& p : c.kept) {
      j["kept"].push_back(place_json(p));
    }
    j["targets"] = nlohmann::json::array();
    for (const auto& t : c.targets) {
      auto tj = place_json(t.place);
      tj["replace"] = t.replace;
      j["targets"].push_back(std::move(tj));
    }
    if (!c.error.empty()) {
      j["error"] = core::lossy_utf8(c.error);
    }
    chunks.push_back(std::move(j));
  }
  nlohmann::json notes = nlohmann::json::array();
  for (const auto& n : r.run.notes) {
    nlohmann::json j{{"reason", core::lossy_utf8(n.reason)}};
    core::put_name(j, "chunk", n.chunk);
    notes.push_back(std::move(j));
  }
  const int code = static_cast<int>(r.code);
  return {
      {"dry_run", dry_run},
      {"repository", core::lossy_utf8(r.repository)},
      {"snapshot", r.snapshot},
      {"run_id", r.run.run_id},
      {"restored", r.restored},
      {"kept", r.kept},
      {"replaced", r.replaced},
      {"failed", r.failed},
      {"deleted", r.deleted},
      {"replicas_written", r.replicas_written},
      {"bytes", r.bytes},
      {"chunks", std::move(chunks)},
      {"notes", std::move(notes)},
      {"result", code == 0 ? "ok" : code == 3 ? "partial" : code == 130 ? "interrupted" : "failed"},
      {"journal", r.run.journal},
      {"exit_code", code},
  };
}

std::string restore_text(const RestoreResult& r, bool dry_run, bool all)
{
  std::ostringstream out;
  out << (dry_run ? "Would restore" : "Restore") << " snapshot " << r.snapshot << " of "
      << r.repository << "\n";
  std::size_t shown = 0;
  for (const RestoreChunk& c : r.chunks) {
    if (c.action == "keep" && !all) {
      continue;
    }
    if (!all && ++shown > 50) {
      continue;
    }
    out << "  " << c.action << "  " << quote_name(c.key);
    std::string sep = "  -> ";
    for (const auto& t : c.targets) {
      out << sep << t.place.node << ":" << quote_name(t.place.volume)
          << (t.replace ? " (replace)" : "");
      sep = ", ";
    }
    if (!c.error.empty()) {
      out << "  [" << terminal_safe(c.error) << "]";
    }
    out << "\n";
  }
  if (shown > 50) {
    out << "  … " << (shown - 50) << " more (-v lists all)\n";
  }
  if (dry_run) {
    out << "would write " << r.restored << " chunks, replace " << r.replaced << ", keep "
        << r.kept << ", delete " << r.deleted << "; " << r.failed << " failed; " << r.replicas_written << " replicas, "
        << core::format_size(r.bytes) << "\n";
  } else {
    out << "restored " << r.restored << " chunks, replaced " << r.replaced << ", kept " << r.kept
        << ", deleted " << r.deleted << ", failed " << r.failed << "; " << r.replicas_written << " replicas written ("
        << core::format_size(r.bytes) << ")\n";
  }
  for (const auto& n : r.run.notes) {
    if (n.chunk.empty()) {
      out << "note: " << terminal_safe(n.reason) << "\n";
    }
  }
  if (!r.run.journal.empty()) {
    out << "journal: " << r.run.journal << "\n";
  }
  return out.str();
}

/// -q: nothing on stdout; each chunk's error on stderr (the exit code says the rest).
void log_chunk_errors(const RestoreResult& r)
{
  for (const RestoreChunk& c : r.chunks) {
    if (!c.error.empty()) {
      spdlog::error("chunk {}: {}", terminal_safe(c.key), terminal_safe(c.error));
    }
  }
}

} // namespace

Command make_restore(CLI::App& app)
{
  auto opts = std::make_shared<core::repo::RestoreOptions>();
  auto* sub = app.add_subcommand("restore", "Put chunks from a backup repository onto a cluster");
  sub->footer(k_exit_status_help);
  sub->add_option("--from", opts->from, "the repository: a path or ssh://[user@]host[:port]/path")
      ->required()
      ->type_name("REPO");
  sub->add_option("--snapshot", opts->snapshot, "snapshot id, or latest (the newest of the group)")
      ->capture_default_str()
      ->type_name("ID");
  sub->add_flag("--force", opts->force,
                "replace replicas that differ from the snapshot (atomically; old version removed)");
  sub->add_flag("--delete", opts->del,
                "remove the selected chunks the snapshot does not hold (trashed, then removed)");
  sub->add_option("--max-delete", opts->max_delete,
                  "with --delete: refuse to remove more chunks than N, or N% of those selected")
      ->capture_default_str()
      ->type_name("N|N%");
  add_write_options(*sub, opts->write);
  add_filter_options(*sub, opts->filter);
  add_repo_options(*sub, opts->connect);
  return {sub, Needs::topology,
          [opts](core::Context& ctx, const GlobalOptions& g, std::ostream& out) {
            opts->connect.deploy_agent = g.deploy_agent;
            apply_run_connect(opts->connect, ctx);
            RestoreResult r;
            try {
              r = core::repo::restore(ctx, *opts);
            } catch (const Error& e) {
              if (g.json) {
                RestoreResult none;
                none.code = e.code();
                auto doc = restore_json(none, opts->write.dry_run);
                doc["error"] = core::lossy_utf8(e.what());
                out << core::dump_json(doc, 2) << '\n';
              }
              throw;
            }
            if (g.json) {
              out << core::dump_json(restore_json(r, opts->write.dry_run), 2) << '\n';
            } else if (g.quiet) {
              log_chunk_errors(r);
            } else {
              out << restore_text(r, opts->write.dry_run, g.verbose > 0);
            }
            return r.code;
          }};
}

} // namespace clsync::cli
