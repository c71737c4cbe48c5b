// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// The volume leases (SPEC §5): `.clsync-lease` at each volume root, and fencing.
#include "transport/local_node.hpp"
#include "transport/wire_number.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <stdexcept>
#include <string_view>
#include <vector>
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace clsync::transport {
namespace {

std::atomic<unsigned> g_lease_part_counter{0};

/// Holds flock(2) on a volume root while a lease is read and changed, so two clsync runs
/// (two agents on one node) never interleave their read-modify-write of the lease file.
struct LeaseLock {
  LeaseLock(int fd, int op) : fd(fd) { while (::flock(fd, op) != 0 && errno == EINTR) {} }
  ~LeaseLock() { ::flock(fd, LOCK_UN); }
  int fd;
};

std::string encode(const LeaseInfo& l)
{
  nlohmann::json j = {{"host", l.host},           {"pid", l.pid},
                      {"run_id", l.run_id},       {"command", l.command},
                      {"started", l.started_unix}, {"heartbeat", l.heartbeat_unix},
                      {"ttl", l.ttl_s},           {"machine_id", l.machine_id},
                      {"boot_id", l.boot_id},     {"pid_start", l.pid_start}};
  return j.dump() + "\n";
}

/// A number field of a lease file, 0 when absent. A lease is data on a volume that anything
/// may have written: a float or a number out of T's range (1e300 as a heartbeat, 2^64-1 as a
/// pid) throws rather than being converted (undefined) or wrapped.
template <class T> T lease_number(const nlohmann::json& j, const char* key)
{
  auto it = j.find(key);
  if (it == j.end()) {
    return T{};
  }
  T v{};
  if (!wire::wire_value(*it, v)) {
    throw std::range_error(std::string("lease field ") + key + " is not a number in range");
  }
  return v;
}

std::optional<LeaseInfo> read_lease_at(int rootfd)
{
  UniqueFd fd(::openat(rootfd, k_lease_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    return std::nullopt;
  }
  struct stat st {};
  ::fstat(fd.get(), &st);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && text.size() < 65536) {
    text.append(buf, static_cast<std::size_t>(n));
  }
  LeaseInfo l;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object()) {
    // A field of another type makes the lease unreadable (aged by its mtime), not an error.
    try {
      l.host = j.value("host", "");
      l.pid = lease_number<std::int64_t>(j, "pid");
      l.run_id = j.value("run_id", "");
      l.command = j.value("command", "");
      l.started_unix = lease_number<std::int64_t>(j, "started");
      l.heartbeat_unix = lease_number<std::int64_t>(j, "heartbeat");
      l.ttl_s = lease_number<std::int64_t>(j, "ttl");
      l.machine_id = j.value("machine_id", "");
      l.boot_id = j.value("boot_id", "");
      l.pid_start = lease_number<std::uint64_t>(j, "pid_start");
    } catch (const std::exception&) {
      l = LeaseInfo{};
    }
  }
  if (l.heartbeat_unix == 0) {
    l.heartbeat_unix = st.st_mtim.tv_sec;  // unreadable content: the file's own age counts
  }
  l.age_seconds = static_cast<std::int64_t>(std::time(nullptr)) - l.heartbeat_unix;
  return l;
}

/// Writes `next` as the lease: the full record goes to a temp name first, so no reader ever sees
/// a half-written lease; then it replaces the lease (`replace`) or is linked in exclusively —
/// link(2) fails with EEXIST like O_EXCL, but with the content already in place.
/// Returns 0 or errno.
int put_lease(int rootfd, const LeaseInfo& next, bool replace)
{
  std::string part;
  UniqueFd fd;
  // A temp of this name may be left by an earlier process that had our pid: take the next name
  // (EEXIST here must never read as "the lease is held").
  for (int tries = 0; !fd && tries < 100; ++tries) {
    part = ".clsync-part-lease-" + std::to_string(::getpid()) + "-" +
           std::to_string(g_lease_part_counter++);
    fd = UniqueFd(::openat(rootfd, part.c_str(),
                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd && errno != EEXIST) {
      return errno;
    }
  }
  if (!fd) {
    return EEXIST;
  }
  std::string text = encode(next);
  int rc = write_all(fd.get(), std::span<const char>(text.data(), text.size()));
  if (rc == 0) {
    rc = sync_fd(fd.get());
  }
  if (rc == 0) {
    int ok = replace ? ::renameat(rootfd, part.c_str(), rootfd, k_lease_name)
                     : ::linkat(rootfd, part.c_str(), rootfd, k_lease_name, 0);
    if (ok != 0) {
      rc = errno;
    }
  }
  ::unlinkat(rootfd, part.c_str(), 0);
  if (rc == 0) {
    sync_fd(rootfd);
  }
  return rc;
}

std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string holder_text(const LeaseInfo& l)
{
  return "run " + l.run_id + " (" + l.command + " on " + l.host + ", pid " +
         std::to_string(l.pid) + ")";
}

} // namespace

LeaseResult LocalNode::acquire_lease(const std::string& volume,
                                     const LeaseInfo& mine,
                                     const std::string& replace_run_id)
{
  UniqueFd root = open_volume(volume);
  LeaseLock lock(root.get(), LOCK_EX);
  remove_dead_parts(root.get(), DeadParts::leases_and_holds);
  std::string lease_path = join_path(root_of(volume), k_lease_name);

  LeaseInfo next = mine;
  std::int64_t now = now_unix();
  next.heartbeat_unix = now;  // the node's clock, so ages never depend on clock skew
  if (next.started_unix == 0) {
    next.started_unix = now;
  }
  std::optional<LeaseInfo> current = read_lease_at(root.get());
  if (current && current->run_id != mine.run_id &&
      (replace_run_id.empty() || current->run_id != replace_run_id)) {
    return {false, current};
  }

  int rc = put_lease(root.get(), next, current.has_value());
  if (rc == EEXIST) {
    return {false, read_lease_at(root.get())};
  }
  if (rc != 0) {
    throw_errno(describe(), "write lease", lease_path, rc);
  }
  return {true, std::nullopt};
}

void LocalNode::refresh_lease(const std::string& volume, const LeaseInfo& mine)
{
  UniqueFd root = open_volume(volume);
  std::string lease_path = join_path(root_of(volume), k_lease_name);
  LeaseLock lock(root.get(), LOCK_EX);
  remove_dead_parts(root.get(), DeadParts::leases_and_holds);
  std::optional<LeaseInfo> current = read_lease_at(root.get());
  if (!current) {
    throw TransportError(FailureKind::not_found,
                         describe() + ": lease " + lease_path + " is gone (run " + mine.run_id + ")");
  }
  if (current->run_id != mine.run_id) {
    throw TransportError(FailureKind::refused, describe() + ": lease " + lease_path +
                                                   " is now held by " + holder_text(*current));
  }
  LeaseInfo next = *current;
  next.heartbeat_unix = now_unix();
  if (int rc = put_lease(root.get(), next, true); rc != 0) {
    throw_errno(describe(), "refresh lease", lease_path, rc);
  }
}

void LocalNode::release_lease(const std::string& volume, const std::string& run_id, bool force)
{
  UniqueFd root = open_volume(volume);
  LeaseLock lock(root.get(), LOCK_EX);
  remove_dead_parts(root.get(), DeadParts::leases_and_holds);
  std::optional<LeaseInfo> current = read_lease_at(root.get());
  if (!current || (!force && current->run_id != run_id)) {
    return;
  }
  if (::unlinkat(root.get(), k_lease_name, 0) != 0 && errno != ENOENT) {
    throw_errno(describe(), "remove lease", join_path(root_of(volume), k_lease_name), errno);
  }
  sync_fd(root.get());
}

std::optional<LeaseInfo> LocalNode::read_lease(const std::string& volume)
{
  UniqueFd root = open_volume(volume);
  LeaseLock lock(root.get(), LOCK_SH);
  return read_lease_at(root.get());
}

void LocalNode::set_fence(const std::string& run_id)
{
  std::lock_guard lock(m_fence_mutex);
  m_fence = run_id;
}

UniqueFd LocalNode::check_fence(const std::string& volume) const
{
  std::string fence;
  {
    std::lock_guard lock(m_fence_mutex);
    fence = m_fence;
  }
  if (fence.empty()) {
    return {};
  }
  UniqueFd root = open_volume(volume);
  while (::flock(root.get(), LOCK_SH) != 0 && errno == EINTR) {
  }
  std::optional<LeaseInfo> current = read_lease_at(root.get());
  if (!current || current->run_id != fence) {
    throw TransportError(FailureKind::refused,
                         describe() + ": refused: run " + fence + " does not hold the lease of " +
                             root_of(volume) + " (" +
                             (current ? "it is held by " + holder_text(*current)
                                      : std::string("its lease is gone")) +
                             "); another run may be writing there");
  }
  return root;  // closing it drops the shared lock
}

} // namespace clsync::transport
