// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/progress.hpp"
#include "cli/text_table.hpp"

#include "core/json_names.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unistd.h>

namespace clsync::cli {
namespace {

using Clock = std::chrono::steady_clock;

std::string human_bytes(double b)
{
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

/// Logs warnings; shows nothing else (stderr is not a terminal and no NDJSON was asked for).
class LogEvents : public CliEvents {
public:
  void warning(const std::string& m) override { spdlog::warn("{}", terminal_safe(m)); }
};

/// One NDJSON object per line on stderr, progress rate-limited (CLSYNC_PROGRESS_FPS, default 1).
class JsonEvents : public CliEvents {
public:
  JsonEvents()
  {
    double fps = 1.0;
    if (const char* s = std::getenv("CLSYNC_PROGRESS_FPS")) {
      fps = std::atof(s);
    }
    m_interval = fps > 0 ? std::chrono::duration<double>(1.0 / fps) : std::chrono::hours(24);
  }
  void phase(const std::string& what) override { emit({{"type", "phase"}, {"phase", what}}); }
  void progress(const core::Progress& p) override
  {
    std::lock_guard lock(m_mutex);
    const bool newly_stalled = p.stalled_s > 0 && m_last.stalled_s == 0;
    m_last = p;
    auto now = Clock::now();
    // The first report of a stall goes out at once: a stuck task is news.
    if (now - m_shown < m_interval && !newly_stalled) {
      return;
    }
    m_shown = now;
    write_locked(to_json(p));
  }
  void task(const core::TaskEvent& t) override
  {
    nlohmann::json j{{"type", "task"}, {"task", t.task}, {"state", t.state}, {"bytes", t.bytes}};
    core::put_name(j, "chunk", t.chunk);
    core::put_name(j, "source", t.source);
    core::put_name(j, "destination", t.destination);
    if (!t.error.empty()) {
      j["error"] = core::lossy_utf8(t.error);
    }
    emit(j);
  }
  void warning(const std::string& m) override
  {
    emit({{"type", "error"}, {"message", core::lossy_utf8(m)}});
  }
  void finish() override
  {
    std::lock_guard lock(m_mutex);
    auto j = to_json(m_last);
    j["type"] = "summary";
    write_locked(j);
  }

private:
  static nlohmann::json to_json(const core::Progress& p)
  {
    return {{"type", "progress"},
            {"bytes_done", p.bytes_done},
            {"bytes_total", p.bytes_total},
            {"tasks_done", p.tasks_done},
            {"tasks_total", p.tasks_total},
            {"tasks_failed", p.tasks_failed},
            {"stalled_s", p.stalled_s}};
  }
  void emit(const nlohmann::json& j)
  {
    std::lock_guard lock(m_mutex);
    write_locked(j);
  }
  void write_locked(const nlohmann::json& j)
  {
    auto line = core::dump_json(j) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
  std::mutex m_mutex;
  core::Progress m_last;
  Clock::time_point m_shown{};
  std::chrono::duration<double> m_interval;
};

/// A one-line bar on the terminal: tasks, bytes, rate and ETA, redrawn at most 10 times a second.
class BarEvents : public CliEvents {
public:
  void phase(const std::string& what) override
  {
    std::lock_guard lock(m_mutex);
    m_phase = what;
    draw_locked(true);
  }
  void progress(const core::Progress& p) override
  {
    std::lock_guard lock(m_mutex);
    if (m_last.bytes_done == 0 && p.bytes_done > 0) {
      m_started = Clock::now();
    }
    const bool stall_changed = (p.stalled_s > 0) != (m_last.stalled_s > 0);
    m_last = p;
    draw_locked(stall_changed);
  }
  void warning(const std::string& m) override
  {
    std::lock_guard lock(m_mutex);
    clear_locked();
    std::fprintf(stderr, "clsync: warning: %s\n", terminal_safe(m).c_str());
    draw_locked(true);
  }
  void task(const core::TaskEvent& t) override
  {
    if (t.state == "failed") {
      warning("task " + t.task + " (" + t.chunk + ") failed: " + t.error);
    }
  }
  void finish() override
  {
    std::lock_guard lock(m_mutex);
    clear_locked();
  }

private:
  void clear_locked()
  {
    if (m_drawn) {
      std::fputs("\r\033[K", stderr);
      std::fflush(stderr);
      m_drawn = false;
    }
  }
  void draw_locked(bool force)
  {
    auto now = Clock::now();
    if (!force && now - m_shown < std::chrono::milliseconds(100)) {
      return;
    }
    m_shown = now;
    std::string line = m_phase;
    const auto& p = m_last;
    if (p.tasks_total > 0 || p.bytes_total > 0) {
      double secs = std::chrono::duration<double>(now - m_started).count();
      double rate = secs > 0.2 ? static_cast<double>(p.bytes_done) / secs : 0;
      char buf[200];
      std::snprintf(buf, sizeof buf, " %llu/%llu tasks  %s/%s  %s/s",
                    static_cast<unsigned long long>(p.tasks_done),
                    static_cast<unsigned long long>(p.tasks_total),
                    human_bytes(static_cast<double>(p.bytes_done)).c_str(),
                    human_bytes(static_cast<double>(p.bytes_total)).c_str(),
                    human_bytes(rate).c_str());
      line += buf;
      if (rate > 0 && p.bytes_total > p.bytes_done) {
        auto eta = static_cast<long>(static_cast<double>(p.bytes_total - p.bytes_done) / rate);
        std::snprintf(buf, sizeof buf, "  ETA %ld:%02ld", eta / 60, eta % 60);
        line += buf;
      }
      if (p.tasks_failed > 0) {
        line += "  " + std::to_string(p.tasks_failed) + " failed";
      }
      if (p.stalled_s > 0) {
        line += "  stalled " + std::to_string(p.stalled_s) + " s";
      }
    }
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
    m_drawn = true;
  }
  std::mutex m_mutex;
  std::string m_phase;
  core::Progress m_last;
  Clock::time_point m_started = Clock::now();
  Clock::time_point m_shown{};
  bool m_drawn = false;
};

bool stderr_is_terminal()
{
  const char* term = std::getenv("TERM");
  return isatty(2) && !(term && std::string(term) == "dumb");
}

} // namespace

std::unique_ptr<CliEvents> make_events(const GlobalOptions& g)
{
  if (g.log_format == "json") {
    return std::make_unique<JsonEvents>();
  }
  if (!g.no_progress && !g.quiet && (g.fake_tty || stderr_is_terminal())) {
    return std::make_unique<BarEvents>();
  }
  return std::make_unique<LogEvents>();
}

} // namespace clsync::cli
