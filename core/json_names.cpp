// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/json_names.hpp"
#include "core/plan/plan.hpp"

#include <array>
#include <cstdint>

namespace clsync::core {
namespace {

/// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is not one (Unicode 15,
/// table 3-7).
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept
{
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) {
    return 1;
  }
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    lo = c == 0xE0 ? 0xA0 : 0x80;
    hi = c == 0xED ? 0x9F : 0xBF; // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    lo = c == 0xF0 ? 0x90 : 0x80;
    hi = c == 0xF4 ? 0x8F : 0xBF; // at most U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size() || b(i + 1) < lo || b(i + 1) > hi) {
    return 0;
  }
  for (std::size_t k = 2; k < len; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) {
      return 0;
    }
  }
  return len;
}

constexpr std::string_view k_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

} // namespace

bool is_utf8(std::string_view s) noexcept
{
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      return false;
    }
    i += n;
  }
  return true;
}

std::string lossy_utf8(std::string_view s)
{
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes)
{
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto at = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    for (int shift : {18, 12, 6, 0}) {
      out += k_alphabet[(v >> shift) & 63];
    }
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    const std::uint32_t v = at(i) << 16 | (rest == 2 ? at(i + 1) << 8 : 0);
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += rest == 2 ? k_alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text)
{
  if (text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::array<int, 256> value{};
  value.fill(-1);
  for (std::size_t k = 0; k < k_alphabet.size(); ++k) {
    value[static_cast<unsigned char>(k_alphabet[k])] = static_cast<int>(k);
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const std::size_t pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
    if (pad == 1 && text[i + 2] == '=') {
      return std::nullopt; // "xx=y"
    }
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const int d = k >= 4 - pad ? 0 : value[static_cast<unsigned char>(text[i + k])];
      if (d < 0) {
        return std::nullopt;
      }
      v = v << 6 | static_cast<std::uint32_t>(d);
    }
    out += static_cast<char>(v >> 16 & 0xFF);
    if (pad < 2) {
      out += static_cast<char>(v >> 8 & 0xFF);
    }
    if (pad < 1) {
      out += static_cast<char>(v & 0xFF);
    }
  }
  return out;
}

void put_name(nlohmann::json& obj, const std::string& field, std::string_view name)
{
  if (is_utf8(name)) {
    obj[field] = std::string(name);
    return;
  }
  obj[field] = lossy_utf8(name);
  obj[field + "_b64"] = base64_encode(name);
}

std::optional<std::string> get_name(const nlohmann::json& obj, const std::string& field)
{
  if (!obj.is_object()) {
    return std::nullopt;
  }
  if (const auto b = obj.find(field + "_b64"); b != obj.end()) {
    return b->is_string() ? base64_decode(b->get_ref<const std::string&>()) : std::nullopt;
  }
  const auto it = obj.find(field);
  if (it == obj.end() || !it->is_string()) {
    return std::nullopt;
  }
  return it->get<std::string>();
}

std::string get_name_or(const nlohmann::json& obj, const std::string& field, std::string fallback)
{
  auto v = get_name(obj, field);
  return v ? std::move(*v) : std::move(fallback);
}

std::string dump_json(const nlohmann::json& doc, int indent)
{
  return doc.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json place_json(const Place& p)
{
  nlohmann::json j{{"node", p.node}};
  put_name(j, "volume", p.volume);
  return j;
}

} // namespace clsync::core
