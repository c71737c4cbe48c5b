// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/sync/round_loop.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

using namespace clsync;
using namespace clsync::core;
using namespace clsync::core::sync;
using namespace std::chrono_literals;

namespace {

/// A loop whose rounds come from `script` in order; it asks to stop after the last one.
struct Scripted {
  std::vector<std::function<RoundResult()>> script;
  std::size_t next = 0;
  std::atomic<bool> stop{false};
  std::vector<RoundResult> seen;
  int lag_checks = 0;

  RoundLoop loop()
  {
    RoundLoop l;
    l.every = 20ms;
    l.poll = 1ms;
    l.round = [this] {
      auto f = script.at(next++);
      if (next == script.size()) {
        stop = true;
      }
      return f();
    };
    l.lag = [this] {
      ++lag_checks;
      Lag lag;
      lag.missing = 7;
      lag.seconds = 42;
      return lag;
    };
    l.stopping = [this] { return stop.load(); };
    return l;
  }
  ExitCode run(const RoundLoop& l,
               std::function<bool()> lag_request = {},
               std::function<void(const Lag&)> on_lag = {})
  {
    return run_rounds(l, [this](const RoundResult& r) { seen.push_back(r); }, lag_request, on_lag);
  }
};

RoundResult done(std::uint64_t copied, double lag_after_s = 0)
{
  RoundResult r;
  r.copied = copied;
  r.lag_after.seconds = lag_after_s;
  return r;
}

} // namespace

TEST_SUITE("round_loop")
{
  TEST_CASE("a round that throws is a failed round and the next one runs")
  {
    Scripted s;
    s.script = {[]() -> RoundResult { throw Error(ExitCode::failed, "P2-dn1 unreachable"); },
                [] { return done(3); }};
    const ExitCode code = s.run(s.loop());
    CHECK(code == ExitCode::interrupted);
    REQUIRE(s.seen.size() == 2);
    CHECK(s.seen[0].code == ExitCode::failed);
    REQUIRE(s.seen[0].errors.size() == 1);
    CHECK(s.seen[0].errors[0] == "P2-dn1 unreachable");
    CHECK(s.seen[1].code == ExitCode::ok);
    CHECK(s.seen[1].copied == 3);
  }

  TEST_CASE("a held lease and a foreign exception are failed rounds with their codes")
  {
    Scripted s;
    s.script = {[]() -> RoundResult { throw LockHeld("lease held by run X"); },
                []() -> RoundResult { throw std::runtime_error("boom"); },
                [] { return done(0); }};
    s.run(s.loop());
    REQUIRE(s.seen.size() == 3);
    CHECK(s.seen[0].code == ExitCode::lock_held);
    CHECK(s.seen[1].code == ExitCode::failed);
    CHECK(s.seen[1].errors.at(0).find("boom") != std::string::npos);
  }

  TEST_CASE("a usage error ends the loop: waiting does not mend options")
  {
    Scripted s;
    s.script = {[]() -> RoundResult { throw UsageError("bad --max-delete"); },
                [] { return done(1); }};
    CHECK_THROWS_AS(s.run(s.loop()), UsageError);
    CHECK(s.next == 1);
  }

  TEST_CASE("an interrupted round ends the loop with 130 and no further round")
  {
    Scripted s;
    RoundResult interrupted = done(1);
    interrupted.code = ExitCode::interrupted;
    s.script = {[=] { return interrupted; }, [] { return done(1); }};
    CHECK(s.run(s.loop()) == ExitCode::interrupted);
    CHECK(s.seen.size() == 1);
  }

  TEST_CASE("a stop during the sleep ends it at once, long before `every`")
  {
    Scripted s;
    s.script = {[] { return done(1); }, [] { return done(1); }};
    RoundLoop l = s.loop();
    l.every = std::chrono::hours(1);
    int polls = 0;
    // The stop arrives while sleeping (the third poll of the lag request).
    const ExitCode code = s.run(l, [&] {
      if (++polls == 3) {
        s.stop = true;
      }
      return false;
    });
    CHECK(code == ExitCode::interrupted);
    CHECK(s.seen.size() == 1);
    CHECK(polls == 3);
  }

  TEST_CASE("a stop before the first round runs no round")
  {
    Scripted s;
    s.script = {[] { return done(1); }};
    s.stop = true;
    CHECK(s.run(s.loop()) == ExitCode::interrupted);
    CHECK(s.seen.empty());
  }

  TEST_CASE("a lag request during the sleep is answered with a dry check")
  {
    Scripted s;
    s.script = {[] { return done(1); }, [] { return done(1); }};
    bool asked = true;
    std::vector<Lag> answered;
    s.run(
        s.loop(), [&] { return std::exchange(asked, false); },
        [&](const Lag& lag) { answered.push_back(lag); });
    REQUIRE(answered.size() == 1);
    CHECK(answered[0].missing == 7);
    CHECK(answered[0].seconds == 42);
    CHECK(s.lag_checks == 1);
  }

  TEST_CASE("a lag check that throws is a warning and the loop goes on")
  {
    Scripted s;
    s.script = {[] { return done(1); }, [] { return done(2); }};
    RoundLoop l = s.loop();
    l.lag = []() -> Lag { throw Error(ExitCode::failed, "A unreachable"); };
    std::vector<std::string> warnings;
    l.warn = [&](const std::string& m) { warnings.push_back(m); };
    bool asked = true;
    s.run(l, [&] { return std::exchange(asked, false); }, [](const Lag&) { FAIL("no lag"); });
    CHECK(s.seen.size() == 2);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("A unreachable") != std::string::npos);
  }

  TEST_CASE("--max-lag: a round further behind exits 5, a failed round keeps its code")
  {
    Scripted s;
    RoundResult partial = done(1, 500);
    partial.code = ExitCode::partial;
    s.script = {[] { return done(1, 120); }, [] { return done(1, 30); }, [=] { return partial; }};
    RoundLoop l = s.loop();
    l.max_lag = 60s;
    s.run(l);
    REQUIRE(s.seen.size() == 3);
    CHECK(s.seen[0].code == ExitCode::unhealthy);
    CHECK(s.seen[0].errors.at(0).find("--max-lag") != std::string::npos);
    CHECK(s.seen[1].code == ExitCode::ok);
    CHECK(s.seen[2].code == ExitCode::partial);
  }

  TEST_CASE("apply_max_lag in one-round mode: equal is not behind")
  {
    RoundResult r = done(0, 60);
    apply_max_lag(r, 60s);
    CHECK(r.code == ExitCode::ok);
    r.lag_after.seconds = 60.5;
    apply_max_lag(r, 60s);
    CHECK(r.code == ExitCode::unhealthy);
    RoundResult none = done(0, 1e6);
    apply_max_lag(none, std::nullopt);
    CHECK(none.code == ExitCode::ok);
  }

  TEST_CASE("--until passed: the loop returns the last round's code")
  {
    Scripted s;
    RoundResult partial = done(1);
    partial.code = ExitCode::partial;
    RoundLoop l = s.loop();
    // --until passes during the first round (no clock race: it is set to a past moment there).
    l.until = std::chrono::system_clock::now() + std::chrono::hours(1);
    s.script = {[&l, partial] {
                  l.until = std::chrono::system_clock::now() - 1s;
                  return partial;
                },
                [] { return done(1); }, [] { return done(1); }};
    l.every = std::chrono::hours(1);
    CHECK(s.run(l) == ExitCode::partial);
    CHECK(s.seen.size() == 1);
  }
}
