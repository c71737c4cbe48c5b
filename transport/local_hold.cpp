// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Removal holds and chunk location of the local node (the executor's re-count, SPEC §5).
#include "transport/host_identity.hpp"
#include "transport/local_node.hpp"
#include "transport/safe_path.hpp"
#include "transport/sha256.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace clsync::transport {
namespace {

constexpr std::size_t k_max_hold_bytes = 64 * 1024;
std::atomic<unsigned> g_hold_counter{0};

std::string hold_id(const std::string& key)
{
  return sha256_hex(key).substr(0, 32);
}

/// Reads a hold's record; "" with `exists == false` when there is none.
std::string read_hold(int rootfd, const std::string& name, bool& exists)
{
  exists = false;
  UniqueFd fd(::openat(rootfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    return {};
  }
  exists = true;
  std::string content;
  char buf[4096];
  ssize_t n = 0;
  while (content.size() < k_max_hold_bytes && (n = ::read(fd.get(), buf, sizeof buf)) > 0) {
    content.append(buf, static_cast<std::size_t>(n));
  }
  return content;
}

} // namespace

bool hold_outlives_crash(const std::string& record)
{
  const auto j = nlohmann::json::parse(record, nullptr, false);
  if (!j.is_object()) {
    return true;
  }
  auto text = [&j](const char* field) {
    const auto it = j.find(field);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const HostIdentity& me = this_host_identity();
  // "host:<name>" is the fallback of a machine without a machine id: names are shared by
  // clones, so it proves nothing.
  const bool here = !me.machine_id.empty() && me.machine_id.rfind("host:", 0) != 0 &&
                    !me.boot_id.empty() && text("machine") == me.machine_id &&
                    text("boot") == me.boot_id;
  return !here;
}

std::string hold_name(const std::string& key)
{
  return ".clsync-hold-" + hold_id(key);
}

std::vector<ChunkLocation> LocalNode::locate_chunk(const std::string& key)
{
  std::vector<ChunkLocation> found;
  for (const std::string& root : roots()) {
    std::string fp;
    try {
      fp = fingerprint(root, key);
    } catch (const TransportError& e) {
      if (e.kind() == FailureKind::refused) {
        throw;
      }
      continue; // an unreadable volume holds nothing we could count
    }
    if (!fp.empty()) {
      found.push_back({root, fp});
    }
  }
  return found;
}

std::string
LocalNode::place_hold(const std::string& volume, const std::string& key, const std::string& record)
{
  check_relative(key, true, volume);
  UniqueFd root = open_volume(volume);
  const std::string name = hold_name(key);
  const std::string display = join_path(root_of(volume), name);
  sweep_dead_hold_parts(volume, root.get());
  // Written under a part name then linked in: link(2) fails with EEXIST like O_EXCL, and no
  // reader ever sees a half-written record. The part name is one recovery removes as an
  // intent's part ("hold<id>-<pid>-<n>" is a valid task id).
  const std::string part = ".clsync-part-intent-hold" + hold_id(key) + "-" +
                           std::to_string(::getpid()) + "-" + std::to_string(++g_hold_counter);
  UniqueFd fd(::openat(root.get(), part.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) {
    throw_errno(describe(), "create hold", display, errno);
  }
  int rc = write_all(fd.get(), std::span<const char>(record.data(), record.size()));
  if (rc == 0) {
    rc = sync_fd(fd.get());
  }
  fd.reset();
  bool placed = false;
  if (rc == 0) {
    if (::linkat(root.get(), part.c_str(), root.get(), name.c_str(), 0) == 0) {
      placed = true;
    } else if (errno != EEXIST) {
      rc = errno;
    }
  }
  ::unlinkat(root.get(), part.c_str(), 0);
  if (rc != 0) {
    throw_errno(describe(), "place hold", display, rc);
  }
  // The record was synced before the link above: a hold that a crash leaves is never empty.
  if (int e = hold_outlives_crash(record) ? sync_fd(root.get()) : 0; e != 0) {
    throw_errno(describe(), "sync volume", root_of(volume), e);
  }
  if (placed) {
    return {};
  }
  bool exists = false;
  std::string theirs = read_hold(root.get(), name, exists);
  if (!exists) {
    // Released between our link and the read: report it as held; the caller may try later.
    return R"({"note":"a hold that was just released"})";
  }
  return theirs == record ? std::string() : (theirs.empty() ? std::string("{}") : theirs);
}

void LocalNode::sweep_dead_hold_parts(const std::string& volume, int rootfd)
{
  // An agent killed inside place_hold (its connection lost mid-run) leaves its part; the run
  // retries on a new agent and may finish without another recovery. The new process's first
  // hold on the volume takes the dead part, so a run that succeeds leaves none behind.
  {
    std::lock_guard lock(m_swept_mutex);
    if (!m_swept_holds.insert(volume).second) {
      return;
    }
  }
  remove_dead_parts(rootfd, DeadParts::holds);
}

void LocalNode::release_hold(const std::string& volume,
                             const std::string& key,
                             const std::string& record)
{
  check_relative(key, true, volume);
  UniqueFd root = open_volume(volume);
  const std::string name = hold_name(key);
  bool exists = false;
  if (read_hold(root.get(), name, exists) != record || !exists) {
    return;
  }
  if (::unlinkat(root.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
    throw_errno(describe(), "remove hold", join_path(root_of(volume), name), errno);
  }
  if (int e = hold_outlives_crash(record) ? sync_fd(root.get()) : 0; e != 0) {
    throw_errno(describe(), "sync volume", root_of(volume), e);
  }
}

} // namespace clsync::transport
