// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/transfer.hpp"

#include "core/fault.hpp"

#include <algorithm>
#include <thread>

namespace clsync::core {

TokenBucket::TokenBucket(std::uint64_t rate)
    : m_rate(static_cast<double>(rate)),
      // A quarter second of burst keeps the rate smooth without starving 1 MiB blocks.
      m_burst(std::max(static_cast<double>(rate) / 4.0, 64.0 * 1024.0)), m_tokens(m_burst),
      m_last(Clock::now())
{
}

void TokenBucket::consume(std::uint64_t bytes)
{
  m_charged += bytes;
  if (m_rate <= 0) {
    return;
  }
  double wait_s = 0;
  {
    std::lock_guard lock(m_mutex);
    auto now = Clock::now();
    double elapsed = std::chrono::duration<double>(now - m_last).count();
    m_last = now;
    m_tokens = std::min(m_burst, m_tokens + elapsed * m_rate);
    // Debt model: tokens may go negative; each caller sleeps off the deficit it saw, so
    // concurrent callers queue up in proportion to what they took.
    m_tokens -= static_cast<double>(bytes);
    if (m_tokens < 0) {
      wait_s = -m_tokens / m_rate;
    }
  }
  if (wait_s > 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(wait_s));
  }
}

RateLimits::RateLimits(std::uint64_t run_rate, std::uint64_t per_node_rate)
    : m_per_node_rate(per_node_rate), m_run(run_rate)
{
}

void RateLimits::consume(std::uint64_t bytes, const std::vector<std::string>& nodes)
{
  m_run.consume(bytes);
  if (m_per_node_rate == 0) {
    std::lock_guard lock(m_mutex);
    for (const auto& n : nodes) {
      m_node_charged[n] += bytes;
    }
    return;
  }
  for (const auto& n : nodes) {
    TokenBucket* b = nullptr;
    {
      std::lock_guard lock(m_mutex);
      m_node_charged[n] += bytes;
      auto& slot = m_nodes[n];
      if (!slot) {
        slot = std::make_unique<TokenBucket>(m_per_node_rate);
      }
      b = slot.get();
    }
    b->consume(bytes);
  }
}

std::map<std::string, std::uint64_t> RateLimits::charged_per_node() const
{
  std::lock_guard lock(m_mutex);
  return m_node_charged;
}

TeeSink::TeeSink(transport::ChunkSink& target,
                 RateLimits& limits,
                 std::vector<std::string> nodes,
                 std::function<bool()> stop,
                 std::function<void(std::uint64_t)> on_bytes)
    : m_target(target), m_limits(limits), m_nodes(std::move(nodes)), m_stop(std::move(stop)),
      m_on_bytes(std::move(on_bytes))
{
}

void TeeSink::begin_file(const transport::FileEntry& file)
{
  if (m_stop && m_stop()) {
    throw TransferCancelled{};
  }
  m_target.begin_file(file);
}

void TeeSink::file_data(std::span<const char> data)
{
  if (!m_seen_data) {
    m_seen_data = true;
    fault_point("mid_copy");
  }
  if (m_stop && m_stop()) {
    throw TransferCancelled{};
  }
  m_limits.consume(data.size(), m_nodes);
  m_target.file_data(data);
  m_bytes += data.size();
  if (m_on_bytes) {
    m_on_bytes(data.size());
  }
}

void TeeSink::file_hole(std::uint64_t length)
{
  if (m_stop && m_stop()) {
    throw TransferCancelled{};
  }
  m_target.file_hole(length);
  if (m_on_bytes) {
    m_on_bytes(length);
  }
}

void TeeSink::end_file(const std::string& sha256)
{
  m_target.end_file(sha256);
}

void TeeSink::directory(const transport::ChunkDir& dir)
{
  m_target.directory(dir);
}

} // namespace clsync::core
