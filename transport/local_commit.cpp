// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// The renames of SPEC §5: commit a temp directory into place, move a chunk between volumes of
// one node, trash and untrash, and clean a task's leftovers.
#include "transport/chunk_files.hpp"
#include "transport/local_node.hpp"
#include "transport/safe_path.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace clsync::transport {
namespace {

bool is_directory_at(int dirfd, const std::string& name)
{
  struct stat st {};
  return ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

bool exists_at(int dirfd, const std::string& name)
{
  struct stat st {};
  return ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/// Undoes a placement whose directories could not be synced: the new copy goes back to the
/// temp name and is removed. Returns what happened, for the error message. Never throws.
std::string take_back_placement(int rootfd, int parentfd, const std::string& leaf,
                                const std::string& task)
{
  const std::string tmp = tmp_dir_name(task);
  if (::renameat2(parentfd, leaf.c_str(), rootfd, tmp.c_str(), RENAME_NOREPLACE) != 0) {
    return std::string("the new copy could not be taken back out of place (") +
           std::strerror(errno) + ")";
  }
  remove_tree(rootfd, tmp);
  ::fsync(parentfd);
  ::fsync(rootfd);
  return "the new copy was taken back out of place and removed";
}

std::string rename_problem(int err)
{
  if (err == EINVAL) {
    return "the filesystem does not support renameat2 flags (RENAME_NOREPLACE/EXCHANGE)";
  }
  return "";
}

} // namespace

CommitOutcome LocalNode::commit_chunk(const std::string& volume,
                                      const std::string& task,
                                      const std::string& key,
                                      CommitMode mode)
{
  check_task(task);
  check_relative(key, true, volume);
  UniqueFd fence = check_fence(volume);
  UniqueFd root = open_volume(volume);
  const std::string& root_path = root_of(volume);
  std::string tmp = tmp_dir_name(task);
  std::string dest = join_path(root_path, key);
  if (!is_directory_at(root.get(), tmp)) {
    throw TransportError(FailureKind::not_found, describe() + ": cannot commit " + dest + ": " +
                                                     join_path(root_path, tmp) +
                                                     " does not exist");
  }
  std::string leaf;
  UniqueFd parent(open_parent(root.get(), key, leaf, true));
  if (!parent) {
    throw_errno(describe(), "create the parents of", dest, errno);
  }
  // The placement is durable only once both directories are synced. A failed fsync is never
  // retried (a second one may succeed with the entry lost): a new placement is taken back out
  // of place and removed, so that the task fails with nothing of it left to count as a
  // replica. An exchange is left as it is: it belongs to a commit set that, once committed,
  // goes forward (core/run/fan_out_task.hpp), and its old version is in the task's trash.
  auto sync_both = [&](bool undo) {
    int e = sync_fd(parent.get());
    std::string what = "sync the parent of " + dest;
    if (e == 0 && (e = sync_fd(root.get())) != 0) {
      what = "sync volume " + root_path + " after placing " + dest;
    }
    if (e != 0) {
      const std::string undone =
          undo ? "; " + take_back_placement(root.get(), parent.get(), leaf, task) : "";
      throw TransportError(kind_for_errno(e), describe() + ": cannot " + what + ": " +
                                                  std::strerror(e) + undone);
    }
  };

  if (mode == CommitMode::exchange) {
    std::string trash = trash_dir_name(task);
    if (exists_at(root.get(), trash)) {
      throw TransportError(FailureKind::error, describe() + ": cannot replace " + dest + ": " +
                                                   join_path(root_path, trash) +
                                                   " already exists");
    }
    if (::renameat2(root.get(), tmp.c_str(), parent.get(), leaf.c_str(), RENAME_EXCHANGE) == 0) {
      // The temp name now holds the old version; it becomes the task's trash.
      if (::renameat2(root.get(), tmp.c_str(), root.get(), trash.c_str(), RENAME_NOREPLACE) != 0) {
        throw_errno(describe(), "trash the old version of", dest, errno);
      }
      sync_both(false);
      return CommitOutcome::replaced;
    }
    if (errno != ENOENT) {
      int e = errno;
      std::string why = rename_problem(e);
      if (!why.empty()) {
        throw TransportError(FailureKind::error, describe() + ": cannot replace " + dest + ": " + why);
      }
      throw_errno(describe(), "replace", dest, e);
    }
    // Nothing to exchange with: an ordinary placement.
  }

  if (::renameat2(root.get(), tmp.c_str(), parent.get(), leaf.c_str(), RENAME_NOREPLACE) == 0) {
    sync_both(true);
    return CommitOutcome::placed;
  }
  int e = errno;
  if (e != EEXIST && e != ENOTEMPTY) {
    std::string why = rename_problem(e);
    if (!why.empty()) {
      throw TransportError(FailureKind::error, describe() + ": cannot commit " + dest + ": " + why);
    }
    throw_errno(describe(), "commit", dest, e);
  }
  // Something is already there: it counts as done only when its content is the same.
  UniqueFd existing(open_beneath(parent.get(), leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  if (!existing) {
    return CommitOutcome::exists_different;
  }
  UniqueFd tmp_fd(open_beneath(root.get(), tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  if (!tmp_fd) {
    throw_errno(describe(), "open", join_path(root_path, tmp), errno);
  }
  ChunkFiles theirs = walk_chunk(existing.get(), dest);
  ChunkFiles ours = walk_chunk(tmp_fd.get(), join_path(root_path, tmp));
  if (!theirs.special.empty() || !theirs.problems.empty() || !ours.problems.empty()) {
    return CommitOutcome::exists_different;
  }
  if (theirs.layout() != ours.layout()) {
    return CommitOutcome::exists_different;
  }
  ChunkDigest a = stream_chunk(existing.get(), theirs, nullptr, describe(), dest);
  ChunkDigest b = stream_chunk(tmp_fd.get(), ours, nullptr, describe(), join_path(root_path, tmp));
  if (a.content_hash != b.content_hash) {
    return CommitOutcome::exists_different;
  }
  tmp_fd.reset();
  if (int rc = remove_tree(root.get(), tmp); rc != 0) {
    throw_errno(describe(), "remove", join_path(root_path, tmp), rc);
  }
  sync_fd(root.get());
  return CommitOutcome::already_equal;
}

RenameOutcome LocalNode::rename_chunk(const std::string& from_volume,
                                      const std::string& key,
                                      const std::string& to_volume)
{
  const std::string& from_root = root_of(from_volume);
  const std::string& to_root = root_of(to_volume);
  if (from_root == to_root) {
    throw TransportError(FailureKind::refused, describe() + ": cannot rename " +
                                                   join_path(from_root, key) +
                                                   " onto the same volume");
  }
  UniqueFd fence_from = check_fence(from_volume);
  UniqueFd fence_to = check_fence(to_volume);
  check_relative(key, true, from_volume);
  UniqueFd src_root = open_volume(from_volume);
  UniqueFd dst_root = open_volume(to_volume);
  std::string src_path = join_path(from_root, key);
  std::string dst_path = join_path(to_root, key);
  std::string leaf;
  UniqueFd src_parent(open_parent(src_root.get(), key, leaf, false));
  if (!src_parent || !is_directory_at(src_parent.get(), leaf)) {
    int e = src_parent ? ENOENT : errno;
    if (e == ENOENT || e == ENOTDIR) {
      throw TransportError(FailureKind::not_found,
                           describe() + ": chunk " + src_path + " does not exist");
    }
    throw_errno(describe(), "open chunk", src_path, e);
  }
  struct stat a {}, b {};
  if (::fstat(src_root.get(), &a) == 0 && ::fstat(dst_root.get(), &b) == 0 && a.st_dev != b.st_dev) {
    return RenameOutcome::cross_device;  // known before creating anything at the destination
  }
  std::string dst_leaf;
  UniqueFd dst_parent(open_parent(dst_root.get(), key, dst_leaf, true));
  if (!dst_parent) {
    throw_errno(describe(), "create the parents of", dst_path, errno);
  }
  if (::renameat2(src_parent.get(), leaf.c_str(), dst_parent.get(), dst_leaf.c_str(),
                  RENAME_NOREPLACE) != 0) {
    int e = errno;
    if (e == EXDEV) {
      // Same st_dev but another mount (a bind mount): undo the parents made for nothing.
      remove_empty_parents(dst_root.get(), key);
      return RenameOutcome::cross_device;
    }
    if (e == EEXIST || e == ENOTEMPTY) {
      return RenameOutcome::destination_exists;
    }
    throw_errno(describe(), "rename " + src_path + " to", dst_path, e);
  }
  // The move is durable only once both parents are synced. A failed fsync is never retried
  // as success: the chunk is renamed back, so that the failed task leaves it where it was
  // (a rerun moves it again) instead of moved without the move being durable or counted.
  auto sync_or_undo = [&](int fd, const std::string& path) {
    const int e = sync_fd(fd);
    if (e == 0) {
      return;
    }
    std::string undone;
    if (::renameat2(dst_parent.get(), dst_leaf.c_str(), src_parent.get(), leaf.c_str(),
                    RENAME_NOREPLACE) == 0) {
      ::fsync(src_parent.get());
      ::fsync(dst_parent.get());
      dst_parent.reset();
      remove_empty_parents(dst_root.get(), key);
      undone = "; the chunk was renamed back to " + src_path;
    } else {
      undone = std::string("; it could not be renamed back (") + std::strerror(errno) +
               ") and stays at " + dst_path;
    }
    throw TransportError(kind_for_errno(e), describe() + ": cannot sync the parent of " + path +
                                                " after renaming " + src_path + " to " +
                                                dst_path + ": " + std::strerror(e) + undone);
  };
  sync_or_undo(dst_parent.get(), dst_path);
  sync_or_undo(src_parent.get(), src_path);
  src_parent.reset();
  remove_empty_parents(src_root.get(), key);
  return RenameOutcome::renamed;
}

ChunkDigest LocalNode::copy_chunk_local(const std::string& from_volume,
                                        const std::string& key,
                                        const std::string& to_volume,
                                        const std::string& task)
{
  root_of(from_volume);
  check_relative(key, true, from_volume);
  std::unique_ptr<ChunkWriter> writer = write_chunk(to_volume, task);
  try {
    ChunkDigest read = read_chunk(from_volume, key, *writer);
    ChunkDigest written = writer->finish();
    if (read.content_hash != written.content_hash) {
      throw TransportError(FailureKind::error,
                           describe() + ": copy of " + join_path(root_of(from_volume), key) +
                               " to " + to_volume + " does not hash like the source", true);
    }
    return read;
  } catch (...) {
    writer->abort();
    throw;
  }
}

std::string LocalNode::trash_chunk(const std::string& volume,
                                   const std::string& key,
                                   const std::string& task)
{
  check_task(task);
  check_relative(key, true, volume);
  UniqueFd fence = check_fence(volume);
  UniqueFd root = open_volume(volume);
  std::string path = join_path(root_of(volume), key);
  std::string trash = trash_dir_name(task);
  std::string leaf;
  UniqueFd parent(open_parent(root.get(), key, leaf, false));
  if (!parent || !is_directory_at(parent.get(), leaf)) {
    int e = parent ? ENOENT : errno;
    if (e == ENOENT || e == ENOTDIR) {
      throw TransportError(FailureKind::not_found,
                           describe() + ": chunk " + path + " does not exist");
    }
    throw_errno(describe(), "open chunk", path, e);
  }
  if (::renameat2(parent.get(), leaf.c_str(), root.get(), trash.c_str(), RENAME_NOREPLACE) != 0) {
    int e = errno;
    if (e == EEXIST || e == ENOTEMPTY) {
      throw TransportError(FailureKind::error, describe() + ": cannot trash " + path + ": " +
                                                   join_path(root_of(volume), trash) +
                                                   " already exists");
    }
    throw_errno(describe(), "trash", path, e);
  }
  // Taken after the rename: no writer that still holds the old path can add to the chunk
  // unseen past this point, so the caller's comparison covers everything up to the rename.
  // The chunk is already in the trash, so an unreadable walk yields "" (seen as a change)
  // instead of an exception that would leave the caller not knowing where the chunk is.
  std::string fp;
  if (UniqueFd fd(::openat(root.get(), trash.c_str(),
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      fd) {
    ChunkFiles walk = walk_chunk(fd.get(), join_path(root_of(volume), trash));
    if (walk.problems.empty()) {
      fp = walk.fingerprint();
    }
  }
  sync_fd(parent.get());
  if (int e = sync_fd(root.get()); e != 0) {
    throw_errno(describe(), "sync volume", root_of(volume), e);
  }
  parent.reset();
  remove_empty_parents(root.get(), key);
  return fp;
}

void LocalNode::untrash_chunk(const std::string& volume,
                              const std::string& task,
                              const std::string& key)
{
  check_task(task);
  check_relative(key, true, volume);
  UniqueFd fence = check_fence(volume);
  UniqueFd root = open_volume(volume);
  std::string path = join_path(root_of(volume), key);
  std::string trash = trash_dir_name(task);
  if (!exists_at(root.get(), trash)) {
    throw TransportError(FailureKind::not_found, describe() + ": cannot restore " + path + ": " +
                                                     join_path(root_of(volume), trash) +
                                                     " does not exist");
  }
  std::string leaf;
  UniqueFd parent(open_parent(root.get(), key, leaf, true));
  if (!parent) {
    throw_errno(describe(), "create the parents of", path, errno);
  }
  if (::renameat2(root.get(), trash.c_str(), parent.get(), leaf.c_str(), RENAME_NOREPLACE) != 0) {
    int e = errno;
    if (e == EEXIST || e == ENOTEMPTY) {
      throw TransportError(FailureKind::error, describe() + ": cannot restore " + path +
                                                   " from the trash: it exists again");
    }
    throw_errno(describe(), "restore", path, e);
  }
  sync_fd(parent.get());
  if (int e = sync_fd(root.get()); e != 0) {
    throw_errno(describe(), "sync volume", root_of(volume), e);
  }
}

void LocalNode::remove_task_dirs(const std::string& volume, const std::string& task)
{
  check_task(task);
  UniqueFd fence = check_fence(volume);
  UniqueFd root = open_volume(volume);
  for (const std::string& name : {tmp_dir_name(task), trash_dir_name(task)}) {
    if (int rc = remove_tree(root.get(), name); rc != 0) {
      throw_errno(describe(), "remove", join_path(root_of(volume), name), rc);
    }
  }
  if (int e = sync_fd(root.get()); e != 0) {
    throw_errno(describe(), "sync volume", root_of(volume), e);
  }
}

} // namespace clsync::transport
