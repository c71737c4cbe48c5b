// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/repo/repository.hpp"

#include <optional>
#include <string>

/// The backup cache of SPEC §7: (node, volume, key, quick fingerprint) → content hash, one small
/// file per replica under `cache/replicas/` of the repository, so that a chunk unchanged since
/// it was last packed is not even read. A cache: anything missing or unreadable is a miss.
namespace clsync::core::repo {

/// The content hash replica (node, volume, key) had when its fingerprint was `fingerprint`.
/// `key` may carry a suffix that tells object kinds apart (--columns).
std::optional<std::string> cached_content(const Repository& repo,
                                          const std::string& node,
                                          const std::string& volume,
                                          const std::string& key,
                                          const std::string& fingerprint);

/// Records that the replica with `fingerprint` holds `content_hash` (durably; replaces).
void remember_content(const Repository& repo,
                      const std::string& node,
                      const std::string& volume,
                      const std::string& key,
                      const std::string& fingerprint,
                      const std::string& content_hash);

} // namespace clsync::core::repo
