// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/repo/repository.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>

/// The backup cache (SPEC §7): in the repository, `cache/<cluster>.jsonl` maps (node, volume,
/// key, quick fingerprint) to the chunk's content hash, so that a backup need not even read a
/// chunk that has not changed since the last one. The cache is a hint: an entry is used only
/// while the object it names is in the repository, and a damaged line is ignored.
namespace clsync::core::repo {

class BackupCache {
public:
  /// Loads the cache of `cluster` (empty when there is none) and the repository's list of
  /// complete objects, against which lookups are checked.
  static BackupCache load(const Repository& repo, const std::string& cluster);

  /// The content hash recorded for this replica state, when its object exists. Thread-safe.
  std::optional<std::string> lookup(const std::string& node,
                                    const std::string& volume,
                                    const std::string& key,
                                    const std::string& fingerprint) const;
  /// Records a replica state whose object is now in the repository (call after the object is
  /// in place; the object then counts as existing for lookups). Thread-safe.
  void insert(const std::string& node,
              const std::string& volume,
              const std::string& key,
              const std::string& fingerprint,
              const std::string& content_hash);
  /// Whether the object is in the repository (listed at load, or inserted since).
  bool has_object(const std::string& content_hash) const;
  /// Notes an object written during this run.
  void object_added(const std::string& content_hash);

  /// Writes the cache durably (temp, fsync, rename), keeping only entries whose objects exist.
  void save(const Repository& repo) const;

  std::size_t size() const;
  /// Lines that could not be read at load (ignored).
  std::size_t ignored_lines() const { return m_ignored; }
  /// "cache/<cluster>.jsonl" (a cluster name that is not a plain file name is hashed).
  static std::string path_for(const std::string& cluster);

private:
  using Key = std::tuple<std::string, std::string, std::string, std::string>;
  std::string m_cluster;
  std::map<Key, std::string> m_entries;
  std::set<std::string> m_objects;
  std::size_t m_ignored = 0;
  mutable std::mutex m_mutex;

public:
  BackupCache() = default;
  BackupCache(BackupCache&& other) noexcept;
  BackupCache& operator=(BackupCache&&) = delete;
};

} // namespace clsync::core::repo
