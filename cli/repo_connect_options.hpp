// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/repo/repository.hpp"

#include <CLI/CLI.hpp>

namespace clsync::cli {

/// The options that stand in for a topology's `ssh:` block when a repository is ssh://.
void add_repo_connect_options(CLI::App& sub, core::repo::RepoConnect& c);

} // namespace clsync::cli
