// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <array>
#include <compare>
#include <cstring>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

/// Compact values for the inventory (issue 10: memory that does not grow with detail). A
/// million replicas repeat a few node names, volume paths, databases, tables and partition
/// values, and carry SHA-256 digests as 64 hex digits: these types store each repeated string
/// once and each digest as its 32 bytes, while reading like the std::string they replace.
namespace clsync::core {

/// An immutable string stored once per process (interned): copies are a pointer. For names that
/// repeat across replicas (nodes, volumes, databases, tables, levels, partition values); the
/// table only grows, so never use it for values unique per chunk. Thread-safe.
class Name {
public:
  Name() : m_s(empty_string()) {}
  Name(std::string_view s) : m_s(intern(s)) {}  // NOLINT: reads like the string it replaces
  Name(const std::string& s) : Name(std::string_view(s)) {}  // NOLINT
  Name(const char* s) : Name(std::string_view(s)) {}         // NOLINT

  const std::string& str() const { return *m_s; }
  operator const std::string&() const { return *m_s; }  // NOLINT
  operator std::string_view() const { return *m_s; }    // NOLINT
  const char* c_str() const { return m_s->c_str(); }
  const char* data() const { return m_s->data(); }
  std::size_t size() const { return m_s->size(); }
  bool empty() const { return m_s->empty(); }
  auto begin() const { return m_s->begin(); }
  auto end() const { return m_s->end(); }
  char front() const { return m_s->front(); }
  char back() const { return m_s->back(); }
  char operator[](std::size_t i) const { return (*m_s)[i]; }
  std::size_t find(std::string_view s, std::size_t pos = 0) const { return m_s->find(s, pos); }
  std::size_t find(char c, std::size_t pos = 0) const { return m_s->find(c, pos); }
  std::string substr(std::size_t pos, std::size_t n = std::string::npos) const
  {
    return m_s->substr(pos, n);
  }
  int compare(std::string_view s) const { return std::string_view(*m_s).compare(s); }

  friend bool operator==(const Name& a, const Name& b) { return a.m_s == b.m_s; }
  friend bool operator==(const Name& a, std::string_view b) { return *a.m_s == b; }
  friend bool operator==(const Name& a, const std::string& b) { return *a.m_s == b; }
  friend bool operator==(const Name& a, const char* b) { return *a.m_s == b; }
  friend std::strong_ordering operator<=>(const Name& a, const Name& b)
  {
    return a.m_s == b.m_s ? std::strong_ordering::equal : *a.m_s <=> *b.m_s;
  }
  friend std::strong_ordering operator<=>(const Name& a, std::string_view b)
  {
    return std::string_view(*a.m_s) <=> b;
  }
  friend std::strong_ordering operator<=>(const Name& a, const std::string& b)
  {
    return std::string_view(*a.m_s) <=> std::string_view(b);
  }
  friend std::strong_ordering operator<=>(const Name& a, const char* b)
  {
    return std::string_view(*a.m_s) <=> std::string_view(b);
  }
  friend std::string operator+(const Name& a, std::string_view b) { return *a.m_s + std::string(b); }
  friend std::string operator+(const Name& a, const std::string& b) { return *a.m_s + b; }
  friend std::string operator+(const Name& a, const char* b) { return *a.m_s + b; }
  friend std::string operator+(const Name& a, char b) { return *a.m_s + b; }
  friend std::string operator+(const std::string& a, const Name& b) { return a + *b.m_s; }
  friend std::string operator+(std::string&& a, const Name& b) { return std::move(a) + *b.m_s; }
  friend std::string operator+(const char* a, const Name& b) { return a + *b.m_s; }
  friend std::string operator+(char a, const Name& b) { return a + *b.m_s; }
  friend std::string operator+(const Name& a, const Name& b) { return *a.m_s + *b.m_s; }
  friend std::ostream& operator<<(std::ostream& os, const Name& n) { return os << *n.m_s; }

  /// The interned copy of `s`: one address per distinct value, valid for the process's life.
  static const std::string* intern(std::string_view s);
  /// The interned empty string (no lock taken).
  static const std::string* empty_string();

private:
  const std::string* m_s;
};

/// A hex digest (SHA-256 as 64 lowercase hex digits) kept as its 32 bytes; any other text (an
/// empty value, a test's label) is kept as an interned Name, its pointer in the same bytes.
/// 33 bytes, aligned to 1: three of them in a Replica cost 99 bytes. Reads as the text it was
/// given.
class HashText {
public:
  HashText() { set_text(Name::empty_string()); }
  HashText(std::string_view s);                                       // NOLINT
  HashText(const std::string& s) : HashText(std::string_view(s)) {}   // NOLINT
  HashText(const char* s) : HashText(std::string_view(s)) {}          // NOLINT

