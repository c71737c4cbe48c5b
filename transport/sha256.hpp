// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

/// Streaming SHA-256 (OpenSSL's SHA256_*). Every hash clsync prints or compares is lowercase hex.
namespace clsync::transport {

/// An incremental SHA-256. Not thread-safe; one per stream.
class Sha256 {
public:
  /// Throws std::runtime_error only if OpenSSL cannot set up a digest context.
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::span<const char> data);
  void update(std::string_view data) { update(std::span<const char>(data.data(), data.size())); }
  void update(const std::string& data) { update(std::string_view(data)); }
  /// The 32 raw digest bytes. The object is reset afterwards and may hash a new stream.
  std::string finish_raw();
  /// The digest as 64 lowercase hex characters; resets like finish_raw().
  std::string finish_hex();

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

/// Feeds `length` zero bytes to `h` in bounded blocks (a hole's bytes, never materialised
/// whole).
void update_zeros(Sha256& h, std::uint64_t length);

/// SHA-256 of `data`, hex.
std::string sha256_hex(std::string_view data);

/// Lowercase hex of raw bytes.
std::string to_hex(std::string_view raw);

/// Raw bytes of a 64-character hex digest; throws std::invalid_argument on anything else.
std::string from_hex_digest(std::string_view hex);

/// `s` with A–Z lowered (hex digests from elsewhere compare in lower case).
std::string ascii_lower(std::string s);

} // namespace clsync::transport
