// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Batched renames between two volumes of one node (Node::rename_chunks): every rename first,
// then one fsync per touched directory. On a journalling filesystem the first fsync commits the
// transaction that holds every rename of the batch, so the others cost a system call each, where
// one rename_chunk per chunk pays for a journal commit (or two) per chunk.
#include "transport/local_node.hpp"
#include "transport/parallel_sync.hpp"
#include "transport/posix_io.hpp"
#include "transport/safe_path.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace clsync::transport {
namespace {

/// "a/b/c" → "a/b"; "c" → "".
std::string batch_parent_of(std::string_view rel)
{
  auto slash = rel.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(rel.substr(0, slash));
}

/// Removes the empty parents of `key` under `rootfd`, deepest first, without syncing; adds
/// the directory that stopped the climb (it lost an entry) to `touched`.
void batch_remove_empty_parents(int rootfd, const std::string& key, std::set<std::string>& touched)
{
  std::string path = batch_parent_of(key);
  while (!path.empty() && ::unlinkat(rootfd, path.c_str(), AT_REMOVEDIR) == 0) {
    path = batch_parent_of(path);
  }
  touched.insert(path);
}

/// fsyncs each directory of `dirs` (relative to `rootfd`; "" is the root), in one pass
/// (through sync_fds_parallel). A directory that is gone (removed as an empty parent since) needs
/// none. Returns "" or the first failure.
std::string batch_sync_dirs(int rootfd, const std::string& root, const std::set<std::string>& dirs)
{
  std::vector<UniqueFd> open;
  std::vector<int> fds;
  std::vector<std::string> names;
  for (const auto& d : dirs) {
    if (d.empty()) {
      fds.push_back(rootfd);
    } else {
      UniqueFd fd(open_beneath(rootfd, d, O_RDONLY | O_DIRECTORY));
      if (!fd) {
        if (errno == ENOENT) {
          continue;
        }
        return "cannot open " + join_path(root, d) + ": " + std::strerror(errno);
      }
      fds.push_back(fd.get());
      open.push_back(std::move(fd));
    }
    names.push_back(d);
  }
  if (auto [i, e] = sync_fds_parallel(fds); e != 0) {
    return "cannot sync " + join_path(root, names[i]) + ": " + std::strerror(e);
  }
  return "";
}

/// Undoes one rename of a batch whose directories could not be synced: the chunk goes back
/// to its source (its parents made again), both parents synced as well as they can be, the
/// destination's empty parents removed. Returns what happened, for the task's error.
std::string rename_back(int src_root, int dst_root, const std::string& from_root,
                        const std::string& to_root, const std::string& key)
{
  std::string leaf, dst_leaf;
  UniqueFd dst_parent(open_parent(dst_root, key, dst_leaf, false));
  UniqueFd src_parent(dst_parent ? open_parent(src_root, key, leaf, true) : -1);
  if (!dst_parent || !src_parent ||
      ::renameat2(dst_parent.get(), dst_leaf.c_str(), src_parent.get(), leaf.c_str(),
                  RENAME_NOREPLACE) != 0) {
    return std::string("; it could not be renamed back (") + std::strerror(errno) +
           ") and stays at " + join_path(to_root, key);
  }
  ::fsync(src_parent.get());
  ::fsync(dst_parent.get());
  dst_parent.reset();
  remove_empty_parents(dst_root, key);
  return "; the chunk was renamed back to " + join_path(from_root, key);
}

} // namespace

std::vector<RenameItemResult> Node::rename_chunks(const std::string& from_volume,
                                                  const std::string& to_volume,
                                                  const std::vector<RenameItem>& items)
{
  std::vector<RenameItemResult> out(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const RenameItem& it = items[i];
    try {
      if (!it.fingerprint.empty()) {
        const std::string fp = fingerprint(from_volume, it.key);
        if (fp.empty()) {
          out[i].outcome = BatchRenameOutcome::missing;
          continue;
        }
        if (fp != it.fingerprint) {
          out[i].outcome = BatchRenameOutcome::changed;
          continue;
        }
      }
      switch (rename_chunk(from_volume, it.key, to_volume)) {
      case RenameOutcome::renamed:
        out[i].outcome = BatchRenameOutcome::renamed;
        break;
      case RenameOutcome::cross_device:
        out[i].outcome = BatchRenameOutcome::cross_device;
        break;
      case RenameOutcome::destination_exists:
        out[i].outcome = BatchRenameOutcome::destination_exists;
        break;
      }
    } catch (const TransportError& e) {
      out[i].outcome = e.kind() == FailureKind::not_found ? BatchRenameOutcome::missing
                                                          : BatchRenameOutcome::failed;
      out[i].error = e.what();
    }
  }
  return out;
}

