// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/fault.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace clsync::core {
namespace {

struct FaultConfig {
  std::string point;
  long nth = 1;
};

const FaultConfig& config()
{
  static const FaultConfig c = [] {
    FaultConfig f;
    const char* env = std::getenv("CLSYNC_TEST_CRASH_AT");
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
  }();
  return c;
}

std::atomic<long> g_arrivals{0};

} // namespace

void fault_point(const char* point)
{
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
