// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

/// Sizes, rates and durations as operators type them on the command line and in files.
namespace clsync::core {

/// `s` without leading and trailing white space.
std::string_view trim(std::string_view s);

/// Parses a size: a non-negative number (fractions allowed) and an optional unit, case-insensitive:
/// B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, P/PB/PiB. Every unit is binary (K = 1024 bytes);
/// "1.5M" is 1572864. Fractional bytes are rounded down. Throws UsageError naming `option` (when
/// not empty) and the value for anything else, including overflow past 2^64 - 1.
std::uint64_t parse_size(std::string_view text, std::string_view option = {});

/// Parses a rate in bytes per second: a size, optionally followed by "/s" ("50M", "50MB/s").
/// Throws UsageError as parse_size does.
std::uint64_t parse_rate(std::string_view text, std::string_view option = {});

/// Parses a duration: one or more NUMBER UNIT pairs with units s, m, h, d, w ("90s", "15m",
/// "1h30m", "7d"); a bare integer is seconds. Throws UsageError naming `option` and the value.
std::chrono::seconds parse_duration(std::string_view text, std::string_view option = {});

/// Parses a count given as "N" (a whole number) or "N%" of `total` (0–100, fractions allowed,
/// rounded down), as --max-delete takes it. Throws UsageError naming `option` and the value for
/// anything else: a sign, a fraction without "%", a percentage past 100, overflow.
std::uint64_t parse_count_or_percent(std::string_view text,
                                     std::uint64_t total,
                                     std::string_view option = {});

/// A size for people: "512 B", "16 KiB", "1.5 MiB", "3.2 GiB" (binary units, one decimal, a
/// trailing ".0" dropped). Never throws.
std::string format_size(std::uint64_t bytes);

/// A duration for people: "45s", "2m05s", "3h07m", "2d04h". Never throws.
std::string format_duration(std::chrono::seconds d);

} // namespace clsync::core
