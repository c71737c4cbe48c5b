// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/safe_path.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace clsync::transport {
namespace {

// Cleared once the kernel (or a seccomp filter) says openat2 is unavailable, or by tests.
std::atomic<bool> g_have_openat2{true};

constexpr int k_dir_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

int open_componentwise(int dirfd, std::string_view rel, int flags, mode_t mode) noexcept
{
  UniqueFd cur;
  int base = dirfd;
  std::size_t start = 0;
  while (true) {
    std::size_t slash = rel.find('/', start);
    std::string comp(rel.substr(start, slash == std::string_view::npos ? rel.size() - start
                                                                       : slash - start));
    if (slash == std::string_view::npos) {
      return ::openat(base, comp.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
    }
    int fd = ::openat(base, comp.c_str(), k_dir_flags);
    if (fd < 0) {
      struct stat st {};
      if (errno == ENOTDIR && ::fstatat(base, comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(st.st_mode)) {
        errno = ELOOP;
      }
      return -1;
    }
    cur.reset(fd);
    base = fd;
    start = slash + 1;
  }
}

} // namespace

std::string relative_path_problem(std::string_view path, PathUse use)
{
  if (path.empty()) {
    return "the path is empty";
  }
  if (path.front() == '/') {
    return "the path is absolute";
  }
  if (path.find('\0') != std::string_view::npos) {
    return "the path holds a NUL byte";
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    std::string_view comp =
        path.substr(start, slash == std::string_view::npos ? path.size() - start : slash - start);
    if (comp.empty()) {
      return "the path has an empty component";
    }
    if (comp == "." || comp == "..") {
      return "the path has a '" + std::string(comp) + "' component";
    }
    if (use == PathUse::key && comp.starts_with(".clsync")) {
      return "'" + std::string(comp) + "' is a name reserved for clsync";
    }
    if (slash == std::string_view::npos) {
      break;
    }
    start = slash + 1;
  }
  return "";
}

std::string task_id_problem(std::string_view task)
{
  if (task.empty() || task.size() > 128) {
    return "a task id has 1 to 128 characters";
  }
  if (task.front() == '.') {
    return "a task id does not start with '.'";
  }
  for (char c : task) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return "a task id holds only letters, digits, '.', '_' and '-'";
    }
  }
  return "";
}

namespace {

int open_beneath_raw(int dirfd, std::string_view rel, int flags, mode_t mode) noexcept;

/// O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR; a symlink must read as ELOOP
/// (refused), not as "no such chunk".
bool leaf_is_symlink(int dirfd, std::string_view rel) noexcept
{
  std::size_t last = rel.rfind('/');
  UniqueFd parent;
  int base = dirfd;
  if (last != std::string_view::npos) {
    parent.reset(open_beneath_raw(dirfd, rel.substr(0, last), O_RDONLY | O_DIRECTORY, 0));
    if (!parent) {
      return false;
    }
    base = parent.get();
  }
  std::string leaf(last == std::string_view::npos ? rel : rel.substr(last + 1));
  struct stat st {};
  return ::fstatat(base, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

} // namespace

int open_beneath(int dirfd, std::string_view rel, int flags, mode_t mode) noexcept
{
  int fd = open_beneath_raw(dirfd, rel, flags, mode);
  if (fd < 0 && errno == ENOTDIR && leaf_is_symlink(dirfd, rel)) {
    errno = ELOOP;
  }
  return fd;
}

namespace {

int open_beneath_raw(int dirfd, std::string_view rel, int flags, mode_t mode) noexcept
{
  if (g_have_openat2.load(std::memory_order_relaxed)) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    std::string path(rel);
    long fd;
    do {
      fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
    } while (fd < 0 && errno == EAGAIN);
    if (fd >= 0) {
      return static_cast<int>(fd);
    }
    if (errno != ENOSYS && errno != EPERM) {
      if (errno == EXDEV) {
        errno = ELOOP;  // RESOLVE_BENEATH's "would escape" reads better as a refused symlink
      }
      return -1;
    }
    if (errno == ENOSYS) {
      g_have_openat2.store(false, std::memory_order_relaxed);
    }
  }
  return open_componentwise(dirfd, rel, flags, mode);
}

} // namespace

namespace {

/// open_parent's body; `unsynced` null: each new directory is fsynced with its parent.
int open_parent_impl(int dirfd,
                     std::string_view rel,
                     std::string& leaf,
                     bool create,
                     std::vector<std::string>* unsynced) noexcept
{
  std::size_t last = rel.rfind('/');
  if (last == std::string_view::npos) {
    leaf = std::string(rel);
    return ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  }
  leaf = std::string(rel.substr(last + 1));
  std::string_view dir = rel.substr(0, last);
  if (!create) {
    return open_beneath(dirfd, dir, O_RDONLY | O_DIRECTORY);
  }
  int fd = open_beneath(dirfd, dir, O_RDONLY | O_DIRECTORY);
  if (fd >= 0 || errno != ENOENT) {
    return fd;
  }
  // Some parent is missing: walk down, creating what is absent.
  UniqueFd cur(::fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
  if (!cur) {
    return -1;
  }
  std::size_t start = 0;
  while (start <= dir.size()) {
    std::size_t slash = dir.find('/', start);
    std::string comp(dir.substr(start, slash == std::string_view::npos ? dir.size() - start
                                                                       : slash - start));
    bool made = false;
    if (::mkdirat(cur.get(), comp.c_str(), 0755) == 0) {
      made = true;
    } else if (errno != EEXIST) {
      return -1;
    }
    int next = ::openat(cur.get(), comp.c_str(), k_dir_flags);
    if (next < 0) {
      return -1;
    }
    if (made && unsynced) {
      try {
        unsynced->emplace_back(dir.substr(0, start == 0 ? 0 : start - 1));
        unsynced->emplace_back(dir.substr(0, slash == std::string_view::npos ? dir.size() : slash));
      } catch (...) {
        ::close(next);
        errno = ENOMEM;
        return -1;
      }
    } else if (made && (::fsync(next) != 0 || ::fsync(cur.get()) != 0)) {
      int e = errno;
      ::close(next);
      errno = e;
      return -1;
    }
    cur.reset(next);
    if (slash == std::string_view::npos) {
      break;
    }
    start = slash + 1;
  }
  return cur.release();
}

} // namespace

int open_parent(int dirfd, std::string_view rel, std::string& leaf, bool create) noexcept
{
  return open_parent_impl(dirfd, rel, leaf, create, nullptr);
}

int open_parent_deferred(int dirfd,
                         std::string_view rel,
                         std::string& leaf,
                         std::vector<std::string>& unsynced) noexcept
{
  return open_parent_impl(dirfd, rel, leaf, true, &unsynced);
}

void use_openat2(bool enabled) noexcept { g_have_openat2.store(enabled); }

int open_root(const std::string& root) noexcept
{
  return ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

std::string normalise_root(std::string root)
{
  while (root.size() > 1 && root.back() == '/') {
    root.pop_back();
  }
  return root;
}

} // namespace clsync::transport
