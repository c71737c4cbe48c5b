// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <CLI/CLI.hpp>

/// CLI11 transforms that let numeric options take units ("64K", "1.5G", "50M/s", "15m").
namespace clsync::cli {

/// Turns "1.5M" into "1572864" before CLI11 converts it; a bad value is a parse error (exit 2)
/// that names the option and the value. Bind the option to an unsigned integer of bytes.
CLI::Validator size_transform();

/// The same for rates in bytes per second ("50M", "50MB/s").
CLI::Validator rate_transform();

/// The same for durations ("90s", "15m", "2h", "7d"; a bare number is seconds). Bind the option
/// to an integer of seconds.
CLI::Validator duration_transform();

} // namespace clsync::cli
