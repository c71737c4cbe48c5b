// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Renaming repository files: the default (not supported) and the local node's.
#include "transport/local_node.hpp"
#include "transport/safe_path.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace clsync::transport {

void Node::rename_file(const std::string& root, const std::string& from, const std::string& to)
{
  throw TransportError(FailureKind::refused, describe() + ": cannot rename " + from + " to " +
                                                 to + " beneath " + root + " (not supported)");
}

void LocalNode::rename_file(const std::string& root, const std::string& from, const std::string& to)
{
  check_relative(from, false, root);
  check_relative(to, false, root);
  UniqueFd rootfd = open_volume(root);
  const std::string display = join_path(root_of(root), from);
  std::string from_leaf, to_leaf;
  UniqueFd from_dir(open_parent(rootfd.get(), from, from_leaf, false));
  if (!from_dir) {
    throw_errno(describe(), "open the directory of", display, errno);
  }
  UniqueFd to_dir(open_parent(rootfd.get(), to, to_leaf, true));
  if (!to_dir) {
    throw_errno(describe(), "create the directory of", join_path(root_of(root), to), errno);
  }
  if (::renameat(from_dir.get(), from_leaf.c_str(), to_dir.get(), to_leaf.c_str()) != 0) {
    int e = errno;
    if (e == ENOENT) {
      throw TransportError(FailureKind::not_found, describe() + ": " + display + " does not exist");
    }
    throw_errno(describe(), "rename " + display + " to", join_path(root_of(root), to), e);
  }
  if (int e = sync_fd(to_dir.get()); e != 0) {
    throw_errno(describe(), "sync the directory of", join_path(root_of(root), to), e);
  }
  sync_fd(from_dir.get());
}

} // namespace clsync::transport
