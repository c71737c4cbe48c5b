// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/fault.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <fcntl.h>
#include <unistd.h>

namespace clsync::core {
namespace {

struct FaultConfig {
  std::string point;
  long nth = 1;
};

FaultConfig read_config(const char* var)
{
  FaultConfig f;
  const char* env = std::getenv(var);
  if (!env || !*env) {
    return f;
  }
  std::string s = env;
  if (auto colon = s.find(':'); colon != std::string::npos) {
    f.nth = std::atol(s.c_str() + colon + 1);
    s.resize(colon);
  }
  f.point = s;
  return f;
}

const FaultConfig& config()
{
  static const FaultConfig c = read_config("CLSYNC_TEST_CRASH_AT");
  return c;
}

const FaultConfig& throw_config()
{
  static const FaultConfig c = read_config("CLSYNC_TEST_THROW_AT");
  return c;
}

std::atomic<long> g_arrivals{0};
std::atomic<long> g_throw_arrivals{0};

void maybe_throw(const char* point)
{
  const auto& c = throw_config();
  if (c.point.empty() || c.point != point) {
    return;
  }
  if (g_throw_arrivals.fetch_add(1) + 1 != c.nth) {
    return;
  }
  const char* kind = std::getenv("CLSYNC_TEST_THROW_KIND");
  if (kind && std::string(kind) == "other") {
    throw TestFault{point};
  }
  throw std::runtime_error(std::string("test fault at ") + point);
}

std::mutex g_hook_mutex;
std::function<void(const char*)> g_hook;
std::atomic<bool> g_have_hook{false};

struct PauseConfig {
  std::string point;
  std::string dir;
};

const PauseConfig& pause_config()
{
  static const PauseConfig c = [] {
    PauseConfig p;
    const char* env = std::getenv("CLSYNC_TEST_PAUSE_AT");
    if (!env || !*env) {
      return p;
    }
    std::string s = env;
    if (auto colon = s.find(':'); colon != std::string::npos) {
      p.point = s.substr(0, colon);
      p.dir = s.substr(colon + 1);
    }
    return p;
  }();
  return c;
}

std::atomic<bool> g_paused{false};

void maybe_pause(const char* point)
{
  const auto& p = pause_config();
  if (p.point.empty() || p.point != point || g_paused.exchange(true)) {
    return;
  }
  const std::string base = p.dir + "/" + p.point;
  if (FILE* f = std::fopen((base + ".reached").c_str(), "w")) {
    std::fclose(f);
  }
  // Bounded so that a test that forgets to release us does not hang CI forever.
  for (int i = 0; i < 6000 && ::access((base + ".go").c_str(), F_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

/// CLSYNC_TEST_FAULT_LOG=<file>: every arrival appends "<point>\n" (one O_APPEND write, whole
/// lines even from several threads), so a crash sweep learns from one clean run which points a
/// command reaches and how often, instead of a list kept by hand that drifts from the code.
int fault_log_fd()
{
  static const int fd = [] {
    const char* path = std::getenv("CLSYNC_TEST_FAULT_LOG");
    return path && *path ? ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
  }();
  return fd;
}

void log_fault_arrival(const char* point)
{
  if (const int fd = fault_log_fd(); fd >= 0) {
    const std::string line = std::string(point) + "\n";
    [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
  }
}

} // namespace

void set_fault_hook(std::function<void(const char*)> hook)
{
  std::lock_guard lock(g_hook_mutex);
  g_have_hook = static_cast<bool>(hook);
  g_hook = std::move(hook);
}

void fault_point(const char* point)
{
  log_fault_arrival(point);
  maybe_throw(point);
  if (g_have_hook.load()) {
    std::function<void(const char*)> hook;
    {
      std::lock_guard lock(g_hook_mutex);
      hook = g_hook;
    }
    if (hook) {
      hook(point);
    }
  }
  maybe_pause(point);
  const auto& c = config();
  if (c.point.empty() || c.point != point) {
    return;
  }
  if (g_arrivals.fetch_add(1) + 1 == c.nth) {
    // SIGKILL cannot be caught: nothing of ours runs after this, as after an operator's kill -9.
    ::kill(::getpid(), SIGKILL);
  }
}

} // namespace clsync::core
