// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// The connect gate's rules (transport/connect_gate.hpp). The connects here are functions that
// fail the way SshSession::connect does; the real thing, a hung sshd, is in the integration
// suite `inventory_many`.
#include "transport/connect_gate.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

using namespace clsync::transport;
using clsync::transport::detail::ConnectGate;

namespace {

/// A connect whose SSH session fails with `kind` (retryable as given), counting its calls.
struct FailingConnect {
  FailureKind kind;
  bool retryable = false;
  std::string what = "node n3 (127.0.0.9:22): connect timed out after 1 s";
  std::atomic<int> calls{0};
  AgentConnector connector()
  {
    return [this]() -> std::unique_ptr<AgentStream> {
      ++calls;
      throw ConnectError(kind, what, retryable);
    };
  }
};

/// Opens through the gate and returns what it threw ("" when nothing).
std::string open_error(ConnectGate& gate, const AgentConnector& connect)
{
  try {
    gate.open(connect);
  } catch (const TransportError& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_SUITE("transport::connect_gate")
{
  TEST_CASE("a timed-out connect answers every later connect of the run at once, as it was")
  {
    ConnectGate gate;
    FailingConnect timeout{FailureKind::timeout};
    auto connect = timeout.connector();
    for (int i = 0; i < 5; ++i) {
      CHECK(open_error(gate, connect) == timeout.what);
    }
    CHECK(timeout.calls == 1);
    CHECK(gate.attempts() == 1);
    try {
      gate.open(connect);
      FAIL("opened");
    } catch (const TransportError& e) {
      CHECK(e.kind() == FailureKind::timeout);
      CHECK(e.retryable()); // the executor's rules see the same error as the first time
    }
  }

  TEST_CASE("host key and authentication refusals are final for the run too")
  {
    for (auto kind : {FailureKind::host_key, FailureKind::auth}) {
      ConnectGate gate;
      FailingConnect refused{kind};
      refused.what = "node n3: unknown host key";
      auto connect = refused.connector();
      CHECK(open_error(gate, connect) == refused.what);
      CHECK(open_error(gate, connect) == refused.what);
      CHECK(refused.calls == 1);
    }
  }

  TEST_CASE("a failure after the session was up (the agent, a direct pull's setup) is the "
            "operation's own: not remembered, and its type is kept")
  {
    ConnectGate gate;
    std::atomic<int> calls{0};
    AgentConnector agent_fails = [&]() -> std::unique_ptr<AgentStream> {
      ++calls;
      throw DirectUnavailable("node n2: direct pull from n1 unavailable: no key");
    };
    for (int i = 0; i < 2; ++i) {
      CHECK_THROWS_AS(gate.open(agent_fails), DirectUnavailable);
    }
    CHECK(calls == 2);
  }

  TEST_CASE("the remembered failure is the same exception: a ConnectError of the same kind")
  {
    ConnectGate gate;
    FailingConnect key{FailureKind::host_key, false, "node n3: host key mismatch"};
    auto connect = key.connector();
    CHECK_THROWS_AS(gate.open(connect), ConnectError);
    try {
      gate.open(connect);
    } catch (const ConnectError& e) {
      CHECK(e.kind() == FailureKind::host_key);
      CHECK(std::string(e.what()) == key.what);
    }
    CHECK(key.calls == 1);
  }

  TEST_CASE("a refused connect is tried again once its hold has passed (the executor's "
            "retries reach a restarted sshd)")
  {
    ConnectGate gate;
    FailingConnect refused{FailureKind::error, true, "node n3: connection refused"};
    auto connect = refused.connector();
    CHECK(open_error(gate, connect) == refused.what);
    std::this_thread::sleep_for(ConnectGate::k_retry_hold + std::chrono::milliseconds(50));
    CHECK(open_error(gate, connect) == refused.what);
    CHECK(refused.calls == 2);
  }

  TEST_CASE("forget() (a new run) tries the network again")
  {
    ConnectGate gate;
    FailingConnect timeout{FailureKind::timeout};
    auto connect = timeout.connector();
    CHECK(open_error(gate, connect) == timeout.what);
    gate.forget();
    CHECK(open_error(gate, connect) == timeout.what);
    CHECK(timeout.calls == 2);
  }

  TEST_CASE("connects wait for the one under way and take its failure instead of paying again")
  {
    ConnectGate gate;
    std::mutex m;
    std::condition_variable cv;
    bool inside = false, release = false;
    std::atomic<int> calls{0};
    AgentConnector slow = [&]() -> std::unique_ptr<AgentStream> {
      ++calls;
      std::unique_lock lock(m);
      inside = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
      throw ConnectError(FailureKind::timeout, "node n3: connect timed out after 1 s");
    };
    std::string first, second;
    std::thread a([&] { first = open_error(gate, slow); });
    {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return inside; });
    }
    // Whether b waits behind a's connect or arrives after it failed, it must not connect.
    std::thread b([&] { second = open_error(gate, slow); });
    {
      std::lock_guard lock(m);
      release = true;
    }
    cv.notify_all();
    a.join();
    b.join();
    CHECK(calls == 1);
    CHECK(first == "node n3: connect timed out after 1 s");
    CHECK(second == first);
  }
}
