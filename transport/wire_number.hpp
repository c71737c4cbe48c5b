// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <type_traits>
#include <utility>

/// Internal to the wire decoders (agent_wire_*.cpp).
namespace clsync::transport::wire {

/// Reads a decoded field into `out`; false when it does not fit. An integer field must hold an
/// integer that T represents exactly: nlohmann's get<T> converts a float with static_cast
/// (undefined behaviour beyond T's range: a peer sending 1e300 for a size) and wraps an
/// integer that does not fit (2^32 + 0644 would read as mode 0644). Other types: get<T>.
template <class T> bool wire_value(const nlohmann::json& v, T& out)
{
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      if (!std::in_range<T>(u)) {
        return false;
      }
      out = static_cast<T>(u);
      return true;
    }
    if (v.is_number_integer()) {
      const auto s = v.get<std::int64_t>();
      if (!std::in_range<T>(s)) {
        return false;
      }
      out = static_cast<T>(s);
      return true;
    }
    return false;
  } else {
    out = v.get<T>();
    return true;
  }
}

} // namespace clsync::transport::wire
