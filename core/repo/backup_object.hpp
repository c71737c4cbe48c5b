// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/repo/repository.hpp"
#include "core/repo/snapshot.hpp"
#include "core/run/transfer.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

/// One chunk into one object: packed on its node, streamed into the repository under a
/// temporary name, checked, then renamed to `objects/<aa>/<content hash>.tar.zst` (the name is
/// known only once the node has read the whole chunk). Fault points (core/fault.hpp):
/// backup_mid_object (streamed, not committed), backup_object_placed (renamed into place),
/// backup_chunk_done (object, record and cache entry written; core/repo/backup.cpp).
namespace clsync::core::repo {

/// The zstd workers (PackOptions::threads) for one object. Every object in flight already
/// compresses on its own thread; workers cost a thread pool per object, a copy of the input into
/// job buffers and fresh pages (57% more CPU for the demo's backup), so they pay only where they
/// use cores the objects in flight leave idle. `per_node_option` (--zstd-threads) is shared by
/// the `busy_on_node` objects of the node. Local nodes share this machine's `cores`: an object
/// there gets workers only while fewer than `cores` objects are packed on local nodes
/// (`local_in_flight`, this one included). Returns 0 (compress on the caller's thread) rather
/// than 1: one worker only moves the compression to another thread, for the price of the copy.
int zstd_workers(int per_node_option, int busy_on_node, bool local, int local_in_flight, int cores);

struct PackedObject {
  SnapshotChunk record;     ///< manifest, object id, object SHA-256 and size (no identity yet)
  std::string fingerprint;  ///< of the chunk as the node read it
  bool is_new = false;      ///< false: the content was in the repository already
  std::uint64_t bytes_read = 0;     ///< the chunk's bytes packed
  std::uint64_t bytes_written = 0;  ///< object bytes placed in the repository
};

struct ObjectPacker {
  const Repository& repo;
  RateLimits& limits;
  std::string run_id;
  int level = 3;
  std::vector<std::string> columns;
  std::function<bool()> stop;  ///< true: cancel the stream (TransferCancelled), nothing placed

  /// Packs chunk `key` of `volume` on `node` (named `node_name`) with `threads` zstd workers;
  /// `n` tells the run's concurrent temporaries apart. Throws naming node, volume and chunk
  /// when the object that arrived is not the one the node sent.
  PackedObject pack(transport::Node& node,
                    const std::string& node_name,
                    const std::string& volume,
                    const std::string& key,
                    int threads,
                    std::size_t n) const;
};

} // namespace clsync::core::repo
