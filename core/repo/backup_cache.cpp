// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/backup_cache.hpp"

#include "core/json_names.hpp"
#include "transport/sha256.hpp"

#include <nlohmann/json.hpp>

#include <functional>

namespace clsync::core::repo {
namespace {

constexpr std::size_t k_max_line = 64 * 1024;

/// Splits a streamed file into lines; a line longer than k_max_line is dropped (counted).
class LineSink final : public transport::ByteSink {
public:
  explicit LineSink(std::function<void(const std::string&)> on_line) : m_on_line(std::move(on_line)) {}
  void write(std::span<const char> data) override
  {
    for (char c : data) {
      if (c == '\n') {
        flush();
        continue;
      }
      if (m_line.size() < k_max_line) {
        m_line.push_back(c);
      } else {
        m_too_long = true;
      }
    }
  }
  void flush()
  {
    if (m_too_long) {
      ++too_long;
    } else if (!m_line.empty()) {
      m_on_line(m_line);
    }
    m_line.clear();
    m_too_long = false;
  }
  std::size_t too_long = 0;

private:
  std::function<void(const std::string&)> m_on_line;
  std::string m_line;
  bool m_too_long = false;
};

bool plain_name(const std::string& s)
{
  if (s.empty() || s.size() > 100 || s.front() == '.') {
    return false;
  }
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

} // namespace

BackupCache::BackupCache(BackupCache&& other) noexcept
    : m_cluster(std::move(other.m_cluster)), m_entries(std::move(other.m_entries)),
      m_objects(std::move(other.m_objects)), m_ignored(other.m_ignored)
{
}

std::string BackupCache::path_for(const std::string& cluster)
{
  return "cache/" + (plain_name(cluster) ? cluster : "h-" + transport::sha256_hex(cluster).substr(0, 16)) +
         ".jsonl";
}

BackupCache BackupCache::load(const Repository& repo, const std::string& cluster)
{
  BackupCache cache;
  cache.m_cluster = cluster;
  for (auto& [hash, size] : repo.list_objects()) {
    cache.m_objects.insert(hash);
  }
  LineSink sink([&cache](const std::string& line) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    auto node = j.is_object() ? get_name(j, "node") : std::nullopt;
    auto volume = j.is_object() ? get_name(j, "volume") : std::nullopt;
    auto key = j.is_object() ? get_name(j, "key") : std::nullopt;
    const bool strings = j.is_object() && j.contains("fingerprint") &&
                         j["fingerprint"].is_string() && j.contains("content_hash") &&
                         j["content_hash"].is_string();
    if (!node || !volume || !key || !strings ||
        !is_sha256_hex(j["content_hash"].get<std::string>())) {
      ++cache.m_ignored;
      return;
    }
    cache.m_entries[{*node, *volume, *key, j["fingerprint"].get<std::string>()}] =
        j["content_hash"].get<std::string>();
  });
  try {
    repo.node().read_file(repo.root(), path_for(cluster), 0, sink);
  } catch (const transport::TransportError& e) {
    if (e.kind() != transport::FailureKind::not_found) {
      throw;
    }
  }
  sink.flush();
  cache.m_ignored += sink.too_long;
  return cache;
}

std::optional<std::string> BackupCache::lookup(const std::string& node,
                                               const std::string& volume,
                                               const std::string& key,
                                               const std::string& fingerprint) const
{
  if (fingerprint.empty()) {
    return std::nullopt;
  }
  std::lock_guard lock(m_mutex);
  auto it = m_entries.find({node, volume, key, fingerprint});
  if (it == m_entries.end() || m_objects.count(it->second) == 0) {
    return std::nullopt;
  }
  return it->second;
}

void BackupCache::insert(const std::string& node,
                         const std::string& volume,
                         const std::string& key,
                         const std::string& fingerprint,
                         const std::string& content_hash)
{
  if (fingerprint.empty() || !is_sha256_hex(content_hash)) {
    return;
  }
  std::lock_guard lock(m_mutex);
  m_entries[{node, volume, key, fingerprint}] = content_hash;
  m_objects.insert(content_hash);
}

bool BackupCache::has_object(const std::string& content_hash) const
{
  std::lock_guard lock(m_mutex);
  return m_objects.count(content_hash) != 0;
}

void BackupCache::object_added(const std::string& content_hash)
{
  std::lock_guard lock(m_mutex);
  m_objects.insert(content_hash);
}

std::size_t BackupCache::size() const
{
  std::lock_guard lock(m_mutex);
  return m_entries.size();
}

void BackupCache::save(const Repository& repo) const
{
  std::lock_guard lock(m_mutex);
  auto w = repo.node().create_file(repo.root(), path_for(m_cluster),
                                   transport::FileDurability::durable);
  std::string buf;
  for (const auto& [k, hash] : m_entries) {
    if (m_objects.count(hash) == 0) {
      continue;  // its object went (prune): the entry would never be trusted again
    }
    nlohmann::json j = nlohmann::json::object();
    put_name(j, "node", std::get<0>(k));
    put_name(j, "volume", std::get<1>(k));
    put_name(j, "key", std::get<2>(k));
    j["fingerprint"] = lossy_utf8(std::get<3>(k));
    j["content_hash"] = hash;
    buf += j.dump();
    buf += '\n';
    if (buf.size() >= (1u << 20)) {
      w->write(std::span<const char>(buf.data(), buf.size()));
      buf.clear();
    }
  }
  w->write(std::span<const char>(buf.data(), buf.size()));
  w->commit();
}

} // namespace clsync::core::repo
