// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/wire_number.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

/// Numbers read back from clsync's own files (journals, removal holds, sync state). Such a file
/// may have been edited by hand or damaged: nlohmann's get<T> and value() convert a float with
/// static_cast (undefined behaviour out of T's range: 1e300 as a byte count) and wrap an
/// integer that does not fit (-1 as a byte count reads as 2^64-1, 2^32 + 1 as a version as 1).
/// Every such field goes through json_number, which accepts only an integer T represents
/// exactly (the agent protocol's rule, transport/wire_number.hpp).
namespace clsync::core {

/// A number field of one of clsync's own files does not hold an integer its type represents.
/// The message names the field and what it holds; the caller adds the file.
struct BadNumber : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Field `key` of object `obj` as T: `fallback` when `obj` is not an object or lacks the field;
/// throws BadNumber when the field holds anything but an integer in T's range (a float, a
/// string, a negative number for an unsigned T, a number too large).
template <class T> T json_number(const nlohmann::json& obj, const char* key, T fallback)
{
  if (!obj.is_object()) {
    return fallback;
  }
  const auto it = obj.find(key);
  if (it == obj.end()) {
    return fallback;
  }
  T v{};
  if (!transport::wire::wire_value(*it, v)) {
    std::string shown = it->dump();
    if (shown.size() > 40) {
      shown = shown.substr(0, 40) + "...";
    }
    throw BadNumber(std::string("field '") + key + "' holds " + shown +
                    ", not an integer in range");
  }
  return v;
}

} // namespace clsync::core
