// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Batched renames between two volumes of one node (Node::rename_chunks): every rename first,
// then one fsync per touched directory. On a journalling filesystem the first fsync commits the
// transaction that holds every rename of the batch; each later one still costs the disk a cache
// flush, so what a batch pays is the number of distinct directories it touches.
//
// A chunk whose parent directory holds nothing else, where the destination has no such
// directory yet (the common case: `<db>/<date>/<hash>/<table>`), moves with its parent: one
// rename of the parent, atomic like the chunk's own, whose two parents (the date directories,
// shared by the batch) are the only directories it touches. Renaming the chunk alone would make
// a new directory per chunk on the destination (synced, with its parent) and leave an empty one
// on the source (removed, its parent synced): about one fsync per chunk.
#include "transport/chunk_files.hpp"
#include "transport/local_node.hpp"
#include "transport/parallel_sync.hpp"
#include "transport/posix_io.hpp"
#include "transport/safe_path.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
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

/// sync_dirs_beneath's failure as a message naming the directory under `root`; "" for none.
std::string batch_sync_dirs(int rootfd, const std::string& root, const std::set<std::string>& dirs)
{
  const DirSyncFailure f = sync_dirs_beneath(rootfd, dirs);
  if (f.error == 0) {
    return "";
  }
  return std::string(f.opening ? "cannot open " : "cannot sync ") + join_path(root, f.dir) + ": " +
         std::strerror(f.error);
}

/// Undoes one rename of a batch whose directories could not be synced: `moved` (the chunk
/// `key` or its parent) goes back to its source (its parents made again), both parents synced
/// as well as they can be, the destination's empty parents removed. Returns what happened, for
/// the task's error.
std::string rename_back(int src_root, int dst_root, const std::string& from_root,
                        const std::string& to_root, const std::string& moved,
                        const std::string& key)
{
  std::string leaf, dst_leaf;
  UniqueFd dst_parent(open_parent(dst_root, moved, dst_leaf, false));
  UniqueFd src_parent(dst_parent ? open_parent(src_root, moved, leaf, true) : -1);
  if (!dst_parent || !src_parent ||
      ::renameat2(dst_parent.get(), dst_leaf.c_str(), src_parent.get(), leaf.c_str(),
                  RENAME_NOREPLACE) != 0) {
    return std::string("; it could not be renamed back (") + std::strerror(errno) +
           ") and stays at " + join_path(to_root, key);
  }
  ::fsync(src_parent.get());
  ::fsync(dst_parent.get());
  dst_parent.reset();
  remove_empty_parents(dst_root, moved);
  return "; the chunk was renamed back to " + join_path(from_root, key);
}

/// A batch's two volume roots (descriptors and paths) and the directories its renames touched,
/// each synced once at the end.
struct RenameBatchDirs {
  int src_root;
  int dst_root;
  const std::string& from_root;
  const std::string& to_root;
  std::set<std::string> src_dirs;
  std::set<std::string> dst_dirs;
};

/// The quick fingerprint of chunk `key` beneath `rootfd` (the batch's open source root, so no
/// volume is opened again per chunk): "" when it does not exist.
std::string batch_fingerprint(const std::string& who, int rootfd, const std::string& root,
                              const std::string& key)
{
  UniqueFd fd(open_beneath(rootfd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return "";
    }
    throw TransportError(FailureKind::error, who + ": cannot open chunk " + join_path(root, key) +
                                                 ": " + std::strerror(errno));
  }
  ChunkFiles walk = walk_chunk(fd.get(), join_path(root, key));
  if (!walk.problems.empty()) {
    throw TransportError(FailureKind::error, who + ": " + walk.problems.front());
  }
  return walk.fingerprint();
}

/// True when directory `name` beneath `parentfd` holds exactly one entry, `only`.
bool batch_dir_holds_only(int parentfd, const std::string& name, const std::string& only)
{
  const int fd = ::openat(parentfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return false;
  }
  int others = 0;
  bool seen = false;
  errno = 0;
  while (const dirent* d = ::readdir(dir)) {
    const std::string_view n(d->d_name);
    if (n == "." || n == "..") {
      continue;
    }
    if (n == only) {
      seen = true;
    } else {
      ++others;
    }
  }
  const bool ok = errno == 0 && seen && others == 0;
  ::closedir(dir);
  return ok;
}

/// Moves chunk `key` with its parent directory when that holds nothing else and the
/// destination has no such directory: one rename whose parents are shared by the batch. Returns
/// the parent's path when it did, "" when the chunk is to be renamed alone (the parent holds
/// more, the destination has it, or anything failed: the chunk's own rename meets the same
/// error and reports it).
std::string move_with_parent(RenameBatchDirs& b, const std::string& key)
{
  const std::string dir = batch_parent_of(key);
  if (dir.empty()) {
    return "";
  }
  const std::string leaf = key.substr(dir.size() + 1);
  std::string name, dst_name;
  UniqueFd src_up(open_parent(b.src_root, dir, name, false));
  if (!src_up || !batch_dir_holds_only(src_up.get(), name, leaf)) {
    return "";
  }
  std::vector<std::string> made;
  UniqueFd dst_up(open_parent_deferred(b.dst_root, dir, dst_name, made));
  b.dst_dirs.insert(made.begin(), made.end());
  if (!dst_up || ::renameat2(src_up.get(), name.c_str(), dst_up.get(), dst_name.c_str(),
                             RENAME_NOREPLACE) != 0) {
    return "";
  }
  // Something made beside the chunk between the check and the rename went along: put the
  // parent back (the chunk is then renamed alone). Were that refused, the chunk is moved, and
  // the newcomer with it, still on this filesystem and still whole.
  if (!batch_dir_holds_only(dst_up.get(), dst_name, leaf) &&
      ::renameat2(dst_up.get(), dst_name.c_str(), src_up.get(), name.c_str(),
                  RENAME_NOREPLACE) == 0) {
    return "";
  }
  b.dst_dirs.insert(batch_parent_of(dir));
  return dir;
}

