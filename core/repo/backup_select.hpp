// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/inventory.hpp"
#include "core/repo/snapshot.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

/// Which replica a backup reads for each chunk, or why it reads none (pure; tests call it).
namespace clsync::core::repo {

/// What the backup does with one selected chunk.
struct BackupItem {
  const Chunk* chunk = nullptr;
  enum class Action { pack, reuse, skip } action = Action::pack;
  /// pack: the replicas it may read, least preferred last (the pool picks the least busy node).
  std::vector<const Replica*> candidates;
  /// reuse: the replica the cache knew unchanged, and the snapshot record of its object.
  const Replica* cached = nullptr;
  SnapshotChunk record;
  std::string reason;  ///< skip: why, naming the chunk's nodes
};

/// The backup cache as selection sees it: the content hash last packed from replica
/// (node, volume, key) when its quick fingerprint was `fingerprint`, else nullopt.
using CacheLookup = std::function<std::optional<std::string>(
    const std::string& node, const std::string& volume, const std::string& key,
    const std::string& fingerprint)>;
/// The record of an object that is in the repository, else nullopt.
using RecordLookup = std::function<std::optional<SnapshotChunk>(const std::string& object)>;

struct SelectParams {
  std::string prefer_node;  ///< a divergent chunk is read from this node's replica
  bool columns = false;     ///< --columns given: records come from the object, not the files
};

/// Decides every chunk of `chunks`: skip (divergent without a --prefer-node replica, special
/// files, no reachable replica), reuse (some replica's fingerprint is in the cache, its object
/// and record are in the repository: the chunk is not read), or pack from one of its replicas.
std::vector<BackupItem> select_backup(const std::vector<const Chunk*>& chunks,
                                      const Inventory& inv,
                                      const SelectParams& params,
                                      const CacheLookup& cache,
                                      const RecordLookup& records);

/// The snapshot record of a chunk whose object is `record.object`, for replica `r` of `c`: the
/// object's files and directories, with each file's mtime, mode and owner taken from the
/// replica's own file list when the scan kept it (two replicas of one content differ in mtimes).
SnapshotChunk record_for(const Chunk& c, const Replica& r, const SnapshotChunk& record);

/// A chunk's identity fields of a snapshot record (key, db, table, partition values).
void fill_identity(SnapshotChunk& out, const Chunk& c);

} // namespace clsync::core::repo
