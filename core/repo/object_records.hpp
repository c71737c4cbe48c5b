// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/repo/repository.hpp"
#include "core/repo/snapshot.hpp"

#include <optional>
#include <string>

/// What a backup knows of each object it wrote: the chunk record a snapshot needs (manifest,
/// object hash and size), kept in `cache/objects/<aa>/<hash>.json` of the repository. With it a
/// chunk that the backup cache says is unchanged goes into the next snapshot without being read,
/// even when the run that wrote its object was interrupted before its snapshot. A cache: a
/// missing or unreadable record only means the chunk is read again.
namespace clsync::core::repo {

/// "cache/objects/<aa>/<hash>.json"
std::string object_record_path(const std::string& content_hash);

/// The record of object `content_hash`, or nullopt when there is none or it does not read back
/// as a record of that object.
std::optional<SnapshotChunk> load_object_record(const Repository& repo,
                                                const std::string& content_hash);

/// Writes the record of `chunk.object` durably (temp and rename by create_file).
void save_object_record(const Repository& repo, const SnapshotChunk& chunk);

} // namespace clsync::core::repo
