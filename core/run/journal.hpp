// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/plan/plan.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

/// The task journal (SPEC §8): one append-only NDJSON file per writing run under
/// `<state_dir>/<cluster>/runs/<run-id>.ndjson`. The first line is the run header, then one line
/// per task state change (queued, running, finished, failed, rolled_back), then a footer. Every
/// line is written with a single write(2), so a run killed at any moment leaves a readable file;
/// a missing footer means the run was interrupted. `status --tasks` reads these files.
namespace clsync::core {

/// RFC 3339 UTC with milliseconds ("2024-06-01T12:00:00.123Z").
std::string utc_timestamp(std::chrono::system_clock::time_point t);

/// A new run id: UTC time to the millisecond and a short random hex ("20240601T120000123Z-3fa2c1");
/// sorts by time and is safe in file names.
std::string new_run_id();

/// One task as the journal knows it (its last recorded state).
struct TaskRecord {
  std::string id;
  std::string chunk;
  std::string kind = "move"; ///< "move" | "copy" | "drop_duplicate"
  Place source;
  Place destination;
  std::uint64_t bytes = 0;
  std::string state;  ///< queued | running | finished | failed | rolled_back
  std::string start;  ///< RFC 3339, when it started running; empty if it never did
  std::string finish; ///< RFC 3339, when it reached a final state
  bool delete_source = true;
  std::string error;
  /// Node-to-node tasks: "relay" or "direct", and why a direct task was relayed or failed.
  std::string transfer;
  std::string transfer_note;
  double mb_per_s = 0; ///< bytes / (finish - start) in MB/s (10^6), when both are known
};

/// One run as read back from its journal file.
struct RunRecord {
  std::string id;
  std::string command;
  std::string cluster;
  std::string start;
  std::string finish; ///< empty when the footer is missing
  std::string result; ///< ok | partial | failed | interrupted (also when the footer is missing)
  std::uint64_t bytes = 0; ///< bytes of finished tasks
  std::uint64_t tasks_finished = 0;
  std::uint64_t tasks_failed = 0;
  double mb_per_s = 0;
  std::vector<TaskRecord> tasks; ///< in the order they were first recorded
  /// Why the run failed as a whole (a refused sync-online round: a node down); usually empty.
  std::string error;
  /// Lines that could not be read, each "FILE:LINE: why; skipped" (a torn or corrupt line).
  std::vector<std::string> warnings;
};

/// The writer of one run's journal. Thread-safe: the executor records from worker threads.
class Journal {
public:
  /// Creates the file (and its directories) and writes the header. Throws clsync::Error (exit 1)
  /// naming the path when the state directory cannot be written.
  Journal(const std::filesystem::path& state_dir,
          const std::string& cluster,
          const std::string& run_id,
          const std::string& command);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  /// Appends one state change of a task. An I/O error (a full state directory) is not thrown:
  /// it is kept in write_error(), nothing more is appended, and the executor starts no new task
  /// (a run whose record is lost must not go on moving data unrecorded).
  void record(const TaskRecord& task);
  /// Empty while every line was written; else "cannot write the task journal FILE: <errno text>".
  std::string write_error() const;
  /// Appends the footer (with `error` when not empty) and fsyncs the file.
  void finish(const std::string& result,
              std::uint64_t bytes,
              std::uint64_t tasks_finished,
              std::uint64_t tasks_failed,
              const std::string& error = {});

  const std::filesystem::path& path() const { return m_path; }
  const std::string& run_id() const { return m_run_id; }

private:
  void append(const std::string& line);

  std::filesystem::path m_path;
  std::string m_run_id;
  int m_fd = -1;
  mutable std::mutex m_mutex;
  std::string m_write_error;
};

/// The most recent `limit` runs of `cluster` (0: all), newest first. A line that cannot be parsed
/// (a torn last line after a power loss, a corrupt line) is skipped with a warning in
/// RunRecord::warnings naming the file and line. No directory: none.
std::vector<RunRecord>
read_runs(const std::filesystem::path& state_dir, const std::string& cluster, std::size_t limit);

/// Reads one journal file (see read_runs); throws clsync::Error when it cannot be opened.
RunRecord read_run_file(const std::filesystem::path& file);

} // namespace clsync::core
