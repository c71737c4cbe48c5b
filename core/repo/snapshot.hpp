// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/options.hpp"
#include "transport/object.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

/// A snapshot (SPEC §7, issue 8): what one backup run saw, `snapshots/<id>.json` in a repository.
/// Written last, after every object it names is in place. Read as data from elsewhere: every
/// field is checked (names are relative chunk paths without `..`, sizes fit, hashes are hex).
namespace clsync::core::repo {

/// One chunk of a snapshot.
struct SnapshotChunk {
  std::string key;   ///< chunk key: path relative to a volume (names as bytes: json_names.hpp)
  std::string db;
  std::string table;
  std::vector<std::string> partition;  ///< the partition levels' values, outermost first
  transport::ChunkManifest manifest;   ///< files {path,size,mtime_ns,mode,uid,gid,sha256,link_to,holes}, directories
  std::string object;                  ///< the chunk's content hash (SPEC §3) = the object's id
  std::string object_sha256;           ///< SHA-256 of the object file, checked on every transfer
  std::uint64_t object_size = 0;
  std::uint64_t bytes() const;         ///< sum of the files' sizes
};

struct Snapshot {
  std::string id;       ///< UTC time + short hash, e.g. "20240601T020000Z-3f9a1c2e"
  std::string created;  ///< RFC 3339 UTC
  std::string cluster;  ///< the source topology's cluster name
  std::string host;     ///< where the backup ran
  std::string tag;
  FilterOptions filters;  ///< as given (columns included)
  std::vector<SnapshotChunk> chunks;  ///< sorted by key
  /// Prune and `latest` work per group: source cluster, filters and tag (restic: host, paths).
  std::string group() const;
};

/// A new snapshot id: the UTC time to the microsecond (later ids sort after earlier ones) and a
/// few random bytes.
std::string new_snapshot_id();

/// Receives a snapshot's JSON text, a piece at a time.
using JsonTextOut = std::function<void(std::string_view)>;

/// Writes the JSON text of a snapshot to `out` (chunks in key order, names that are not UTF-8 as
/// `<field>_b64`) an entry at a time: memory stays that of one file entry whatever the size of
/// the chunks.
void write_snapshot_json(const Snapshot& snap, const JsonTextOut& out);
/// The same, with `chunks` in place of `head.chunks` (an object record: one chunk, not copied).
void write_snapshot_json(const Snapshot& head, std::span<const SnapshotChunk* const> chunks,
                         const JsonTextOut& out);
/// The whole text of write_snapshot_json, as one string (small snapshots, tests, fuzzing).
std::string snapshot_to_json(const Snapshot& snap);

/// Parses and checks a snapshot; `what` names it in errors ("snapshot 2024…Z-3f9a in REPO").
/// Throws Error(failed) naming the field and entry for anything malformed or hostile. Each file
/// entry becomes its struct as soon as it is parsed: the text is never a whole document.
Snapshot snapshot_from_json(std::string_view text, const std::string& what);

/// The header of every snapshot file: "format" and the "version" this clsync reads and writes.
inline constexpr std::string_view k_snapshot_format = "clsync-snapshot";
inline constexpr int k_snapshot_version = 1;

/// A snapshot file larger than this is refused before it is parsed.
inline constexpr std::uint64_t k_max_snapshot_bytes = 256ull << 20;

/// 64 lowercase hex digits (a SHA-256 as clsync writes it).
bool is_sha256_hex(std::string_view s) noexcept;
/// Whether `id` can name a snapshot file: 1–128 characters of [A-Za-z0-9._-], not starting '.'.
bool is_snapshot_id(std::string_view id) noexcept;
/// "YYYY-MM-DDTHH:MM:SSZ" of a Unix time, and back (exactly that form; nullopt otherwise).
std::string format_rfc3339_utc(std::int64_t unix_seconds);
std::optional<std::int64_t> parse_rfc3339_utc(std::string_view text);

} // namespace clsync::core::repo
