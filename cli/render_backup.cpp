// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/render_backup.hpp"

#include "core/units.hpp"

#include <cstdio>
#include <sstream>

namespace clsync::cli {
namespace {

const char* result_of(const core::repo::BackupResult& r)
{
  switch (r.code) {
  case ExitCode::ok:
    return "ok";
  case ExitCode::partial:
    return "partial";
  case ExitCode::interrupted:
    return "interrupted";
  default:
    return "failed";
  }
}

nlohmann::json problem_json(const core::repo::BackupProblem& p, const char* kind)
{
  nlohmann::json j{{"kind", kind}, {"error", core::lossy_utf8(p.error)}};
  core::put_name(j, "chunk", p.chunk);
  j["node"] = p.node.empty() ? nlohmann::json() : nlohmann::json(p.node);
  if (p.volume.empty()) {
    j["volume"] = nullptr;
  } else {
    core::put_name(j, "volume", p.volume);
  }
  return j;
}

} // namespace

nlohmann::json backup_json(const core::repo::BackupResult& r)
{
  nlohmann::json j;
  j["dry_run"] = r.dry_run;
  j["snapshot"] = r.snapshot.empty() ? nlohmann::json() : nlohmann::json(r.snapshot);
  j["repository"] = core::lossy_utf8(r.repository);
  j["chunks"] = r.chunks;
  j["new_objects"] = r.new_objects;
  j["reused_objects"] = r.reused_objects;
  j["not_read"] = r.not_read;
  j["skipped"] = r.skipped.size();
  j["failed"] = r.failed.size();
  j["not_started"] = r.not_started;
  j["bytes_read"] = r.bytes_read;
  j["bytes_written"] = r.bytes_written;
  j["seconds"] = r.seconds;
  auto problems = nlohmann::json::array();
  for (const auto& p : r.skipped) {
    problems.push_back(problem_json(p, "skipped"));
  }
  for (const auto& p : r.failed) {
    problems.push_back(problem_json(p, "failed"));
  }
  j["problems"] = problems;
  auto notes = nlohmann::json::array();
  for (const auto& n : r.notes) {
    notes.push_back(core::lossy_utf8(n));
  }
  j["notes"] = notes;
  j["result"] = result_of(r);
  return j;
}

std::string render_backup_text(const core::repo::BackupResult& r, bool all)
{
  std::ostringstream o;
  if (r.dry_run) {
    o << "dry run: backup into " << r.repository << " would hold " << r.chunks << " chunks: "
      << r.new_objects << " to read and pack (" << core::format_size(r.bytes_read) << "), "
      << r.reused_objects << " unchanged since an earlier backup\n";
  } else {
    o << (r.snapshot.empty() ? std::string("no snapshot written")
                             : "snapshot " + r.snapshot)
      << " in " << r.repository << ": " << r.chunks << " chunks\n";
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", r.seconds);
    o << "  objects: " << r.new_objects << " new, " << r.reused_objects << " already there ("
      << r.not_read << " chunks not read: unchanged)\n";
    o << "  read " << core::format_size(r.bytes_read) << ", wrote "
      << core::format_size(r.bytes_written) << " in " << secs << " s\n";
  }
  std::size_t shown = 0;
  auto list = [&](const std::vector<core::repo::BackupProblem>& ps, const char* what) {
    for (const auto& p : ps) {
      if (!all && shown >= 20) {
        break;
      }
      ++shown;
      o << "  " << what << ": chunk " << p.chunk;
      if (!p.node.empty()) {
        o << " (" << p.node << ":" << p.volume << ")";
      }
      o << ": " << p.error << '\n';
    }
  };
  list(r.skipped, "skipped");
  list(r.failed, "failed");
  const std::size_t problems = r.skipped.size() + r.failed.size();
  if (shown < problems) {
    o << "  … and " << problems - shown << " more (-v lists all)\n";
  }
  for (const auto& n : r.notes) {
    o << "note: " << n << '\n';
  }
  return o.str();
}

} // namespace clsync::cli
