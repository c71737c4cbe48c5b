// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/cluster/compact.hpp"

#include <mutex>
#include <set>
#include <unordered_set>

namespace clsync::core {
namespace {

/// The process's interned strings. Never freed (they are few: names repeat), so a Name's
/// pointer stays valid for the life of the process, across threads.
struct InternHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept
  {
    return std::hash<std::string_view>{}(s);
  }
};
struct InternTable {
  std::mutex mutex;
  std::unordered_set<std::string, InternHash, std::equal_to<>> strings;
};

InternTable& intern_table()
{
  static auto* table = new InternTable;  // never destroyed: Names may outlive static teardown
  return *table;
}

} // namespace

const std::string* Name::empty_string()
{
  static const std::string empty;
  return &empty;
}

const std::string* Name::intern(std::string_view s)
{
  if (s.empty()) {
    return empty_string();
  }
  InternTable& t = intern_table();
  std::lock_guard lock(t.mutex);
  auto it = t.strings.find(s);
  if (it == t.strings.end()) {
    it = t.strings.emplace(s).first;
  }
  return &*it;
}

const std::vector<Name>* LevelNames::intern(std::vector<Name> names)
{
  // Never freed, like the strings: a database has one list, and chunks point to it.
  static std::mutex mutex;
  static auto* lists = new std::set<std::vector<Name>>;
  std::lock_guard lock(mutex);
  return &*lists->insert(std::move(names)).first;
}

LevelNames::LevelNames() : m_names(intern({})) {}

LevelNames::LevelNames(const std::vector<std::string>& names)
    : m_names(intern(std::vector<Name>(names.begin(), names.end())))
{
}

LevelNames::LevelNames(std::initializer_list<std::string_view> names)
    : m_names(intern(std::vector<Name>(names.begin(), names.end())))
{
}

namespace {

int hex_value(char c)
{
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

} // namespace

HashText::HashText(std::string_view s)
{
  if (s.size() == 64) {
    bool hex = true;
    for (std::size_t i = 0; i < 32 && hex; ++i) {
      const int hi = hex_value(s[2 * i]);
      const int lo = hex_value(s[2 * i + 1]);
      hex = hi >= 0 && lo >= 0;
      m_bytes[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
    if (hex) {
      m_is_text = false;
      return;
    }
  }
  set_text(Name::intern(s));
}

std::string HashText::str() const
{
  if (m_is_text) {
    return *text();
  }
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (std::size_t i = 0; i < 32; ++i) {
    out[2 * i] = k_digits[m_bytes[i] >> 4];
    out[2 * i + 1] = k_digits[m_bytes[i] & 15];
  }
  return out;
}

} // namespace clsync::core
