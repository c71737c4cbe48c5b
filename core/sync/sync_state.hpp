// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

/// The sync state of sync-online (issue 9 item 1): what the last rounds copied from cluster A to
/// cluster B, kept in B's state dir as `<state>/<B cluster>/sync-<A cluster>.json`. Per chunk:
/// the A replica read, its quick fingerprint then and the content hash copied; per B replica,
/// the fingerprint it had after the copy. A round trusts a chunk as unchanged only when both
/// sides still carry what is recorded (sync_compare.hpp).
namespace clsync::core::sync {

struct SyncedReplica {
  std::string node;
  std::string volume;
  std::string fingerprint;
  bool operator==(const SyncedReplica&) const = default;
};

struct SyncedChunk {
  std::string a_node, a_volume;  ///< the A replica read
  std::string a_fingerprint;     ///< its quick fingerprint when read
  std::string content_hash;      ///< of what was copied
  std::vector<SyncedReplica> b;  ///< B's replicas after the copy
  bool operator==(const SyncedChunk&) const = default;
};

struct SyncState {
  std::string from, to;  ///< cluster names of A and B
  std::map<std::string, SyncedChunk> chunks;  ///< by chunk key
};

/// `<state_dir>/<to>/sync-<from>.json`.
std::filesystem::path sync_state_path(const std::filesystem::path& state_dir,
                                      const std::string& from,
                                      const std::string& to);

/// Reads the state; an absent file gives an empty state. Throws Error(failed) naming the file
/// when it cannot be read or parsed (a damaged state must not read as "nothing synced").
SyncState load_sync_state(const std::filesystem::path& file);

/// Writes the state durably: a temp beside it, fsynced, renamed over the file, directory
/// fsynced. Names are bytes (json_names.hpp). Throws Error(failed) naming the file.
void save_sync_state(const std::filesystem::path& file, const SyncState& state);

} // namespace clsync::core::sync
