// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/sync_every.hpp"

#include "core/json_names.hpp"
#include "core/run/journal.hpp"
#include "core/units.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>

namespace clsync::cli {
namespace {

using core::sync::Lag;
using core::sync::RoundResult;

std::atomic<bool> g_lag_requested{false};

extern "C" void on_lag_signal(int) { g_lag_requested.store(true); }

void install_lag_signal()
{
  struct sigaction sa {};
  sa.sa_handler = on_lag_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
}

nlohmann::json lag_fields(const Lag& l)
{
  return {{"missing", l.missing}, {"differing", l.differing}, {"extra", l.extra},
          {"bytes", l.bytes},     {"seconds", l.seconds}};
}

std::string lag_line(const Lag& l)
{
  return std::to_string(l.missing) + " missing, " + std::to_string(l.differing) + " differing, " +
         std::to_string(l.extra) + " extra chunks (" + core::format_size(l.bytes) + "), " +
         core::format_duration(std::chrono::seconds(static_cast<long long>(l.seconds))) +
         " behind";
}

/// One NDJSON line on stderr (--log-format json), beside the progress events.
void emit_event(nlohmann::json j)
{
  j["time"] = core::utc_timestamp(std::chrono::system_clock::now());
  const std::string line = core::dump_json(j) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

/// Logs a round's result and lag on stderr: a `round` event, or a log line.
void log_round(const GlobalOptions& g, std::uint64_t n, const RoundResult& r)
{
  const int code = static_cast<int>(r.code);
  if (g.log_format == "json") {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& e : r.errors) {
      errors.push_back(core::lossy_utf8(e));
    }
    emit_event({{"type", "round"},     {"round", n},           {"exit_code", code},
                {"copied", r.copied},  {"failed", r.failed},   {"deleted", r.deleted},
                {"bytes", r.bytes},    {"seconds", r.seconds}, {"lag", lag_fields(r.lag_after)},
                {"errors", errors}});
    return;
  }
  if (r.code == ExitCode::ok) {
    spdlog::info("round {}: copied {} chunks ({}), deleted {}; B is {}", n, r.copied,
                 core::format_size(r.bytes), r.deleted, lag_line(r.lag_after));
    return;
  }
  spdlog::warn("round {} exited {}: {}", n, code,
               r.errors.empty() ? std::string("see above") : core::lossy_utf8(r.errors.front()));
}

/// The answer to SIGUSR1.
void print_lag(const GlobalOptions& g, const Lag& lag)
{
  if (g.log_format == "json") {
    auto j = lag_fields(lag);
    j["type"] = "lag";
    emit_event(std::move(j));
    return;
  }
  const std::string line = "clsync: lag: " + lag_line(lag) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

} // namespace

ExitCode run_sync_every(core::Context& a,
                        core::Context& b,
                        const core::sync::SyncOptions& opts,
                        const GlobalOptions& g,
                        const RoundRenderers& render)
{
  install_lag_signal();
  std::uint64_t rounds = 0;
  auto on_round = [&](const RoundResult& r) {
    ++rounds;
    log_round(g, rounds, r);
    // stdout gets each round as it ends, not the one document app.cpp holds back for --json.
    if (g.json) {
      std::cout << core::dump_json(render.json(r)) << '\n';
    } else {
      std::cout << "round " << rounds << " at "
                << core::utc_timestamp(std::chrono::system_clock::now()) << "\n"
                << render.text(r) << '\n';
    }
    std::cout.flush();
  };
  auto lag_request = [] { return g_lag_requested.exchange(false); };
  auto on_lag = [&g](const Lag& lag) { print_lag(g, lag); };
  return core::sync::sync_continuous(a, b, opts, on_round, lag_request, on_lag);
}

} // namespace clsync::cli
