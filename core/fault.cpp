// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/fault.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string>
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

} // namespace

void fault_point(const char* point)
{
  maybe_throw(point);
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
