// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/sync/sync_state.hpp"

#include "core/error.hpp"
#include "core/json_names.hpp"
#include "core/json_number.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace clsync::core::sync {
namespace {

using nlohmann::json;

constexpr int k_version = 1;

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& why)
{
  throw Error(ExitCode::failed, "sync state " + file.string() + ": " + why,
              "move the file away to start over (the next round compares every chunk again)");
}

json replica_json(const SyncedReplica& r)
{
  json j{{"node", r.node}, {"fingerprint", r.fingerprint}};
  put_name(j, "volume", r.volume);
  return j;
}

json to_json(const SyncState& s)
{
  json chunks = json::array();
  for (const auto& [key, c] : s.chunks) {
    json j{{"a_node", c.a_node}, {"a_fingerprint", c.a_fingerprint},
           {"content_hash", c.content_hash}};
    put_name(j, "key", key);
    put_name(j, "a_volume", c.a_volume);
    j["b"] = json::array();
    for (const auto& r : c.b) {
      j["b"].push_back(replica_json(r));
    }
    chunks.push_back(std::move(j));
  }
  return {{"version", k_version}, {"from", s.from}, {"to", s.to},
          {"chunks", std::move(chunks)}};
}

std::string need_name(const json& j, const char* field)
{
  auto v = get_name(j, field);
  if (!v) {
    throw std::runtime_error(std::string("missing field ") + field);
  }
  return *v;
}

SyncState from_json(const json& doc)
{
  // Checked: value<int> would read a version of 2^32 + 1 as 1.
  if (json_number(doc, "version", 0) != k_version) {
    throw std::runtime_error("unknown version " + doc.value("version", json()).dump());
  }
  SyncState s;
  s.from = doc.at("from").get<std::string>();
  s.to = doc.at("to").get<std::string>();
  for (const auto& j : doc.at("chunks")) {
    SyncedChunk c;
    c.a_node = j.at("a_node").get<std::string>();
    c.a_volume = need_name(j, "a_volume");
    c.a_fingerprint = j.at("a_fingerprint").get<std::string>();
    c.content_hash = j.at("content_hash").get<std::string>();
    for (const auto& r : j.at("b")) {
      c.b.push_back({r.at("node").get<std::string>(), need_name(r, "volume"),
                     r.at("fingerprint").get<std::string>()});
    }
    s.chunks[need_name(j, "key")] = std::move(c);
  }
  return s;
}

void write_all(int fd, const std::string& text)
{
  std::size_t at = 0;
  while (at < text.size()) {
    const ssize_t n = ::write(fd, text.data() + at, text.size() - at);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw std::runtime_error(std::strerror(errno));
    }
    at += static_cast<std::size_t>(n);
  }
}

void fsync_dir(const std::filesystem::path& dir)
{
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) {
      ::close(fd);
    }
    throw std::runtime_error("fsync of " + dir.string() + ": " + std::strerror(err));
  }
  ::close(fd);
}

} // namespace

std::filesystem::path sync_state_path(const std::filesystem::path& state_dir,
                                      const std::string& from,
                                      const std::string& to)
{
  return state_dir / to / ("sync-" + from + ".json");
}

SyncState load_sync_state(const std::filesystem::path& file)
{
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) {
      return {};
    }
    fail(file, std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  try {
    return from_json(json::parse(text.str()));
  } catch (const std::exception& e) {
    fail(file, std::string("unreadable: ") + e.what());
  }
}

void save_sync_state(const std::filesystem::path& file, const SyncState& state)
{
  const std::filesystem::path tmp = file.string() + ".tmp";
  try {
    std::filesystem::create_directories(file.parent_path());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      throw std::runtime_error(std::strerror(errno));
    }
    try {
      write_all(fd, dump_json(to_json(state), 1) + "\n");
      if (::fsync(fd) != 0) {
        throw std::runtime_error(std::strerror(errno));
      }
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    std::filesystem::rename(tmp, file);
    fsync_dir(file.parent_path());
  } catch (const std::exception& e) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    fail(file, std::string("cannot write: ") + e.what());
  }
}

} // namespace clsync::core::sync
