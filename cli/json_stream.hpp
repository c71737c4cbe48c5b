// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <ostream>
#include <string>

/// Writing one large `--json` document without holding it: the small members are an ordinary
/// nlohmann::json object, the large arrays (every chunk, every move) are produced one element at
/// a time and written as they come. The bytes are exactly those of core::dump_json(doc, 2) for
/// the whole document, so `jq` users and the golden tests see no difference.
namespace clsync::cli {

/// Called once per element of a streamed array, in order.
using JsonEmit = std::function<void(const nlohmann::json& element)>;
/// Produces a streamed array: calls `emit` once per element.
using JsonArraySource = std::function<void(const JsonEmit& emit)>;

/// Writes the object `doc` merged with the arrays of `streamed` (member name → source), members
/// in nlohmann's order (sorted by name), indented by 2 as core::dump_json(…, 2) would, without
/// a final newline. A name in both takes the streamed array. Invalid UTF-8 that reached a value
/// is written lossy (U+FFFD), as dump_json does. Throws std::invalid_argument when `doc` is not
/// an object; whatever `out` or a source throws passes through (the document is then cut).
void write_json_streamed(std::ostream& out,
                         const nlohmann::json& doc,
                         const std::map<std::string, JsonArraySource>& streamed);

} // namespace clsync::cli