std::vector<RenameItemResult> LocalNode::rename_chunks(const std::string& from_volume,
                                                       const std::string& to_volume,
                                                       const std::vector<RenameItem>& items)
{
  const std::string& from_root = root_of(from_volume);
  const std::string& to_root = root_of(to_volume);
  if (from_root == to_root) {
    throw TransportError(FailureKind::refused,
                         describe() + ": cannot rename chunks from " + from_root +
                             " onto the same volume");
  }
  // Held for the whole batch: a takeover of either lease waits until it is done.
  UniqueFd fence_from = check_fence(from_volume);
  UniqueFd fence_to = check_fence(to_volume);
  UniqueFd src_root = open_volume(from_volume);
  UniqueFd dst_root = open_volume(to_volume);
  std::vector<RenameItemResult> out(items.size());
  struct stat a {}, b {};
  if (::fstat(src_root.get(), &a) == 0 && ::fstat(dst_root.get(), &b) == 0 && a.st_dev != b.st_dev) {
    for (auto& r : out) {
      r.outcome = BatchRenameOutcome::cross_device;
    }
    return out;
  }
  std::set<std::string> src_dirs, dst_dirs;
  std::vector<std::size_t> renamed;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string& key = items[i].key;
    RenameItemResult& r = out[i];
    const std::string src_path = join_path(from_root, key);
    const std::string dst_path = join_path(to_root, key);
    if (std::string why = relative_path_problem(key, PathUse::key); !why.empty()) {
      r.error = describe() + ": refused chunk key " + key + ": " + why;
      continue;
    }
    if (!items[i].fingerprint.empty()) {
      const std::string fp = fingerprint(from_volume, key);
      if (fp.empty() || fp != items[i].fingerprint) {
        r.outcome = fp.empty() ? BatchRenameOutcome::missing : BatchRenameOutcome::changed;
        continue;
      }
    }
    std::string leaf, dst_leaf;
    UniqueFd src_parent(open_parent(src_root.get(), key, leaf, false));
    if (!src_parent) {
      const int e = errno;
      r.outcome = e == ENOENT || e == ENOTDIR ? BatchRenameOutcome::missing
                                              : BatchRenameOutcome::failed;
      r.error = describe() + ": cannot open chunk " + src_path + ": " + std::strerror(e);
      continue;
    }
    std::vector<std::string> made;
    UniqueFd dst_parent(open_parent_deferred(dst_root.get(), key, dst_leaf, made));
    dst_dirs.insert(made.begin(), made.end());
    if (!dst_parent) {
      r.error = describe() + ": cannot create the parents of " + dst_path + ": " +
                std::strerror(errno);
      continue;
    }
    if (::renameat2(src_parent.get(), leaf.c_str(), dst_parent.get(), dst_leaf.c_str(),
                    RENAME_NOREPLACE) != 0) {
      const int e = errno;
      if (e == EXDEV) {
        r.outcome = BatchRenameOutcome::cross_device;
      } else if (e == EEXIST || e == ENOTEMPTY) {
        r.outcome = BatchRenameOutcome::destination_exists;
      } else if (e == ENOENT) {
        r.outcome = BatchRenameOutcome::missing;
      } else {
        r.error = describe() + ": cannot rename " + src_path + " to " + dst_path + ": " +
                  std::strerror(e);
      }
      continue;
    }
    r.outcome = BatchRenameOutcome::renamed;
    renamed.push_back(i);
    dst_dirs.insert(batch_parent_of(key));
  }
  for (std::size_t i : renamed) {
    batch_remove_empty_parents(src_root.get(), items[i].key, src_dirs);
  }
  // SPEC §5: a rename is durable once both parents are synced; a failed fsync is not retried
  // (a second one may report success with the entry lost). As rename_chunk does, the batch's
  // chunks are renamed back, so their failed tasks leave each where it was (a rerun moves it
  // again) instead of moved without the move being durable or counted.
  std::string problem = batch_sync_dirs(dst_root.get(), to_root, dst_dirs);
  if (problem.empty()) {
    problem = batch_sync_dirs(src_root.get(), from_root, src_dirs);
  }
  if (!problem.empty()) {
    for (std::size_t i : renamed) {
      out[i].outcome = BatchRenameOutcome::failed;
      out[i].error = describe() + ": cannot sync the parent of " +
                     join_path(to_root, items[i].key) + " after renaming " +
                     join_path(from_root, items[i].key) + " to it (" + problem + ")" +
                     rename_back(src_root.get(), dst_root.get(), from_root, to_root,
                                 items[i].key);
    }
  }
  return out;
}

} // namespace clsync::transport
