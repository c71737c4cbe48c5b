// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/node.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

/// Streaming a chunk from one node into another through this process: bandwidth limits and the
/// sink that counts, throttles and can cancel a transfer.
namespace clsync::core {

/// A token bucket over bytes: `consume(n)` takes n tokens and sleeps for any deficit, so the
/// long-run rate stays at `rate` bytes/s whatever the number of threads. Rate 0: unlimited.
class TokenBucket {
public:
  explicit TokenBucket(std::uint64_t rate);
  void consume(std::uint64_t bytes);
  /// Every byte consume() was asked for so far (with any rate, 0 included).
  std::uint64_t charged() const { return m_charged.load(); }

private:
  using Clock = std::chrono::steady_clock;
  std::atomic<std::uint64_t> m_charged{0};
  double m_rate;
  double m_burst;
  double m_tokens;
  Clock::time_point m_last;
  std::mutex m_mutex;
};

/// The run's bandwidth limits: one bucket for the run, one per node (--bwlimit-per-node).
class RateLimits {
public:
  RateLimits(std::uint64_t run_rate, std::uint64_t per_node_rate);
  /// Takes `bytes` from the run's bucket and from each node's in `nodes`; may sleep.
  void consume(std::uint64_t bytes, const std::vector<std::string>& nodes);
  /// The bytes charged to the run's bucket so far.
  std::uint64_t charged() const { return m_run.charged(); }
  /// The bytes charged to each node so far (counted whether or not a per-node rate is set).
  std::map<std::string, std::uint64_t> charged_per_node() const;

private:
  std::uint64_t m_per_node_rate;
  TokenBucket m_run;
  mutable std::mutex m_mutex;
  std::map<std::string, std::unique_ptr<TokenBucket>> m_nodes;
  std::map<std::string, std::uint64_t> m_node_charged;
};

/// Thrown by a TeeSink when the run is asked to stop while a chunk is still streaming; the task
/// rolls back (nothing was committed).
struct TransferCancelled : std::exception {
  const char* what() const noexcept override { return "transfer cancelled by a stop request"; }
};

/// Passes a chunk stream to a writer, counting bytes, applying rate limits, and cancelling
/// (throwing TransferCancelled) when `stop()` turns true. Reaches the `mid_copy` fault point at
/// the first data block of the chunk.
class TeeSink : public transport::ChunkSink {
public:
  TeeSink(transport::ChunkSink& target,
          RateLimits& limits,
          std::vector<std::string> nodes,
          std::function<bool()> stop,
          std::function<void(std::uint64_t)> on_bytes);
  void begin_file(const transport::FileEntry& file) override;
  void file_data(std::span<const char> data) override;
  /// A hole costs no bandwidth: it is counted for progress but not rate-limited.
  void file_hole(std::uint64_t length) override;
  void end_file(const std::string& sha256) override;
  void directory(const transport::ChunkDir& dir) override;
  std::uint64_t bytes() const { return m_bytes; }

private:
  transport::ChunkSink& m_target;
  RateLimits& m_limits;
  std::vector<std::string> m_nodes;
  std::function<bool()> m_stop;
  std::function<void(std::uint64_t)> m_on_bytes;
  std::uint64_t m_bytes = 0;
  bool m_seen_data = false;
};

} // namespace clsync::core
