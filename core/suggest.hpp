// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// "Did you mean …?" for misspelt keys, levels and names.
namespace clsync::core {

/// Edit distance (insertions, deletions, substitutions and swaps of neighbours), case-insensitive.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `word`, if one is close enough to be a plausible typo (distance at
/// most 2, or a third of the word's length for longer words); ties go to the first candidate.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates);

/// "; did you mean 'X'?" for the closest candidate, or "" when none is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

} // namespace clsync::core
