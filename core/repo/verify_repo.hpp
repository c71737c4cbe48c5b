// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/error.hpp"
#include "core/events.hpp"
#include "core/repo/repository.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

/// `clsync verify REPO`: checks a repository's structure — every snapshot parses (as data from
/// elsewhere) and every object it names exists with the recorded size — and with --read-data
/// (or a subset) reads objects where they lie (Node::check_object; over SSH in the agent next
/// to the repository, so only results cross the network).
namespace clsync::core::repo {

struct VerifyRepoOptions {
  std::string snapshot;     ///< one snapshot id ("latest": the newest of all); empty: every one
  bool read_data = false;   ///< decode every object against its snapshot's manifest
  double read_subset_pct = 0;  ///< >0: read this percentage of the objects (chosen at random)
};

/// One thing wrong, naming the snapshot, chunk and object it concerns.
struct VerifyProblem {
  std::string snapshot;  ///< id, or empty for the repository as a whole
  std::string chunk;     ///< key (names as bytes), or empty
  std::string object;    ///< content hash, or empty
  std::string problem;
};

struct VerifyRepoResult {
  std::string repository;
  std::uint64_t snapshots_checked = 0;
  std::uint64_t chunks_checked = 0;
  std::uint64_t objects_checked = 0;  ///< distinct objects named by the checked snapshots
  std::uint64_t objects_read = 0;
  std::uint64_t bytes_read = 0;       ///< object bytes read by the data check
  std::uint64_t unreferenced_objects = 0;  ///< objects no snapshot names (prune removes them)
  std::vector<VerifyProblem> problems;
  /// 0 when nothing is wrong; 3 when problems were found; 130 when interrupted.
  ExitCode exit_code = ExitCode::ok;
};

/// Throws Error for a repository that cannot be read at all or an unknown --snapshot.
VerifyRepoResult verify_repository(const Repository& repo,
                                   const VerifyRepoOptions& opts,
                                   Events& events,
                                   const std::atomic<bool>* stop = nullptr);

} // namespace clsync::core::repo
