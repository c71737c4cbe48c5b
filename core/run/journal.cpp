// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/journal.hpp"

#include "core/error.hpp"
#include "core/json_names.hpp"
#include "core/json_number.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <random>
#include <unistd.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace clsync::core {
namespace {

std::int64_t now_ms()
{
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}


Place place_from(const json& j)
{
  Place p;
  if (j.is_object()) {
    p.node = j.value("node", "");
    p.volume = get_name_or(j, "volume", "");
  }
  return p;
}

double rate_mb_s(std::uint64_t bytes, std::int64_t start_ms, std::int64_t finish_ms)
{
  if (start_ms <= 0 || finish_ms <= start_ms) {
    return 0;
  }
  return static_cast<double>(bytes) / 1e6 / (static_cast<double>(finish_ms - start_ms) / 1000.0);
}

bool is_final(const std::string& state)
{
  return state == "finished" || state == "failed" || state == "rolled_back";
}

} // namespace

std::string utc_timestamp(std::chrono::system_clock::time_point t)
{
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

std::string new_run_id()
{
  const auto ms = now_ms();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
  std::random_device rd;
  char tail[32];
  // Milliseconds keep runs of one second in order; the hex keeps two hosts' runs apart.
  std::snprintf(tail, sizeof tail, "%03dZ-%06x", static_cast<int>(ms % 1000), rd() & 0xffffffu);
  return std::string(stamp) + tail;
}

Journal::Journal(const fs::path& state_dir,
                 const std::string& cluster,
                 const std::string& run_id,
                 const std::string& command)
    : m_path(state_dir / cluster / "runs" / (run_id + ".ndjson")), m_run_id(run_id)
{
  std::error_code ec;
  fs::create_directories(m_path.parent_path(), ec);
  m_fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (m_fd < 0) {
    throw Error(ExitCode::failed,
                "cannot write the task journal " + m_path.string() + ": " + std::strerror(errno),
                "pass --state-dir DIR or set CLSYNC_STATE_DIR to a writable directory");
  }
  json head{{"type", "run"},
            {"id", run_id},
            {"command", command},
            {"cluster", cluster},
            {"start", utc_timestamp(std::chrono::system_clock::now())},
            {"t_ms", now_ms()},
            {"pid", static_cast<long>(::getpid())}};
  append(dump_json(head));
  if (!m_write_error.empty()) {
    ::close(m_fd); // no destructor runs for a constructor that throws
    m_fd = -1;
    throw Error(ExitCode::failed, m_write_error + "; nothing was changed",
                "free space in the state directory, or pass --state-dir DIR");
  }
  ::fdatasync(m_fd);
}

Journal::~Journal()
{
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

void Journal::append(const std::string& line)
{
  std::string l = line + "\n";
  std::lock_guard lock(m_mutex);
  if (!m_write_error.empty()) {
    // After a failed write the file may end in a torn line: append nothing more.
    return;
  }
  // One write per line: with O_APPEND a killed process leaves whole lines behind.
  const char* p = l.data();
  std::size_t left = l.size();
  while (left > 0) {
    ssize_t n = ::write(m_fd, p, left);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      m_write_error =
          "cannot write the task journal " + m_path.string() + ": " + std::strerror(errno);
      return;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

std::string Journal::write_error() const
{
  std::lock_guard lock(m_mutex);
  return m_write_error;
}

void Journal::record(const TaskRecord& t)
{
  json j{{"type", "task"},
         {"id", t.id},
         {"kind", t.kind},
         {"source", place_json(t.source)},
         {"destination", place_json(t.destination)},
         {"bytes", t.bytes},
         {"state", t.state},
         {"time", utc_timestamp(std::chrono::system_clock::now())},
         {"t_ms", now_ms()},
         {"delete_source", t.delete_source}};
  put_name(j, "chunk", t.chunk);
  if (!t.error.empty()) {
    j["error"] = lossy_utf8(t.error);
  }
  if (!t.transfer.empty()) {
    j["transfer"] = t.transfer;
  }
  if (!t.transfer_note.empty()) {
    j["transfer_note"] = lossy_utf8(t.transfer_note);
  }
  append(dump_json(j));
}

void Journal::finish(const std::string& result,
                     std::uint64_t bytes,
                     std::uint64_t tasks_finished,
                     std::uint64_t tasks_failed,
                     const std::string& error)
{
  json j{{"type", "end"},
         {"finish", utc_timestamp(std::chrono::system_clock::now())},
         {"t_ms", now_ms()},
         {"result", result},
         {"bytes", bytes},
         {"tasks_finished", tasks_finished},
         {"tasks_failed", tasks_failed}};
  if (!error.empty()) {
    j["error"] = lossy_utf8(error);
  }
  append(dump_json(j));
  ::fdatasync(m_fd);
}

RunRecord read_run_file(const fs::path& file)
{
  std::ifstream in(file);
  if (!in) {
    throw Error(ExitCode::failed, "cannot read the task journal " + file.string());
  }
  RunRecord run;
  run.id = file.stem().string();
  std::int64_t run_start_ms = 0, run_finish_ms = 0;
  bool footer = false;
  std::map<std::string, std::size_t> index;
  std::map<std::string, std::int64_t> start_ms, finish_ms;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string where = file.string() + ":" + std::to_string(line_no) + ": ";
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      run.warnings.push_back(where + "not a JSON object (a torn or corrupt line); skipped");
      continue;
    }
    try {
      const std::string type = j.value("type", "");
      if (type == "run") {
        RunRecord head;
        head.id = j.value("id", run.id);
        head.command = j.value("command", "");
        head.cluster = j.value("cluster", "");
        head.start = j.value("start", "");
        run_start_ms = json_number(j, "t_ms", std::int64_t{0});
        run.id = head.id;
        run.command = head.command;
        run.cluster = head.cluster;
        run.start = head.start;
      } else if (type == "task") {
        // Read every field first: a line with a field of the wrong type changes nothing.
        TaskRecord t;
        t.id = j.value("id", "");
        t.chunk = get_name_or(j, "chunk", "");
        t.kind = j.value("kind", "move");
        t.source = place_from(j.value("source", json::object()));
        t.destination = place_from(j.value("destination", json::object()));
        t.bytes = json_number(j, "bytes", std::uint64_t{0});
        t.state = j.value("state", "");
        t.delete_source = j.value("delete_source", true);
        t.error = j.value("error", "");
        t.transfer = j.value("transfer", "");
        t.transfer_note = j.value("transfer_note", "");
        const std::string time = j.value("time", "");
        const auto ms = json_number(j, "t_ms", std::int64_t{0});
        auto [it, fresh] = index.try_emplace(t.id, run.tasks.size());
        if (fresh) {
          run.tasks.emplace_back();
        }
        TaskRecord& known = run.tasks[it->second];
        t.start = known.start;
        t.finish = known.finish;
        if (t.state == "running" && t.start.empty()) {
          t.start = time;
          start_ms[t.id] = ms;
        }
        if (is_final(t.state)) {
          t.finish = time;
          finish_ms[t.id] = ms;
        }
        known = std::move(t);
      } else if (type == "end") {
        RunRecord end;
        end.finish = j.value("finish", "");
        end.result = j.value("result", "");
        const auto ms = json_number(j, "t_ms", std::int64_t{0});
        end.bytes = json_number(j, "bytes", std::uint64_t{0});
        end.tasks_finished = json_number(j, "tasks_finished", std::uint64_t{0});
        end.tasks_failed = json_number(j, "tasks_failed", std::uint64_t{0});
        footer = true;
        run_finish_ms = ms;
        run.finish = end.finish;
        run.result = end.result;
        run.bytes = end.bytes;
        run.tasks_finished = end.tasks_finished;
        run.tasks_failed = end.tasks_failed;
        run.error = j.value("error", "");
      }
    } catch (const json::exception& e) {
      // A field of the wrong type loses this line, not the journal nor the command.
      run.warnings.push_back(where + e.what() + "; skipped");
    } catch (const BadNumber& e) {
      // So does a number out of its field's range (-1 bytes would read as 16 EiB).
      run.warnings.push_back(where + e.what() + "; skipped");
    }
  }
  std::uint64_t bytes = 0, finished = 0, failed = 0;
  std::int64_t last_ms = run_start_ms;
  for (auto& t : run.tasks) {
    if (t.state == "finished") {
      bytes += t.bytes;
      ++finished;
      t.mb_per_s = rate_mb_s(t.bytes, start_ms[t.id], finish_ms[t.id]);
    } else if (t.state == "failed") {
      ++failed;
    }
    last_ms = std::max(last_ms, finish_ms[t.id]);
  }
  if (!footer) {
    // The run was killed: what the tasks recorded is all there is.
    run.result = "interrupted";
    run.bytes = bytes;
    run.tasks_finished = finished;
    run.tasks_failed = failed;
    run_finish_ms = 0;
  }
  run.mb_per_s = rate_mb_s(run.bytes, run_start_ms, footer ? run_finish_ms : last_ms);
  return run;
}

std::vector<RunRecord>
read_runs(const fs::path& state_dir, const std::string& cluster, std::size_t limit)
{
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(state_dir / cluster / "runs", ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().extension() == ".ndjson") {
      files.push_back(it->path());
    }
  }
  // Run ids begin with the UTC time, so names sort by start.
  std::sort(files.begin(), files.end(), std::greater<>());
  if (limit > 0 && files.size() > limit) {
    files.resize(limit);
  }
  std::vector<RunRecord> runs;
  for (const auto& f : files) {
    try {
      runs.push_back(read_run_file(f));
    } catch (const Error&) {
      // Removed between listing and reading: not ours to report.
    }
  }
  return runs;
}

} // namespace clsync::core
