// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/json_names.hpp"
#include "core/repo/backup.hpp"

#include <nlohmann/json.hpp>

#include <string>

/// Output of `backup`.
namespace clsync::cli {

/// The --json document: {dry_run, snapshot, repository, chunks, new_objects, reused_objects,
/// not_read, skipped, failed, not_started, bytes_read, bytes_written, seconds, problems:
/// [{chunk, node, volume, kind: skipped|failed, error}], notes, result}. `snapshot` is null when
/// none was written. Field names are stable; changes are additive.
nlohmann::json backup_json(const core::repo::BackupResult& r);

/// The human report; every problem with `all`, else the first 20.
std::string render_backup_text(const core::repo::BackupResult& r, bool all);

} // namespace clsync::cli
