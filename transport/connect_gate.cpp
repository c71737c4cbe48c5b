// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/connect_gate.hpp"

namespace clsync::transport::detail {

std::exception_ptr ConnectGate::standing(std::chrono::steady_clock::time_point now) const
{
  std::lock_guard lock(m_mutex);
  if (m_failure && (m_final || now < m_until)) {
    return m_failure;
  }
  return nullptr;
}

std::unique_ptr<AgentStream> ConnectGate::open(const AgentConnector& connect)
{
  // Checked before waiting too: a node known to be down answers at once even while another
  // thread's connect to it is still under way.
  if (auto failure = standing(std::chrono::steady_clock::now())) {
    std::rethrow_exception(failure);
  }
  std::lock_guard one(m_one_at_a_time);
  if (auto failure = standing(std::chrono::steady_clock::now())) {
    std::rethrow_exception(failure);
  }
  {
    std::lock_guard lock(m_mutex);
    ++m_attempts;
  }
  try {
    auto stream = connect();
    forget();
    return stream;
  } catch (const ConnectError& e) {
    // A timeout cost its full wait: paying it again within the run is what this gate is for.
    const bool fast_and_transient = e.kind() == FailureKind::error && e.retryable();
    std::lock_guard lock(m_mutex);
    m_failure = std::current_exception();
    m_final = !fast_and_transient;
    m_until = std::chrono::steady_clock::now() + k_retry_hold;
    throw;
  } catch (const TransportError&) {
    forget(); // the host answered; what failed after that is this operation's
    throw;
  }
}

void ConnectGate::forget()
{
  std::lock_guard lock(m_mutex);
  m_failure = nullptr;
  m_final = false;
}

int ConnectGate::attempts() const
{
  std::lock_guard lock(m_mutex);
  return m_attempts;
}

} // namespace clsync::transport::detail