  /// The text, as given.
  std::string str() const;
  operator std::string() const { return str(); }  // NOLINT
  bool empty() const { return m_is_text && text()->empty(); }
  std::size_t size() const { return m_is_text ? text()->size() : 64; }

  friend bool operator==(const HashText& a, const HashText& b)
  {
    // Interned texts compare by address (in the bytes); digests by their bytes.
    return a.m_is_text == b.m_is_text && a.m_bytes == b.m_bytes;
  }
  friend bool operator==(const HashText& a, std::string_view b) { return a == HashText(b); }
  friend bool operator==(const HashText& a, const std::string& b) { return a == HashText(b); }
  friend bool operator==(const HashText& a, const char* b) { return a == HashText(b); }
  friend std::string operator+(const HashText& a, const std::string& b) { return a.str() + b; }
  friend std::string operator+(const std::string& a, const HashText& b) { return a + b.str(); }
  friend std::string operator+(const char* a, const HashText& b) { return a + b.str(); }
  friend std::string operator+(const HashText& a, const char* b) { return a.str() + b; }
  friend std::ostream& operator<<(std::ostream& os, const HashText& h) { return os << h.str(); }

private:
  const std::string* text() const
  {
    const std::string* t = nullptr;
    std::memcpy(&t, m_bytes.data(), sizeof t);
    return t;
  }
  void set_text(const std::string* t)
  {
    m_bytes = {};
    std::memcpy(m_bytes.data(), &t, sizeof t);
    m_is_text = true;
  }
  /// The digest, or (m_is_text) the interned text's address followed by zeros.
  std::array<unsigned char, 32> m_bytes{};
  bool m_is_text = true;
};
static_assert(sizeof(HashText) == 33);

/// A HashText most replicas lack (content hashes: only --verify computes them): 8 bytes when
/// empty, where a HashText costs 33. Reads like the HashText it holds; copies are deep.
class RareHash {
public:
  RareHash() = default;
  RareHash(const HashText& h) { assign(h); }                         // NOLINT
  RareHash(std::string_view s) : RareHash(HashText(s)) {}             // NOLINT
  RareHash(const std::string& s) : RareHash(HashText(s)) {}           // NOLINT
  RareHash(const char* s) : RareHash(HashText(s)) {}                  // NOLINT
  RareHash(const RareHash& o) { if (o.m_h) { m_h = std::make_unique<HashText>(*o.m_h); } }
  RareHash(RareHash&&) noexcept = default;
  RareHash& operator=(const RareHash& o) { if (this != &o) { RareHash(o).swap(*this); } return *this; }
  RareHash& operator=(RareHash&&) noexcept = default;

  std::string str() const { return m_h ? m_h->str() : std::string(); }
  operator std::string() const { return str(); }  // NOLINT
  bool empty() const { return !m_h; }
  std::size_t size() const { return m_h ? m_h->size() : 0; }
  void swap(RareHash& o) noexcept { m_h.swap(o.m_h); }

  friend bool operator==(const RareHash& a, const RareHash& b)
  {
    return a.empty() ? b.empty() : !b.empty() && *a.m_h == *b.m_h;
  }
  friend bool operator==(const RareHash& a, std::string_view b) { return a == RareHash(b); }
  friend bool operator==(const RareHash& a, const std::string& b) { return a == RareHash(b); }
  friend bool operator==(const RareHash& a, const char* b) { return a == RareHash(b); }
  friend std::string operator+(const RareHash& a, const std::string& b) { return a.str() + b; }
  friend std::string operator+(const std::string& a, const RareHash& b) { return a + b.str(); }
  friend std::string operator+(const char* a, const RareHash& b) { return a + b.str(); }
  friend std::string operator+(const RareHash& a, const char* b) { return a.str() + b; }
  friend std::ostream& operator<<(std::ostream& os, const RareHash& h) { return os << h.str(); }

private:
  void assign(const HashText& h)
  {
    if (!h.empty()) {
      m_h = std::make_unique<HashText>(h);
    }
  }
  std::unique_ptr<HashText> m_h;
};

/// A count that may be unknown (bytes on disk, when the scan reported them), in 8 bytes where
/// std::optional<std::uint64_t> costs 16: the all-ones value means unknown (no file system
/// holds 2^64 - 1 bytes). Reads like the std::optional it replaces.
class OptionalCount {
public:
  OptionalCount() = default;
  OptionalCount(std::uint64_t v) : m_v(v) {}  // NOLINT
  OptionalCount(std::nullopt_t) {}            // NOLINT
  OptionalCount(const std::optional<std::uint64_t>& v) : m_v(v.value_or(k_unknown)) {}  // NOLINT

