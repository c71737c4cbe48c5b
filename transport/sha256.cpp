// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/sha256.hpp"

#include <algorithm>

// The low-level SHA-256 (deprecated in OpenSSL 3, still provided): the EVP interface loads
// and searches the default provider on every init, which costs about 2 MiB of resident pages
// at the first hash (issue 10: memory) and a fetch per chunk. Same code and speed for the
// bytes themselves (the EVP provider calls these very functions).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <stdexcept>

namespace clsync::transport {

struct Sha256::Impl {
  SHA256_CTX ctx;
};

Sha256::Sha256() : m_impl(std::make_unique<Impl>())
{
  if (SHA256_Init(&m_impl->ctx) != 1) {
    throw std::runtime_error("cannot set up a SHA-256 context");
  }
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(std::span<const char> data)
{
  if (!data.empty()) {
    SHA256_Update(&m_impl->ctx, data.data(), data.size());
  }
}

std::string Sha256::finish_raw()
{
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_Final(md, &m_impl->ctx);
  SHA256_Init(&m_impl->ctx);
  return std::string(reinterpret_cast<const char*>(md), sizeof md);
}

std::string Sha256::finish_hex() { return to_hex(finish_raw()); }

void update_zeros(Sha256& h, std::uint64_t length)
{
  static const std::string k_zeros(256 * 1024, '\0');
  while (length > 0) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(length, k_zeros.size()));
    h.update(std::string_view(k_zeros.data(), n));
    length -= n;
  }
}

std::string sha256_hex(std::string_view data)
{
  Sha256 h;
  h.update(data);
  return h.finish_hex();
}

std::string to_hex(std::string_view raw)
{
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out += k_digits[c >> 4];
    out += k_digits[c & 0xf];
  }
  return out;
}

std::string from_hex_digest(std::string_view hex)
{
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  if (hex.size() != 64) {
    throw std::invalid_argument("not a SHA-256 hex digest: '" + std::string(hex) + "'");
  }
  std::string raw(32, '\0');
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = value(hex[2 * i]);
    int lo = value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      throw std::invalid_argument("not a SHA-256 hex digest: '" + std::string(hex) + "'");
    }
    raw[i] = static_cast<char>(hi * 16 + lo);
  }
  return raw;
}

std::string ascii_lower(std::string s)
{
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return s;
}

} // namespace clsync::transport
