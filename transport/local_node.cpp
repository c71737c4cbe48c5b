// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/local_node.hpp"

#include "transport/chunk_files.hpp"
#include "transport/open.hpp"
#include "transport/safe_path.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace clsync::transport {

std::string tmp_dir_name(const std::string& task) { return ".clsync-tmp-" + task; }
std::string trash_dir_name(const std::string& task) { return ".clsync-trash-" + task; }
std::string intent_name(const std::string& task) { return ".clsync-intent-" + task; }

namespace {

std::string intent_part_name(const std::string& task) { return ".clsync-part-intent-" + task; }

} // namespace

LocalNode::LocalNode(std::string name, std::vector<std::string> roots) : m_name(std::move(name))
{
  for (std::string& r : roots) {
    if (r.empty() || r.front() != '/') {
      throw TransportError(FailureKind::refused,
                           describe() + ": volume '" + r + "' is not an absolute path");
    }
    m_roots.push_back(normalise_root(std::move(r)));
  }
}

std::string LocalNode::describe() const { return "node " + m_name; }

const std::string& LocalNode::root_of(const std::string& volume) const
{
  std::string wanted = normalise_root(volume);
  for (const std::string& r : m_roots) {
    if (r == wanted) {
      return r;
    }
  }
  throw TransportError(FailureKind::refused,
                       describe() + ": " + volume + " is not one of the node's volumes");
}

UniqueFd LocalNode::open_volume(const std::string& volume) const
{
  const std::string& root = root_of(volume);
  UniqueFd fd(open_root(root));
  if (!fd) {
    throw_errno(describe(), "open volume", root, errno);
  }
  return fd;
}

void LocalNode::check_relative(const std::string& path, bool is_key, const std::string& volume) const
{
  std::string why = relative_path_problem(path, is_key ? PathUse::key : PathUse::file);
  if (!why.empty()) {
    throw TransportError(FailureKind::refused, describe() + ": refused " +
                                                   (is_key ? "chunk key '" : "path '") + path +
                                                   "' on " + volume + ": " + why);
  }
}

void LocalNode::check_task(const std::string& task) const
{
  std::string why = task_id_problem(task);
  if (!why.empty()) {
    throw TransportError(FailureKind::refused,
                         describe() + ": refused task id '" + task + "': " + why);
  }
}

UniqueFd LocalNode::open_chunk(int rootfd, const std::string& volume, const std::string& key) const
{
  check_relative(key, true, volume);
  UniqueFd fd(open_beneath(rootfd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  if (!fd) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) {
      throw TransportError(FailureKind::not_found,
                           describe() + ": chunk " + join_path(volume, key) + " does not exist");
    }
    throw_errno(describe(), "open chunk", join_path(volume, key), e);
  }
  return fd;
}

std::string LocalNode::fingerprint(const std::string& volume, const std::string& key)
{
  UniqueFd root = open_volume(volume);
  UniqueFd chunk;
  try {
    chunk = open_chunk(root.get(), volume, key);
  } catch (const TransportError& e) {
    if (e.kind() == FailureKind::not_found) {
      return "";
    }
    throw;
  }
  ChunkFiles walk = walk_chunk(chunk.get(), join_path(root_of(volume), key));
  if (!walk.problems.empty()) {
    throw TransportError(FailureKind::error, describe() + ": " + walk.problems.front());
  }
  return walk.fingerprint();
}

std::vector<std::string> LocalNode::volumes_holding(const std::string& key)
{
  // locate_chunk's rules (a refused key throws, an unreadable volume holds nothing), with an
  // open of the chunk's directory instead of a walk of it.
  std::vector<std::string> found;
  for (const std::string& root : m_roots) {
    try {
      UniqueFd fd = open_volume(root);
      open_chunk(fd.get(), root, key);
    } catch (const TransportError& e) {
      if (e.kind() == FailureKind::refused) {
        throw;
      }
      continue;
    }
    found.push_back(root);
  }
  return found;
}

ChunkDigest LocalNode::hash_chunk(const std::string& volume, const std::string& key)
{
  UniqueFd root = open_volume(volume);
  UniqueFd chunk = open_chunk(root.get(), volume, key);
  std::string display = join_path(root_of(volume), key);
  ChunkFiles walk = walk_chunk(chunk.get(), display);
  if (!walk.problems.empty()) {
    throw TransportError(FailureKind::error, describe() + ": " + walk.problems.front());
  }
  return stream_chunk(chunk.get(), walk, nullptr, describe(), display);
}

void LocalNode::write_intent(const std::string& volume,
                             const std::string& task,
                             const std::string& record)
{
  check_task(task);
  UniqueFd root = open_volume(volume);
  std::string part = intent_part_name(task);
  std::string final_path = join_path(root_of(volume), intent_name(task));
  UniqueFd fd(::openat(root.get(), part.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) {
    throw_errno(describe(), "create intent", final_path, errno);
  }
  int rc = write_all(fd.get(), std::span<const char>(record.data(), record.size()));
  if (rc == 0) {
    rc = sync_fd(fd.get());
  }
  if (rc == 0 && ::renameat(root.get(), part.c_str(), root.get(), intent_name(task).c_str()) != 0) {
    rc = errno;
  }
  if (rc != 0) {
    ::unlinkat(root.get(), part.c_str(), 0);
    throw_errno(describe(), "write intent", final_path, rc);
  }
  if (int e = sync_fd(root.get()); e != 0) {
    throw_errno(describe(), "sync volume", root_of(volume), e);
  }
}

void LocalNode::remove_intent(const std::string& volume, const std::string& task)
{
  check_task(task);
  UniqueFd root = open_volume(volume);
  for (const std::string& name : {intent_name(task), intent_part_name(task)}) {
    if (::unlinkat(root.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      throw_errno(describe(), "remove intent", join_path(root_of(volume), name), errno);
    }
  }
  if (int e = sync_fd(root.get()); e != 0) {
    throw_errno(describe(), "sync volume", root_of(volume), e);
  }
}

std::shared_ptr<Node> make_local_node(const std::string& name, std::vector<std::string> roots)
{
  return std::make_shared<LocalNode>(name, std::move(roots));
}

} // namespace clsync::transport
