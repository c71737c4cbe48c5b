// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/posix_io.hpp"
#include "transport/parallel_sync.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace clsync::transport {

void UniqueFd::reset(int fd) noexcept
{
  if (m_fd >= 0) {
    ::close(m_fd);
  }
  m_fd = fd;
}

FailureKind kind_for_errno(int err) noexcept
{
  switch (err) {
  case ENOENT:
  case ENOTDIR:
    return FailureKind::not_found;
  case ENOSPC:
  case EDQUOT:
    return FailureKind::no_space;
  case ELOOP:
  case EXDEV:
    return FailureKind::refused;
  default:
    return FailureKind::error;
  }
}

void throw_errno(const std::string& who,
                 const std::string& action,
                 const std::string& path,
                 int err)
{
  std::string why = std::strerror(err);
  if (err == ELOOP || err == EXDEV) {
    why = "refused: the path crosses a symbolic link or leaves the volume";
  }
  bool retryable = err == EINTR || err == EAGAIN || err == EBUSY;
  throw TransportError(kind_for_errno(err), who + ": cannot " + action + " " + path + ": " + why,
                       retryable);
}

int write_all(int fd, std::span<const char> data) noexcept
{
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return 0;
}

namespace {

int remove_contents(int dirfd) noexcept
{
  int first_error = 0;
  // A fresh open file description: a dup() would share (and exhaust) the caller's offset.
  int dup_fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup_fd < 0) {
    return errno;
  }
  DIR* dir = ::fdopendir(dup_fd);
  if (!dir) {
    int e = errno;
    ::close(dup_fd);
    return e;
  }
  // Collect names first: unlinking while readdir runs may skip entries.
  std::vector<std::pair<std::string, bool>> names;
  int read_error = 0;
  while (true) {
    // readdir returns null both at the end and on an error; only errno tells them apart.
    errno = 0;
    dirent* d = ::readdir(dir);
    if (!d) {
      read_error = errno;
      break;
    }
    if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) {
      continue;
    }
    bool is_dir = d->d_type == DT_DIR;
    if (d->d_type == DT_UNKNOWN) {
      struct stat st {};
      is_dir = ::fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    names.emplace_back(d->d_name, is_dir);
  }
  ::closedir(dir);
  for (const auto& [name, is_dir] : names) {
    int rc = 0;
    if (is_dir) {
      rc = remove_tree(dirfd, name);
    } else if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) {
      rc = errno;
    }
    if (rc != 0 && first_error == 0) {
      first_error = rc;
    }
  }
  // A listing cut short removed only part of the tree: the caller must not see success.
  return first_error != 0 ? first_error : read_error;
}

} // namespace

int remove_tree(int dirfd, const std::string& name) noexcept
{
  if (::unlinkat(dirfd, name.c_str(), 0) == 0) {
    return 0;
  }
  if (errno == ENOENT) {
    return 0;
  }
  if (errno != EISDIR && errno != EPERM) {
    return errno;
  }
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return errno == ENOENT ? 0 : errno;
  }
  int rc = remove_contents(fd);
  ::close(fd);
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return rc != 0 ? rc : errno;
  }
  return rc;
}

