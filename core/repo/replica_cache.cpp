// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/replica_cache.hpp"

#include "transport/sha256.hpp"

#include <cctype>

namespace clsync::core::repo {
namespace {

/// A file name for the replica: the hash of its identity (names are bytes, any length).
std::string entry_path(const std::string& node, const std::string& volume, const std::string& key)
{
  std::string id = node;
  id.push_back('\0');
  id += volume;
  id.push_back('\0');
  id += key;
  const std::string h = transport::sha256_hex(id);
  return "cache/replicas/" + h.substr(0, 2) + "/" + h;
}

struct SmallSink : transport::ByteSink {
  std::string text;
  void write(std::span<const char> data) override
  {
    if (text.size() + data.size() > 4096) {
      throw std::runtime_error("cache entry too large");
    }
    text.append(data.data(), data.size());
  }
};

bool is_hex64(const std::string& s)
{
  if (s.size() != 64) {
    return false;
  }
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

} // namespace

std::optional<std::string> cached_content(const Repository& repo,
                                          const std::string& node,
                                          const std::string& volume,
                                          const std::string& key,
                                          const std::string& fingerprint)
{
  SmallSink sink;
  try {
    repo.node().read_file(repo.root(), entry_path(node, volume, key), 0, sink);
  } catch (...) {
    return std::nullopt;
  }
  // "clsync-cache1 <fingerprint> <content hash>\n"
  const std::string want = "clsync-cache1 " + fingerprint + " ";
  if (sink.text.rfind(want, 0) != 0 || sink.text.size() != want.size() + 65 ||
      sink.text.back() != '\n') {
    return std::nullopt;
  }
  std::string hash = sink.text.substr(want.size(), 64);
  if (!is_hex64(hash)) {
    return std::nullopt;
  }
  return hash;
}

void remember_content(const Repository& repo,
                      const std::string& node,
                      const std::string& volume,
                      const std::string& key,
                      const std::string& fingerprint,
                      const std::string& content_hash)
{
  const std::string text = "clsync-cache1 " + fingerprint + " " + content_hash + "\n";
  auto w = repo.node().create_file(repo.root(), entry_path(node, volume, key));
  try {
    w->write(std::span<const char>(text.data(), text.size()));
    w->commit();
  } catch (...) {
    w->abort();
    throw;
  }
}

} // namespace clsync::core::repo
