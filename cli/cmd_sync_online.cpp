// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/sync_every.hpp"
#include "core/json_names.hpp"
#include "core/sync/sync_online.hpp"
#include "core/units.hpp"

#include <nlohmann/json.hpp>

#include <iomanip>
#include <sstream>

namespace clsync::cli {
namespace {

using core::sync::Lag;
using core::sync::RoundResult;

/// Options as typed, turned into SyncOptions once parsed.
struct SyncCli {
  core::sync::SyncOptions opts;
  std::string every, max_lag;
};

nlohmann::json lag_json(const Lag& l)
{
  return {{"missing", l.missing}, {"differing", l.differing}, {"extra", l.extra},
          {"bytes", l.bytes},     {"seconds", l.seconds}};
}

double mb_per_s(const RoundResult& r)
{
  return r.seconds > 0 ? static_cast<double>(r.bytes) / 1e6 / r.seconds : 0.0;
}

/// The --json document of one round: {copied, skipped, deleted, failed, bytes, lag_before:
/// {missing, differing, extra, bytes, seconds}, lag_after: {…}, seconds, mb_per_s} and dry_run,
/// run_id, errors, notes, journal, exit_code.
nlohmann::json round_json(const RoundResult& r, bool dry_run)
{
  nlohmann::json errors = nlohmann::json::array();
  for (const auto& e : r.errors) {
    errors.push_back(core::lossy_utf8(e));
  }
  nlohmann::json notes = nlohmann::json::array();
  if (r.run) {
    for (const auto& n : r.run->notes) {
      nlohmann::json j{{"reason", core::lossy_utf8(n.reason)}};
      core::put_name(j, "chunk", n.chunk);
      notes.push_back(std::move(j));
    }
  }
  return {{"dry_run", dry_run},
          {"copied", r.copied},
          {"skipped", r.skipped},
          {"deleted", r.deleted},
          {"failed", r.failed},
          {"bytes", r.bytes},
          {"lag_before", lag_json(r.lag_before)},
          {"lag_after", lag_json(r.lag_after)},
          {"seconds", r.seconds},
          {"mb_per_s", mb_per_s(r)},
          {"run_id", r.run ? r.run->run_id : ""},
          {"journal", r.run ? r.run->journal : ""},
          {"errors", std::move(errors)},
          {"notes", std::move(notes)},
          {"exit_code", static_cast<int>(r.code)}};
}

std::string lag_text(const Lag& l)
{
  std::ostringstream out;
  out << l.missing << " missing, " << l.differing << " differing, " << l.extra << " extra ("
      << core::format_size(l.bytes) << " to copy), "
      << core::format_duration(std::chrono::seconds(static_cast<long long>(l.seconds)))
      << " behind";
  return out.str();
}

std::string round_text(const RoundResult& r, bool dry_run)
{
  std::ostringstream out;
  out << "lag before: " << lag_text(r.lag_before) << "\n";
  if (dry_run) {
    out << "would copy " << r.copied << " chunks, skip " << r.skipped << ", delete " << r.deleted
        << "\n";
  } else {
    out << "copied " << r.copied << " chunks (" << core::format_size(r.bytes) << ", "
        << std::fixed << std::setprecision(1) << mb_per_s(r) << " MB/s), skipped " << r.skipped
        << ", deleted " << r.deleted << ", failed " << r.failed << " in " << std::setprecision(1)
        << r.seconds << " s\n";
    out << "lag after: " << lag_text(r.lag_after) << "\n";
  }
  for (const auto& e : r.errors) {
    out << "error: " << core::lossy_utf8(e) << "\n";
  }
  if (r.run) {
    for (const auto& n : r.run->notes) {
      out << "note: " << (n.chunk.empty() ? "" : core::lossy_utf8(n.chunk) + ": ")
          << core::lossy_utf8(n.reason) << "\n";
    }
    if (!r.run->journal.empty()) {
      out << "journal: " << r.run->journal << "\n";
    }
  }
  return out.str();
}

/// A context for one of the two clusters, sharing the command's events, state dir and stop flag.
core::Context cluster_context(const core::Context& base, const std::string& file, bool deploy)
{
  core::Context c;
  c.events = base.events;
  c.state_dir = base.state_dir;
  c.stop_requested = base.stop_requested;
  c.connect = base.connect;
  c.connect.deploy_agent = deploy;
  c.topology = std::make_shared<core::Topology>(core::load_topology(file));
  c.nodes = std::make_shared<core::NodeSet>(*c.topology, c.connect);
  return c;
}

void finish_options(SyncCli& s)
{
  if (!s.every.empty()) {
    s.opts.every = core::parse_duration(s.every, "--every");
  }
  if (!s.max_lag.empty()) {
    s.opts.max_lag = core::parse_duration(s.max_lag, "--max-lag");
  }
}

} // namespace

Command make_sync_online(CLI::App& app)
{
  auto s = std::make_shared<SyncCli>();
  auto& o = s->opts;
  auto* sub = app.add_subcommand("sync-online",
                                 "Make the selected chunks of a live cluster B equal to cluster A");
  sub->footer(k_exit_status_help);
  sub->add_option("--from", o.from, "topology file of the source cluster A (only read)")
      ->required()
      ->type_name("A.yaml");
  sub->add_option("--to", o.to, "topology file of the destination cluster B")
      ->required()
      ->type_name("B.yaml");
  sub->add_flag("--checksum", o.checksum,
                "compare content hashes of A and B (reads every byte) instead of fingerprints");
  sub->add_flag("--delete", o.del,
                "remove selected chunks of B that A no longer has (trashed, then removed)");
  sub->add_option("--max-delete", o.max_delete,
                  "with --delete: refuse to remove more chunks than N, or N% of B's selected")
      ->capture_default_str()
      ->type_name("N|N%");
  sub->add_option("--parallel", o.parallel, "chunks in flight (default 2 per source node)")
      ->type_name("N");
  sub->add_option("--every", s->every, "continuous mode: a round, then a sleep of DURATION")
      ->type_name("DURATION");
  sub->add_option("--max-lag", s->max_lag, "exit 5 when B is further behind than DURATION")
      ->type_name("DURATION");
  add_write_options(*sub, o.write);
  add_filter_options(*sub, o.filter, true);
  return {sub, Needs::nothing,
          [s](core::Context& ctx, const GlobalOptions& g, std::ostream& out) {
            finish_options(*s);
            core::Context a = cluster_context(ctx, s->opts.from, g.deploy_agent);
            core::Context b = cluster_context(ctx, s->opts.to, g.deploy_agent);
            if (s->opts.every.count() > 0) {
              const bool dry = s->opts.write.dry_run;
              return run_sync_every(
                  a, b, s->opts, g,
                  {[dry](const RoundResult& r) { return round_json(r, dry); },
                   [dry](const RoundResult& r) { return round_text(r, dry); }});
            }
            RoundResult r;
            try {
              r = core::sync::sync_round(a, b, s->opts);
            } catch (const Error& e) {
              if (g.json) {
                RoundResult none;
                none.code = e.code();
                auto doc = round_json(none, s->opts.write.dry_run);
                doc["error"] = core::lossy_utf8(e.what());
                out << core::dump_json(doc, 2) << '\n';
              }
              throw;
            }
            if (g.json) {
              out << core::dump_json(round_json(r, s->opts.write.dry_run), 2) << '\n';
            } else {
              out << round_text(r, s->opts.write.dry_run);
            }
            return r.code;
          }};
}

} // namespace clsync::cli