void remove_empty_parents(int rootfd, std::string_view rel) noexcept
{
  std::string path(rel);
  while (true) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) {
      if (path != rel) {
        ::fsync(rootfd);  // the climb emptied a top-level directory: the root lost an entry
      }
      return;
    }
    path.resize(slash);
    if (::unlinkat(rootfd, path.c_str(), AT_REMOVEDIR) != 0) {
      break;
    }
  }
  // `path` is the directory that stopped the climb; it lost an entry, so sync it.
  int fd = ::openat(rootfd, path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

int sync_fd(int fd) noexcept
{
  if (::fsync(fd) != 0) {
    return errno;
  }
  return 0;
}

namespace {

/// The threads that overlap one caller's fsyncs: the calling thread and up to k_lanes - 1
/// helpers of its own, started on its first batch and kept until it exits. Each batch gives
/// descriptor i to lane i % lanes, always the same lanes in the same order, so a thread keeps
/// its role from one batch to the next: a fault injected by strace at the n-th fsync *of a
/// thread* (its counters are per thread) hits the same kind of call whatever batch runs, and a
/// worker's second chunk does not meet fresh threads (what turned the first, thread-per-wait
/// version back). Helpers are per calling thread, never shared: a slow disk under one task
/// never queues another task's fsyncs behind it.
class SyncCrew {
public:
  static constexpr std::size_t k_lanes = 8;

  SyncCrew() = default;
  SyncCrew(const SyncCrew&) = delete;
  SyncCrew& operator=(const SyncCrew&) = delete;

  ~SyncCrew()
  {
    {
      std::lock_guard lock(m_mutex);
      m_stop = true;
    }
    m_start.notify_all();
    for (auto& t : m_helpers) {
      t.join();
    }
  }

  std::pair<std::size_t, int> sync(const std::vector<int>& fds)
  {
    grow(std::min(k_lanes, fds.size()) - 1);
    const std::size_t lanes = std::min(m_helpers.size() + 1, fds.size());
    {
      std::lock_guard lock(m_mutex);
      m_fds = &fds;
      m_lanes = lanes;
      m_pending = lanes - 1;
      m_failed = {std::string::npos, 0};
      ++m_generation;
    }
    m_start.notify_all();
    run_lane(0);
    std::unique_lock lock(m_mutex);
    m_done.wait(lock, [&] { return m_pending == 0; });
    m_fds = nullptr;
    return m_failed;
  }

private:
  /// Up to `helpers` helper threads; fewer when the system has no thread to spare (the lanes
  /// that exist do all of it).
  void grow(std::size_t helpers)
  {
    while (m_helpers.size() < helpers) {
      const std::size_t lane = m_helpers.size() + 1;
      std::uint64_t seen = 0;
      {
        std::lock_guard lock(m_mutex);
        seen = m_generation;
      }
      try {
        m_helpers.emplace_back([this, lane, seen] { helper(lane, seen); });
      } catch (const std::system_error&) {
        return;
      }
    }
  }

  void helper(std::size_t lane, std::uint64_t seen)
  {
    std::unique_lock lock(m_mutex);
    while (true) {
      m_start.wait(lock, [&] { return m_stop || m_generation != seen; });
      if (m_stop) {
        return;
      }
      seen = m_generation;
      if (lane >= m_lanes) {
        continue; // a batch smaller than the crew
      }
      lock.unlock();
      run_lane(lane);
      lock.lock();
      if (--m_pending == 0) {
        m_done.notify_one();
      }
    }
  }

  /// Every descriptor of the lane gets exactly one fsync, whatever the others report: a failed
  /// one is never tried again (a second fsync may report success with the data lost).
  void run_lane(std::size_t lane)
  {
    const std::vector<int>& fds = *m_fds;
    for (std::size_t i = lane; i < fds.size(); i += m_lanes) {
      if (int e = sync_fd(fds[i]); e != 0) {
        std::lock_guard lock(m_mutex);
        if (i < m_failed.first) {
          m_failed = {i, e}; // the lowest index: the same file named whichever lane was first
        }
      }
    }
  }

  std::mutex m_mutex;
  std::condition_variable m_start, m_done;
  std::vector<std::thread> m_helpers;
  const std::vector<int>* m_fds = nullptr;
  std::size_t m_lanes = 1;
  std::size_t m_pending = 0;
  std::uint64_t m_generation = 0;
  std::pair<std::size_t, int> m_failed{std::string::npos, 0};
  bool m_stop = false;
};

} // namespace

std::pair<std::size_t, int> sync_fds_parallel(const std::vector<int>& fds)
{
  if (fds.size() <= 1) {
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (int e = sync_fd(fds[i]); e != 0) {
        return {i, e};
      }
    }
    return {std::string::npos, 0};
  }
  thread_local SyncCrew crew;
  return crew.sync(fds);
}

std::string join_path(std::string_view root, std::string_view rel)
{
  std::string out(root);
  if (rel.empty()) {
    return out;
  }
  if (out.empty() || out.back() != '/') {
    out += '/';
  }
  out += rel;
  return out;
}

std::int64_t stat_mtime_ns(const struct stat& st) noexcept
{
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

} // namespace clsync::transport