/// Renames one item of a batch (its fingerprint checked first), into `r`. Returns what was
/// renamed (the chunk's path, or its parent's), "" when nothing was.
std::string rename_batch_item(RenameBatchDirs& b, const std::string& who, const RenameItem& it,
                              RenameItemResult& r)
{
  const std::string& key = it.key;
  const std::string src_path = join_path(b.from_root, key);
  const std::string dst_path = join_path(b.to_root, key);
  if (std::string why = relative_path_problem(key, PathUse::key); !why.empty()) {
    r.error = who + ": refused chunk key " + key + ": " + why;
    return "";
  }
  if (!it.fingerprint.empty()) {
    const std::string fp = batch_fingerprint(who, b.src_root, b.from_root, key);
    if (fp.empty() || fp != it.fingerprint) {
      r.outcome = fp.empty() ? BatchRenameOutcome::missing : BatchRenameOutcome::changed;
      return "";
    }
  }
  if (std::string dir = move_with_parent(b, key); !dir.empty()) {
    r.outcome = BatchRenameOutcome::renamed;
    return dir;
  }
  std::string leaf, dst_leaf;
  UniqueFd src_parent(open_parent(b.src_root, key, leaf, false));
  if (!src_parent) {
    const int e = errno;
    r.outcome = e == ENOENT || e == ENOTDIR ? BatchRenameOutcome::missing
                                            : BatchRenameOutcome::failed;
    r.error = who + ": cannot open chunk " + src_path + ": " + std::strerror(e);
    return "";
  }
  std::vector<std::string> made;
  UniqueFd dst_parent(open_parent_deferred(b.dst_root, key, dst_leaf, made));
  b.dst_dirs.insert(made.begin(), made.end());
  if (!dst_parent) {
    r.error = who + ": cannot create the parents of " + dst_path + ": " + std::strerror(errno);
    return "";
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
      r.error = who + ": cannot rename " + src_path + " to " + dst_path + ": " + std::strerror(e);
    }
    return "";
  }
  r.outcome = BatchRenameOutcome::renamed;
  b.dst_dirs.insert(batch_parent_of(key));
  return key;
}

} // namespace

DirSyncFailure sync_dirs_beneath(int rootfd, const std::set<std::string>& dirs)
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
        return {d, errno, true};
      }
      fds.push_back(fd.get());
      open.push_back(std::move(fd));
    }
    names.push_back(d);
  }
  if (auto [i, e] = sync_fds_parallel(fds); e != 0) {
    return {names[i], e, false};
  }
  return {};
}

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
  RenameBatchDirs dirs{src_root.get(), dst_root.get(), from_root, to_root, {}, {}};
  std::vector<std::string> moved(items.size());  // what each rename moved: chunk or parent
  std::vector<std::size_t> renamed;
  for (std::size_t i = 0; i < items.size(); ++i) {
    try {
      moved[i] = rename_batch_item(dirs, describe(), items[i], out[i]);
    } catch (const TransportError& e) {
      out[i].outcome = BatchRenameOutcome::failed;  // nothing renamed: the check threw
      out[i].error = e.what();
    }
    if (!moved[i].empty()) {
      renamed.push_back(i);
    }
  }
  for (std::size_t i : renamed) {
    batch_remove_empty_parents(src_root.get(), moved[i], dirs.src_dirs);
  }
  // SPEC §5: a rename is durable once both parents are synced; a failed fsync is not retried
  // (a second one may report success with the entry lost). As rename_chunk does, the batch's
  // chunks are renamed back, so their failed tasks leave each where it was (a rerun moves it
  // again) instead of moved without the move being durable or counted.
  std::string problem = batch_sync_dirs(dst_root.get(), to_root, dirs.dst_dirs);
  if (problem.empty()) {
    problem = batch_sync_dirs(src_root.get(), from_root, dirs.src_dirs);
  }
  if (!problem.empty()) {
    for (std::size_t i : renamed) {
      out[i].outcome = BatchRenameOutcome::failed;
      out[i].error = describe() + ": cannot sync the parent of " +
                     join_path(to_root, items[i].key) + " after renaming " +
                     join_path(from_root, items[i].key) + " to it (" + problem + ")" +
                     rename_back(src_root.get(), dst_root.get(), from_root, to_root, moved[i],
                                 items[i].key);
    }
  }
  return out;
}

} // namespace clsync::transport
