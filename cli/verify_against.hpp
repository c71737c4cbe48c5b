// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "cli/command.hpp"
#include "core/repo/verify_against.hpp"

#include <nlohmann/json.hpp>

#include <ostream>

/// The `verify -c FILE --against REPO` half of the verify command: its options, its run and
/// its output. The verify command calls run_verify_against when --against was given.
namespace clsync::cli {

/// --against, the filters and the read limits, bound to `o` (the verify command shares
/// --snapshot and the repository options with `verify REPO`).
void add_verify_against_options(CLI::App& sub, core::repo::VerifyAgainstOptions& o);

/// The --json document: {snapshot, repository, cluster, chunks, same, missing: [{chunk,
/// object}], differ: [{chunk, object, replicas: [{node, volume, content_hash}]}], absent:
/// [{chunk, replicas: [{node, volume}]}], errors: [{chunk, node, volume, error}], seconds,
/// result}. result is "same" or "different".
nlohmann::json verify_against_json(const core::repo::VerifyAgainstResult& r);

/// Runs the comparison and prints the text or the JSON document; returns the exit code.
ExitCode run_verify_against(const core::repo::VerifyAgainstOptions& o,
                            core::Context& ctx,
                            const GlobalOptions& global,
                            std::ostream& out);

} // namespace clsync::cli
