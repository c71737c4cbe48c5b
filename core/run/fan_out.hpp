// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/plan/plan.hpp"
#include "transport/node.hpp"
#include "transport/object.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

/// Fan-out: a `write` task (core/plan/plan.hpp) reads its bytes once and writes them to several
/// destinations at once. The source says where the bytes come from and how each destination
/// turns them into a chunk; the executor does the rest of SPEC §5 (intents, commit, trash,
/// rollback, recovery). `restore` reads a repository object and unpacks it on every destination
/// (Node::unpack_chunk, so compressed bytes cross the network); sync-online can give its own.
namespace clsync::core {

class FanOutSource {
public:
  virtual ~FanOutSource() = default;
  /// Opens the writer of chunk `m.chunk` into `<volume>/.clsync-tmp-<task>/` on `dst`.
  virtual std::unique_ptr<transport::ObjectWriter> open(transport::Node& dst,
                                                        const std::string& volume,
                                                        const std::string& task,
                                                        const Move& m) = 0;
  /// Streams the task's bytes once into `out` (every destination at once). Throws on a read
  /// error; the message names the source (snapshot, object).
  virtual void read(const Move& m, transport::ByteSink& out) = 0;
  /// Ends one destination's writer: checks and fsyncs, returns the digest written. Throws
  /// naming the entry on any mismatch.
  virtual transport::ChunkDigest finish(transport::ObjectWriter& w, const Move& m) = 0;
  /// The content hash every destination must end with.
  virtual std::string content_hash(const Move& m) const = 0;
  /// How many bytes read() sends for `m` (a compressed object's size), 0 when unknown. Progress
  /// counts the chunk's bytes (Move::bytes, what the plan's total counts): each block read is
  /// scaled by m.bytes / read_size, so that the bar ends at 100% whatever the compression.
  virtual std::uint64_t read_size(const Move&) const { return 0; }
};

/// A ByteSink that passes every block to each destination still writing. A destination that
/// throws is marked failed (its error kept) and left out from then on; the others go on. Throws
/// only when every destination failed (the first error), so that reading stops.
class FanOutSink : public transport::ByteSink {
public:
  /// `before_block` runs before each block is passed on (rate limits, progress, stop checks)
  /// and may throw to cancel the whole transfer.
  FanOutSink(std::vector<transport::ByteSink*> outs,
             std::function<void(std::uint64_t)> before_block);
  void write(std::span<const char> data) override;
  bool failed(std::size_t i) const { return !m_errors[i].empty(); }
  const std::string& error(std::size_t i) const { return m_errors[i]; }
  /// Marks destination `i` failed from outside (its finish threw).
  void fail(std::size_t i, std::string why);
  std::size_t alive() const;
  std::uint64_t bytes() const { return m_bytes; }

private:
  std::vector<transport::ByteSink*> m_outs;
  std::vector<std::string> m_errors;
  std::function<void(std::uint64_t)> m_before;
  std::uint64_t m_bytes = 0;
};

} // namespace clsync::core
