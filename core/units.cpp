// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/units.hpp"

#include "core/error.hpp"

#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

namespace clsync::core {

std::string_view trim(std::string_view s)
{
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}


namespace {

constexpr std::uint64_t k_max = std::numeric_limits<std::uint64_t>::max();

std::string lower(std::string_view s)
{
  std::string out(s);
  for (auto& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

[[noreturn]] void
fail(std::string_view kind, std::string_view text, std::string_view option, const char* expected)
{
  std::string what;
  if (!option.empty()) {
    what = std::string(option) + ": ";
  }
  what += "bad " + std::string(kind) + " '" + std::string(text) + "'";
  throw UsageError(what, expected);
}

/// A decimal number with an optional fraction: integer part and fraction kept apart so that
/// whole byte counts up to 2^64 - 1 stay exact.
struct Decimal {
  std::uint64_t whole = 0;
  long double fraction = 0; ///< in [0, 1)
};

/// Consumes a decimal number from the front of `s`; nullopt when there is none or it overflows.
std::optional<Decimal> take_decimal(std::string_view& s)
{
  Decimal d;
  std::size_t i = 0;
  bool digits = false;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    const unsigned digit = static_cast<unsigned>(s[i] - '0');
    if (d.whole > (k_max - digit) / 10) {
      return std::nullopt;
    }
    d.whole = d.whole * 10 + digit;
    digits = true;
    ++i;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    long double scale = 0.1L;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      d.fraction += scale * static_cast<long double>(s[i] - '0');
      scale /= 10;
      digits = true;
      ++i;
    }
  }
  if (!digits) {
    return std::nullopt;
  }
  s.remove_prefix(i);
  return d;
}

std::optional<std::uint64_t> size_multiplier(const std::string& unit)
{
  static const std::array<std::pair<const char*, int>, 6> k_prefixes{
      {{"", 0}, {"k", 10}, {"m", 20}, {"g", 30}, {"t", 40}, {"p", 50}}};
  for (const auto& [prefix, shift] : k_prefixes) {
    const std::string p = prefix;
    if (unit == p || (!p.empty() && (unit == p + "b" || unit == p + "ib")) ||
        (p.empty() && unit == "b")) {
      return std::uint64_t{1} << shift;
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> try_parse_size(std::string_view text)
{
  std::string_view s = trim(text);
  auto number = take_decimal(s);
  if (!number) {
    return std::nullopt;
  }
  auto mult = size_multiplier(lower(trim(s)));
  if (!mult) {
    return std::nullopt;
  }
  if (number->whole > k_max / *mult) {
    return std::nullopt;
  }
  const std::uint64_t whole = number->whole * *mult;
  const auto part = static_cast<std::uint64_t>(std::floor(number->fraction * *mult));
  if (part > k_max - whole) {
    return std::nullopt;
  }
  return whole + part;
}

constexpr const char* k_size_expected =
    "expected a number and an optional unit, e.g. 65536, 64K, 1.5M, 2G, 100MB, 1GiB";

} // namespace

std::uint64_t parse_size(std::string_view text, std::string_view option)
{
  if (auto v = try_parse_size(text)) {
    return *v;
  }
  fail("size", text, option, k_size_expected);
}

std::uint64_t
parse_count_or_percent(std::string_view text, std::uint64_t total, std::string_view option)
{
  std::string_view s = trim(text);
  const auto d = take_decimal(s);
  if (d && s.empty() && d->fraction == 0) {
    return d->whole;
  }
  if (d && s == "%" && (d->whole < 100 || (d->whole == 100 && d->fraction == 0))) {
    const long double share = (static_cast<long double>(d->whole) + d->fraction) / 100.0L;
    return static_cast<std::uint64_t>(share * static_cast<long double>(total));
  }
  fail("count", text, option, "expected a number of chunks or a percentage, e.g. 10 or 5%");
}

std::uint64_t parse_rate(std::string_view text, std::string_view option)
{
  std::string_view s = trim(text);
  if (s.size() >= 2 && (s.substr(s.size() - 2) == "/s" || s.substr(s.size() - 2) == "/S")) {
    s.remove_suffix(2);
  }
  if (auto v = try_parse_size(s)) {
    return *v;
  }
  fail("rate", text, option,
       "expected bytes per second with an optional unit, e.g. 50M, 50MB/s, 1G");
}

std::chrono::seconds parse_duration(std::string_view text, std::string_view option)
{
  constexpr const char* expected = "expected a duration such as 90s, 15m, 2h, 7d or 1h30m";
  std::string_view s = trim(text);
  if (s.empty()) {
    fail("duration", text, option, expected);
  }
  std::uint64_t total = 0;
  bool bare = true;
  while (!s.empty()) {
    auto number = take_decimal(s);
    if (!number || number->fraction != 0) {
      fail("duration", text, option, expected);
    }
    std::uint64_t unit = 1;
    if (!s.empty()) {
      switch (std::tolower(static_cast<unsigned char>(s.front()))) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        fail("duration", text, option, expected);
      }
      s.remove_prefix(1);
      bare = false;
    } else if (!bare) {
      // "1h30" is ambiguous: minutes or seconds? Ask for the unit.
      fail("duration", text, option, expected);
    }
    constexpr std::uint64_t k_limit = std::uint64_t{1} << 40; // ~35,000 years
    if (number->whole > k_limit / unit || total + number->whole * unit > k_limit) {
      fail("duration", text, option, expected);
    }
    total += number->whole * unit;
  }
  return std::chrono::seconds(static_cast<std::int64_t>(total));
}

std::string format_size(std::uint64_t bytes)
{
  if (bytes < 1024) {
    return std::to_string(bytes) + " B";
  }
  static const std::array<const char*, 6> k_units{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  long double v = static_cast<long double>(bytes) / 1024;
  std::size_t u = 0;
  // Round first, so that 1023.96 KiB shows as "1 MiB", not "1024 KiB".
  while (u + 1 < k_units.size() && std::round(v * 10) / 10 >= 1024) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1Lf", v);
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) {
    s.resize(s.size() - 2);
  }
  return s + " " + k_units[u];
}

std::string format_duration(std::chrono::seconds d)
{
  auto s = d.count();
  if (s < 0) {
    s = 0;
  }
  char buf[48];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  }
  return buf;
}

} // namespace clsync::core
