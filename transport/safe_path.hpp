// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/posix_io.hpp"

#include <string>
#include <string_view>
#include <vector>
#include <sys/types.h>

/// Path rules of the node interface (node.hpp): relative, '/'-separated paths that stay beneath
/// a configured root and never pass through a symlink.
namespace clsync::transport {

/// Which relative paths a check accepts.
enum class PathUse {
  key,        ///< a chunk key: no component may start with ".clsync" (clsync's own names)
  file,       ///< a path inside a chunk or repository: ".clsync" names allowed
};

/// Why `path` is not an acceptable relative path for `use`, or "" when it is. Refused: empty
/// paths, absolute paths, empty, "." or ".." components, NUL bytes, a trailing '/', and for
/// keys, components starting with ".clsync".
std::string relative_path_problem(std::string_view path, PathUse use);

/// Why `task` is not a usable task id ("" when it is): 1–128 characters of [A-Za-z0-9._-],
/// not starting with '.'.
std::string task_id_problem(std::string_view task);

/// Opens `rel` beneath the directory `dirfd` without following any symlink (openat2 with
/// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS when the kernel has it, else one O_NOFOLLOW openat per
/// component). `rel` must already have passed relative_path_problem(). Returns the descriptor,
/// or -1 with errno set (ELOOP for a symlink on the way, ENOENT, ENOTDIR …). O_CLOEXEC is added.
int open_beneath(int dirfd, std::string_view rel, int flags, mode_t mode = 0) noexcept;

/// Opens the directory holding the last component of `rel` beneath `dirfd` (never following
/// symlinks) and stores that component in `leaf`. With `create`, missing directories are made
/// (mode 0755 before umask) and each new one is fsynced together with its parent, so that a
/// rename into it is durable. Returns the descriptor or -1 with errno set.
int open_parent(int dirfd, std::string_view rel, std::string& leaf, bool create) noexcept;

/// As open_parent with `create`, but a directory it makes is not fsynced here: its path and its
/// parent's (relative to `dirfd`, "" for `dirfd` itself) are added to `unsynced`, for a caller
/// that syncs every touched directory once after a batch of renames into them.
int open_parent_deferred(int dirfd,
                         std::string_view rel,
                         std::string& leaf,
                         std::vector<std::string>& unsynced) noexcept;

/// Tests only: false forces the component-wise fallback of open_beneath (as on kernels before
/// 5.6), true allows openat2 again. Affects the whole process.
void use_openat2(bool enabled) noexcept;

/// A configured root as nodes compare roots: without trailing '/' ("/" stays "/").
std::string normalise_root(std::string root);

/// Opens a configured root directory itself (the root may be reached through symlinks; below it
/// nothing is followed). Returns the descriptor or -1 with errno set.
int open_root(const std::string& root) noexcept;

} // namespace clsync::transport
