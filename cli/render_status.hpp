// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/inventory.hpp"
#include "core/options.hpp"
#include "core/status.hpp"

#include <nlohmann/json.hpp>

#include <ostream>
#include <string>

/// Output of `clsync status`: the human tables and the `--json` document (schema in
/// render_status.cpp and man/clsync-status.1).
namespace clsync::cli {

/// The human report: nodes and volumes, health, balance, then (when asked or present) groups,
/// chunks, unhealthy chunks, unreachable nodes, unmanaged directories, leftovers and problems.
std::string render_status_text(const core::StatusResult& result, const core::StatusOptions& opts);

/// The `--json` document. Never throws for any result.
nlohmann::json status_json(const core::StatusResult& result, const core::StatusOptions& opts);

/// Writes the `--json` document (the bytes of core::dump_json(status_json(…), 2), no final
/// newline) chunk by chunk, without building its chunk arrays: memory stays that of the
/// inventory whatever `--chunks` adds. Throws only what `out` throws.
void write_status_json(std::ostream& out,
                       const core::StatusResult& result,
                       const core::StatusOptions& opts);

/// One replica as JSON: {node, volume, bytes, files, fingerprint, newest_mtime, duplicate?,
/// content_hash?, special?}. Shared with other commands that list replicas.
nlohmann::json replica_json(const core::Replica& replica);

/// One chunk as JSON: {key, db, table, partition: {LEVEL: VALUE}, bytes, replication, health,
/// issues, replicas: [...]}.
nlohmann::json chunk_json(const core::Chunk& chunk);

/// Why the status exits non-zero, in one sentence ("unreachable: P2-dn1", "3 of 200 chunks are
/// unhealthy"); empty for exit 0.
std::string status_error(const core::StatusResult& result);

/// A time in nanoseconds since the epoch as RFC 3339 UTC ("2020-06-01T09:30:00Z"), whole
/// seconds.
std::string rfc3339_utc(std::int64_t ns);

} // namespace clsync::cli
