// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/sync/sync_source.hpp"

#include "core/sync/chunk_stream.hpp"
#include "transport/errors.hpp"

#include <algorithm>
#include <limits>

namespace clsync::core::sync {
namespace {

/// The destination's writer, remembering where it writes (for the sync state).
class Destination : public ChunkStreamWriter {
public:
  Destination(std::unique_ptr<transport::ChunkWriter> w, Place where)
      : ChunkStreamWriter(std::move(w)), place(std::move(where))
  {
  }
  Place place;
};

std::string where(const Place& p)
{
  return "node " + p.node + " volume " + p.volume;
}

} // namespace

SyncSource::SyncSource(NodeSet& a_nodes,
                       Context& b,
                       std::map<std::string, std::vector<Place>> replicas,
                       std::function<bool(const std::string&)> keep)
    : m_nodes(a_nodes), m_b(b), m_replicas(std::move(replicas)), m_keep(std::move(keep))
{
}

std::unique_ptr<transport::ObjectWriter> SyncSource::open(transport::Node& dst,
                                                          const std::string& volume,
                                                          const std::string& task,
                                                          const Move& m)
{
  Place p{"?", volume};
  for (const auto& t : m.targets) {
    if (t.place.volume == volume && m_b.nodes->get(t.place.node).get() == &dst) {
      p = t.place;
    }
  }
  return std::make_unique<Destination>(dst.write_chunk(volume, task), p);
}

Place SyncSource::pick(const std::string& key)
{
  auto it = m_replicas.find(key);
  if (it == m_replicas.end() || it->second.empty()) {
    throw std::runtime_error("chunk " + key + " has no readable replica on the source cluster");
  }
  const auto& failed = m_failed[key];
  const Place* best = nullptr;
  std::pair<int, int> best_rank{std::numeric_limits<int>::max(), 0};
  for (const Place& p : it->second) {
    const int tried = static_cast<int>(std::count(failed.begin(), failed.end(), p));
    const std::pair<int, int> rank{tried, m_busy[p.node]};
    if (!best || rank < best_rank) {
      best = &p;
      best_rank = rank;
    }
  }
  return *best;
}

void SyncSource::read(const Move& m, transport::ByteSink& out)
{
  Place p;
  {
    std::lock_guard lock(m_mu);
    p = pick(m.chunk);
    ++m_busy[p.node];
    m_copies.erase(m.chunk);
  }
  ChunkCopy copy;
  copy.a = p;
  try {
    auto node = m_nodes.get(p.node);
    ChunkStreamEncoder enc(out, m_keep, "chunk " + m.chunk + " on source " + where(p));
    const transport::ChunkDigest d = node->read_chunk(p.volume, m.chunk, enc);
    copy.content_hash = enc.finish();
    copy.bytes = enc.file_bytes();
    copy.a_fingerprint = d.fingerprint;
    const std::string after = node->fingerprint(p.volume, m.chunk);
    if (after != d.fingerprint) {
      throw transport::TransportError(transport::FailureKind::error,
                                      "chunk " + m.chunk + " on source " + where(p) +
                                          " changed while it was read; read again",
                                      true);
    }
  } catch (...) {
    std::lock_guard lock(m_mu);
    --m_busy[p.node];
    m_failed[m.chunk].push_back(p);
    throw;
  }
  std::lock_guard lock(m_mu);
  --m_busy[p.node];
  m_copies[m.chunk] = std::move(copy);
}

transport::ChunkDigest SyncSource::finish(transport::ObjectWriter& w, const Move& m)
{
  auto& dst = static_cast<Destination&>(w);
  transport::ChunkDigest d = dst.finish("");
  std::lock_guard lock(m_mu);
  auto it = m_copies.find(m.chunk);
  if (it != m_copies.end()) {
    it->second.written.push_back({dst.place.node, dst.place.volume, d.fingerprint});
  }
  return d;
}

std::string SyncSource::content_hash(const Move& m) const
{
  std::lock_guard lock(m_mu);
  auto it = m_copies.find(m.chunk);
  return it == m_copies.end() ? std::string() : it->second.content_hash;
}

ChunkCopy SyncSource::copy_of(const std::string& key) const
{
  std::lock_guard lock(m_mu);
  auto it = m_copies.find(key);
  return it == m_copies.end() ? ChunkCopy{} : it->second;
}

} // namespace clsync::core::sync
