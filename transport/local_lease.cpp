// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// The node lease (SPEC §5): `.clsync-lease` on the first volume.
#include "transport/local_node.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace clsync::transport {
namespace {

std::atomic<unsigned> g_part_counter{0};

/// Holds flock(2) on the first volume while a lease is read and changed, so two clsync runs
/// (two agents on one node) never interleave their read-modify-write of the lease file.
struct LeaseLock {
  LeaseLock(int fd, int op) : fd(fd) { while (::flock(fd, op) != 0 && errno == EINTR) {} }
  ~LeaseLock() { ::flock(fd, LOCK_UN); }
  int fd;
};

std::string encode(const LeaseInfo& l)
{
  nlohmann::json j = {{"host", l.host},         {"pid", l.pid},
                      {"run_id", l.run_id},     {"command", l.command},
                      {"started", l.started_unix}, {"heartbeat", l.heartbeat_unix}};
  return j.dump() + "\n";
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
    l.host = j.value("host", "");
    l.pid = j.value("pid", std::int64_t{0});
    l.run_id = j.value("run_id", "");
    l.command = j.value("command", "");
    l.started_unix = j.value("started", std::int64_t{0});
    l.heartbeat_unix = j.value("heartbeat", std::int64_t{0});
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
  std::string part = ".clsync-part-lease-" + std::to_string(::getpid()) + "-" +
                     std::to_string(g_part_counter++);
  std::string text = encode(next);
  UniqueFd fd(::openat(rootfd, part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       0644));
  if (!fd) {
    return errno;
  }
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

} // namespace

LeaseResult LocalNode::acquire_lease(const LeaseInfo& mine, const std::string& replace_run_id)
{
  if (roots().empty()) {
    throw TransportError(FailureKind::refused, describe() + ": has no volume to hold a lease");
  }
  UniqueFd root = open_volume(roots().front());
  LeaseLock lock(root.get(), LOCK_EX);
  std::string lease_path = join_path(roots().front(), k_lease_name);

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

void LocalNode::refresh_lease(const LeaseInfo& mine)
{
  if (roots().empty()) {
    throw TransportError(FailureKind::refused, describe() + ": has no volume to hold a lease");
  }
  std::string lease_path = join_path(roots().front(), k_lease_name);
  UniqueFd root = open_volume(roots().front());
  LeaseLock lock(root.get(), LOCK_EX);
  std::optional<LeaseInfo> current = read_lease_at(root.get());
  if (!current) {
    throw TransportError(FailureKind::not_found,
                         describe() + ": lease " + lease_path + " is gone (run " + mine.run_id + ")");
  }
  if (current->run_id != mine.run_id) {
    throw TransportError(FailureKind::refused,
                         describe() + ": lease " + lease_path + " is now held by run " +
                             current->run_id + " (" + current->command + " on " + current->host +
                             ", pid " + std::to_string(current->pid) + ")");
  }
  LeaseInfo next = *current;
  next.heartbeat_unix = now_unix();
  if (int rc = put_lease(root.get(), next, true); rc != 0) {
    throw_errno(describe(), "refresh lease", lease_path, rc);
  }
}

void LocalNode::release_lease(const std::string& run_id, bool force)
{
  if (roots().empty()) {
    return;
  }
  UniqueFd root = open_volume(roots().front());
  LeaseLock lock(root.get(), LOCK_EX);
  std::optional<LeaseInfo> current = read_lease_at(root.get());
  if (!current || (!force && current->run_id != run_id)) {
    return;
  }
  if (::unlinkat(root.get(), k_lease_name, 0) != 0 && errno != ENOENT) {
    throw_errno(describe(), "remove lease", join_path(roots().front(), k_lease_name), errno);
  }
  sync_fd(root.get());
}

std::optional<LeaseInfo> LocalNode::read_lease()
{
  if (roots().empty()) {
    return std::nullopt;
  }
  UniqueFd root = open_volume(roots().front());
  LeaseLock lock(root.get(), LOCK_SH);
  return read_lease_at(root.get());
}

} // namespace clsync::transport
