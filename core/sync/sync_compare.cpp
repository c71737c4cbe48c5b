// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/sync/sync_compare.hpp"

#include <algorithm>
#include <limits>
#include <map>

namespace clsync::core::sync {
namespace {

std::vector<const Replica*> counted(const Chunk& c)
{
  std::vector<const Replica*> out;
  for (const auto& r : c.replicas) {
    if (!r.duplicate) {
      out.push_back(&r);
    }
  }
  return out;
}

/// A's replica the state recorded as read, else A's first replica.
const Replica* reference(const Chunk& a, const SyncedChunk* st)
{
  const auto reps = counted(a);
  if (st) {
    for (const Replica* r : reps) {
      if (r->node == st->a_node && r->volume == st->a_volume) {
        return r;
      }
    }
  }
  return reps.empty() ? nullptr : reps.front();
}

bool recorded_match(const Chunk& a, const Chunk& b, const SyncedChunk& st)
{
  const Replica* ref = reference(a, &st);
  if (!ref || ref->node != st.a_node || ref->volume != st.a_volume ||
      ref->fingerprint != st.a_fingerprint) {
    return false;
  }
  for (const Replica* r : counted(b)) {
    const SyncedReplica want{r->node, r->volume, r->fingerprint};
    if (std::find(st.b.begin(), st.b.end(), want) == st.b.end()) {
      return false;
    }
  }
  return true;
}

bool unchanged(const Chunk& a, const Chunk& b, const SyncedChunk* st, bool checksum)
{
  const Replica* ref = reference(a, st);
  const auto bs = counted(b);
  if (!ref || bs.empty()) {
    return false;
  }
  auto all_b = [&](auto&& same) {
    return std::all_of(bs.begin(), bs.end(), [&](const Replica* r) { return same(*r); });
  };
  if (checksum) {
    return !ref->content_hash.empty() &&
           all_b([&](const Replica& r) { return r.content_hash == ref->content_hash; });
  }
  if (st && recorded_match(a, b, *st)) {
    return true;
  }
  return !ref->fingerprint.empty() &&
         all_b([&](const Replica& r) { return r.fingerprint == ref->fingerprint; });
}

ChunkDecision decide(const Chunk& a, const Chunk* b, const SyncState& state, bool checksum)
{
  ChunkDecision d;
  d.key = a.key;
  d.bytes = a.bytes;
  auto it = state.chunks.find(a.key);
  const SyncedChunk* st = it == state.chunks.end() ? nullptr : &it->second;
  const Replica* ref = reference(a, st);
  if (ref) {
    d.a_replicas.push_back({ref->node, ref->volume});
  }
  for (const Replica* r : counted(a)) {
    d.newest_mtime_ns = std::max(d.newest_mtime_ns, r->newest_mtime_ns);
    if (r != ref) {
      d.a_replicas.push_back({r->node, r->volume});
    }
  }
  if (!b) {
    d.state = ChunkState::missing;
    return d;
  }
  d.b_replication = b->replication;
  for (const Replica* r : counted(*b)) {
    d.b_replicas.push_back({r->node, r->volume});
  }
  if (!unchanged(a, *b, st, checksum)) {
    d.state = ChunkState::differing;
  } else if (static_cast<int>(d.b_replicas.size()) < b->replication) {
    d.state = ChunkState::under;
  } else {
    d.state = ChunkState::same;
  }
  return d;
}

} // namespace

const char* to_string(ChunkState s) noexcept
{
  switch (s) {
  case ChunkState::same:
    return "same";
  case ChunkState::under:
    return "under";
  case ChunkState::missing:
    return "missing";
  case ChunkState::differing:
    return "differing";
  case ChunkState::extra:
    return "extra";
  }
  return "?";
}

Comparison compare_clusters(const std::vector<const Chunk*>& a,
                            const std::vector<const Chunk*>& b,
                            const SyncState& state,
                            bool checksum,
                            std::int64_t now_ns)
{
  Comparison out;
  std::map<std::string, const Chunk*> b_by_key;
  for (const Chunk* c : b) {
    b_by_key[c->key] = c;
  }
  std::int64_t oldest = std::numeric_limits<std::int64_t>::max();
  for (const Chunk* c : a) {
    auto it = b_by_key.find(c->key);
    ChunkDecision d = decide(*c, it == b_by_key.end() ? nullptr : it->second, state, checksum);
    if (it != b_by_key.end()) {
      b_by_key.erase(it);
    }
    if (d.state == ChunkState::missing || d.state == ChunkState::differing) {
      ++(d.state == ChunkState::missing ? out.lag.missing : out.lag.differing);
      out.lag.bytes += d.bytes;
      oldest = std::min(oldest, d.newest_mtime_ns);
    }
    out.chunks.push_back(std::move(d));
  }
  for (const auto& [key, c] : b_by_key) {
    ChunkDecision d;
    d.key = key;
    d.state = ChunkState::extra;
    d.bytes = c->bytes;
    d.b_replication = c->replication;
    for (const Replica* r : counted(*c)) {
      d.b_replicas.push_back({r->node, r->volume});
    }
    ++out.lag.extra;
    out.chunks.push_back(std::move(d));
  }
  if (oldest != std::numeric_limits<std::int64_t>::max()) {
    out.lag.seconds = std::max(0.0, static_cast<double>(now_ns - oldest) / 1e9);
  }
  return out;
}

} // namespace clsync::core::sync