  bool has_value() const { return m_v != k_unknown; }
  explicit operator bool() const { return has_value(); }
  std::uint64_t operator*() const { return m_v; }
  std::uint64_t value_or(std::uint64_t other) const { return has_value() ? m_v : other; }
  operator std::optional<std::uint64_t>() const  // NOLINT
  {
    return has_value() ? std::optional<std::uint64_t>(m_v) : std::nullopt;
  }
  friend bool operator==(const OptionalCount& a, const OptionalCount& b) = default;
  friend bool operator==(const OptionalCount& a, std::uint64_t b) { return a.has_value() && a.m_v == b; }

private:
  static constexpr std::uint64_t k_unknown = ~std::uint64_t{0};
  std::uint64_t m_v = k_unknown;
};

/// A value most replicas lack (special files, file lists): 8 bytes when empty, the vector
/// itself when not. Reads like the std::vector it holds; copies are deep.
template <typename T>
class Rare {
public:
  using value_type = T;
  Rare() = default;
  Rare(std::vector<T> v) { assign(std::move(v)); }  // NOLINT
  Rare(std::initializer_list<T> v) { assign(std::vector<T>(v)); }
  Rare(const Rare& o) { if (o.m_v) { m_v = std::make_unique<std::vector<T>>(*o.m_v); } }
  Rare(Rare&&) noexcept = default;
  Rare& operator=(const Rare& o) { if (this != &o) { Rare(o).swap(*this); } return *this; }
  Rare& operator=(Rare&&) noexcept = default;
  Rare& operator=(std::vector<T> v) { assign(std::move(v)); return *this; }
  Rare& operator=(std::initializer_list<T> v) { assign(std::vector<T>(v)); return *this; }

  bool empty() const { return !m_v || m_v->empty(); }
  std::size_t size() const { return m_v ? m_v->size() : 0; }
  const T& front() const { return m_v->front(); }
  const T& operator[](std::size_t i) const { return (*m_v)[i]; }
  T& operator[](std::size_t i) { return (*m_v)[i]; }
  const T* begin() const { return m_v ? m_v->data() : nullptr; }
  const T* end() const { return m_v ? m_v->data() + m_v->size() : nullptr; }
  void push_back(T v) { vec().push_back(std::move(v)); }
  void clear() { m_v.reset(); }
  /// The vector (empty when there is none).
  std::vector<T> to_vector() const { return m_v ? *m_v : std::vector<T>{}; }
  operator std::vector<T>() const { return to_vector(); }  // NOLINT
  friend bool operator==(const Rare& a, const Rare& b)
  {
    return a.empty() ? b.empty() : !b.empty() && *a.m_v == *b.m_v;
  }
  void swap(Rare& o) noexcept { m_v.swap(o.m_v); }

private:
  std::vector<T>& vec()
  {
    if (!m_v) {
      m_v = std::make_unique<std::vector<T>>();
    }
    return *m_v;
  }
  void assign(std::vector<T> v)
  {
    if (v.empty()) {
      m_v.reset();
    } else {
      v.shrink_to_fit();
      m_v = std::make_unique<std::vector<T>>(std::move(v));
    }
  }
  std::unique_ptr<std::vector<T>> m_v;
};

/// The level names of a database's partitions ("date", "hash"), interned as a list: every chunk
/// of a database shares one, 8 bytes a chunk. Reads like the std::vector<Name> it points to.
class LevelNames {
public:
  LevelNames();
  LevelNames(const std::vector<std::string>& names);     // NOLINT
  LevelNames(std::initializer_list<std::string_view> names);

  std::size_t size() const { return m_names->size(); }
  bool empty() const { return m_names->empty(); }
  const Name& operator[](std::size_t i) const { return (*m_names)[i]; }
  auto begin() const { return m_names->begin(); }
  auto end() const { return m_names->end(); }
  friend bool operator==(const LevelNames& a, const LevelNames& b) { return a.m_names == b.m_names; }

private:
  static const std::vector<Name>* intern(std::vector<Name> names);
  const std::vector<Name>* m_names;
};

/// JSON (nlohmann, found by ADL): a Name or a HashText is written as its text.
template <typename Json>
void to_json(Json& j, const Name& n)
{
  j = n.str();
}
template <typename Json>
void to_json(Json& j, const HashText& h)
{
  j = h.str();
}
template <typename Json>
void to_json(Json& j, const RareHash& h)
{
  j = h.str();
}

} // namespace clsync::core

template <>
struct std::hash<clsync::core::Name> {
  std::size_t operator()(const clsync::core::Name& n) const noexcept
  {
    return std::hash<std::string_view>{}(n.str());
  }
};
