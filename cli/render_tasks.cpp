// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/render_tasks.hpp"

#include "cli/text_table.hpp"
#include "core/json_names.hpp"

#include <cstdio>
#include <sstream>

namespace clsync::cli {
namespace {

std::string mbps(double v)
{
  if (v <= 0) {
    return "-";
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

/// "2024-06-01T12:00:00.123Z" → "2024-06-01 12:00:00" (the table is read by people).
std::string short_time(const std::string& t)
{
  if (t.size() < 19) {
    return t.empty() ? "-" : t;
  }
  std::string s = t.substr(0, 19);
  s[10] = ' ';
  return s;
}

nlohmann::json or_null(const std::string& s)
{
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(core::lossy_utf8(s));
}


} // namespace

std::string render_runs_text(const std::vector<core::RunRecord>& runs, std::size_t tasks_per_run)
{
  std::ostringstream out;
  bool first = true;
  for (const auto& r : runs) {
    if (!first) {
      out << '\n';
    }
    first = false;
    out << "run " << r.id << "  " << r.command << "  " << short_time(r.start) << " → "
        << (r.finish.empty() ? "(no end recorded)" : short_time(r.finish)) << "  " << r.result
        << "  " << r.tasks_finished << " finished, " << r.tasks_failed << " failed, "
        << human_size(r.bytes) << ", " << mbps(r.mb_per_s) << " MB/s\n";
    if (!r.error.empty()) {
      out << "  error: " << core::lossy_utf8(r.error) << "\n";
    }
    TextTable t;
    t.column("TASK")
        .column("CHUNK")
        .column("SOURCE")
        .column("DESTINATION")
        .column("BYTES", TextTable::Align::right)
        .column("STATE")
        .column("START")
        .column("FINISH")
        .column("DELETE SOURCE")
        .column("MB/S", TextTable::Align::right)
        .column("ERROR");
    std::size_t from = 0;
    if (tasks_per_run > 0 && r.tasks.size() > tasks_per_run) {
      from = r.tasks.size() - tasks_per_run;
      out << "  (" << from << " earlier tasks not shown)\n";
    }
    for (std::size_t i = from; i < r.tasks.size(); ++i) {
      const auto& k = r.tasks[i];
      t.add_row({k.id, k.chunk, k.source.node + ":" + k.source.volume,
                 k.destination.node + ":" + k.destination.volume, human_size(k.bytes), k.state,
                 short_time(k.start), short_time(k.finish), k.delete_source ? "yes" : "no",
                 mbps(k.mb_per_s), k.error});
    }
    std::istringstream lines(t.render());
    for (std::string line; std::getline(lines, line);) {
      out << "  " << line << '\n';
    }
  }
  return out.str();
}

nlohmann::json runs_json(const std::vector<core::RunRecord>& runs)
{
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& r : runs) {
    nlohmann::json tasks = nlohmann::json::array();
    for (const auto& k : r.tasks) {
      nlohmann::json task{{"id", k.id},
                          {"kind", k.kind},
                          {"source", place_json(k.source)},
                          {"destination", place_json(k.destination)},
                          {"bytes", k.bytes},
                          {"state", k.state},
                          {"start", or_null(k.start)},
                          {"finish", or_null(k.finish)},
                          {"delete_source", k.delete_source},
                          {"error", or_null(k.error)},
                          {"mb_per_s", k.mb_per_s}};
      core::put_name(task, "chunk", k.chunk);
      tasks.push_back(std::move(task));
    }
    arr.push_back({{"id", r.id},
                   {"command", r.command},
                   {"cluster", r.cluster},
                   {"start", or_null(r.start)},
                   {"finish", or_null(r.finish)},
                   {"result", r.result},
                   {"bytes", r.bytes},
                   {"mb_per_s", r.mb_per_s},
                   {"tasks_finished", r.tasks_finished},
                   {"tasks_failed", r.tasks_failed},
                   {"tasks", std::move(tasks)}});
    if (!r.error.empty()) {
      arr.back()["error"] = core::lossy_utf8(r.error);
    }
  }
  return {{"runs", std::move(arr)}};
}

} // namespace clsync::cli
