// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/errors.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <sys/stat.h>

/// Small POSIX helpers shared by the local node: an owning file descriptor, errno → TransportError
/// mapping, full writes, and tree removal that never follows symlinks.
namespace clsync::transport {

/// Owns one file descriptor; closes it on destruction. -1 means none.
class UniqueFd {
public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : m_fd(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : m_fd(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept
  {
    if (this != &o) {
      reset(o.release());
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return m_fd; }
  explicit operator bool() const noexcept { return m_fd >= 0; }
  int release() noexcept
  {
    int fd = m_fd;
    m_fd = -1;
    return fd;
  }
  /// Closes the current descriptor (errors ignored: only used where data was already synced).
  void reset(int fd = -1) noexcept;

private:
  int m_fd = -1;
};

/// The failure kind an errno value stands for: ENOENT/ENOTDIR → not_found, ENOSPC/EDQUOT →
/// no_space, ELOOP/EXDEV (a symlink or an escape during path resolution) → refused, else error.
FailureKind kind_for_errno(int err) noexcept;

/// Throws TransportError "<who>: cannot <action> <path>: <strerror>" with kind_for_errno(err).
[[noreturn]] void throw_errno(const std::string& who,
                              const std::string& action,
                              const std::string& path,
                              int err);

/// write(2) until every byte is written (EINTR retried); returns 0 or the errno of the failure.
int write_all(int fd, std::span<const char> data) noexcept;

/// Removes `name` inside `dirfd` and everything below it without following symlinks.
/// Returns 0, or the first errno met (ENOENT of `name` itself counts as success).
int remove_tree(int dirfd, const std::string& name) noexcept;

/// Removes empty directories of `rel` (a '/'-separated path under `rootfd`) from the deepest
/// up, stopping at the first that is not empty or cannot be removed; never removes the root.
/// The directory that last lost an entry is fsynced. Never throws.
void remove_empty_parents(int rootfd, std::string_view rel) noexcept;

/// fsync(2) of a descriptor; returns 0 or errno.
int sync_fd(int fd) noexcept;

/// A stat's modification time in nanoseconds since the epoch.
std::int64_t stat_mtime_ns(const struct stat& st) noexcept;

/// Joins a root and a relative path for messages ("/vol" + "a/b" → "/vol/a/b").
std::string join_path(std::string_view root, std::string_view rel);

} // namespace clsync::transport
