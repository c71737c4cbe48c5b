// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Repository file operations of the local node: plain files beneath a configured root.
#include "transport/local_node.hpp"
#include "transport/safe_path.hpp"
#include "transport/sha256.hpp"

#include <algorithm>
#include <atomic>
#include <set>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace clsync::transport {
namespace {

constexpr std::size_t k_buffer_size = 1 << 20;
std::atomic<unsigned> g_part_counter{0};

class LocalFileWriter final : public FileWriter {
public:
  LocalFileWriter(std::string who, std::string display, UniqueFd parent, std::string leaf,
                  std::string part, UniqueFd fd, FileDurability durability)
      : m_who(std::move(who)), m_display(std::move(display)), m_parent(std::move(parent)),
        m_leaf(std::move(leaf)), m_part(std::move(part)), m_fd(std::move(fd)),
        m_durability(durability)
  {
  }

  ~LocalFileWriter() override
  {
    if (!m_done) {
      abort();
    }
  }

  void write(std::span<const char> data) override
  {
    check_open();
    if (int e = write_all(m_fd.get(), data); e != 0) {
      abort();
      throw_errno(m_who, "write", m_display, e);
    }
    m_sha.update(data);
  }

  std::string commit() override
  {
    check_open();
    int e = m_durability == FileDurability::none ? 0 : sync_fd(m_fd.get());
    if (e == 0 && ::renameat(m_parent.get(), m_part.c_str(), m_parent.get(), m_leaf.c_str()) != 0) {
      e = errno;
    }
    if (e != 0) {
      abort();
      throw_errno(m_who, "commit", m_display, e);
    }
    m_done = true;
    m_fd.reset();
    if (int s = m_durability == FileDurability::durable ? sync_fd(m_parent.get()) : 0; s != 0) {
      throw_errno(m_who, "sync the directory of", m_display, s);
    }
    return m_sha.finish_hex();
  }

  void abort() noexcept override
  {
    if (m_done) {
      return;
    }
    m_done = true;
    m_fd.reset();
    ::unlinkat(m_parent.get(), m_part.c_str(), 0);
  }

private:
  void check_open() const
  {
    if (m_done) {
      throw TransportError(FailureKind::error, m_who + ": the writer of " + m_display +
                                                   " is already closed");
    }
  }

  std::string m_who;
  std::string m_display;
  UniqueFd m_parent;
  std::string m_leaf;
  std::string m_part;
  UniqueFd m_fd;
  Sha256 m_sha;
  FileDurability m_durability;
  bool m_done = false;
};

} // namespace

void LocalNode::read_file(const std::string& root,
                          const std::string& relpath,
                          std::uint64_t offset,
                          ByteSink& sink)
{
  check_relative(relpath, false, root);
  UniqueFd rootfd = open_volume(root);
  std::string display = join_path(root_of(root), relpath);
  UniqueFd fd(open_beneath(rootfd.get(), relpath, O_RDONLY | O_NOFOLLOW));
  if (!fd) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) {
      throw TransportError(FailureKind::not_found, describe() + ": " + display + " does not exist");
    }
    throw_errno(describe(), "open", display, e);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw TransportError(FailureKind::refused, describe() + ": " + display + " is not a regular file");
  }
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buffer(k_buffer_size);
  auto pos = static_cast<off_t>(offset);
  while (true) {
    ssize_t n = ::pread(fd.get(), buffer.data(), buffer.size(), pos);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_errno(describe(), "read", display, errno);
    }
    if (n == 0) {
      break;
    }
    sink.write(std::span<const char>(buffer.data(), static_cast<std::size_t>(n)));
    pos += n;
  }
}

std::unique_ptr<FileWriter> LocalNode::create_file(const std::string& root,
                                                   const std::string& relpath,
                                                   FileDurability durability)
{
  check_relative(relpath, false, root);
  UniqueFd rootfd = open_volume(root);
  std::string display = join_path(root_of(root), relpath);
  std::string leaf;
  // A file that need not survive a crash needs no durable directory either.
  std::vector<std::string> not_synced;
  UniqueFd parent(durability == FileDurability::none
                      ? open_parent_deferred(rootfd.get(), relpath, leaf, not_synced)
                      : open_parent(rootfd.get(), relpath, leaf, true));
  if (!parent) {
    throw_errno(describe(), "create the directory of", display, errno);
  }
  std::string part = leaf + k_part_marker + std::to_string(::getpid()) + "-" +
                     std::to_string(g_part_counter++);
  UniqueFd fd(::openat(parent.get(), part.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) {
    throw_errno(describe(), "create", join_path(root_of(root), relpath) + " (temp " + part + ")",
                errno);
  }
  return std::make_unique<LocalFileWriter>(describe(), display, std::move(parent), leaf, part,
                                           std::move(fd), durability);
}

std::vector<DirEntry> LocalNode::list_dir(const std::string& root, const std::string& relpath)
{
  UniqueFd rootfd = open_volume(root);
  bool at_root = relpath.empty() || relpath == ".";
  if (!at_root) {
    check_relative(relpath, false, root);
  }
  std::string display = join_path(root_of(root), at_root ? "" : relpath);
  int fd = at_root ? ::openat(rootfd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                   : open_beneath(rootfd.get(), relpath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      return {};
    }
    throw_errno(describe(), "open directory", display, errno);
  }
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    int e = errno;
    ::close(fd);
    throw_errno(describe(), "read directory", display, e);
  }
  std::vector<DirEntry> out;
  while (true) {
    // readdir returns null both at the end and on an error; only errno tells them apart.
    errno = 0;
    dirent* d = ::readdir(dir);
    if (!d) {
      if (int e = errno; e != 0) {
        ::closedir(dir);
        throw_errno(describe(), "read directory", display, e);
      }
      break;
    }
    std::string name = d->d_name;
    if (name == "." || name == ".." || name.find(k_part_marker) != std::string::npos) {
      continue;  // writers' temps are not files yet
    }
    struct stat st {};
    if (::fstatat(::dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      continue;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
      continue;
    }
    DirEntry e;
    e.name = std::move(name);
    e.is_dir = S_ISDIR(st.st_mode);
    e.size = e.is_dir ? 0 : static_cast<std::uint64_t>(st.st_size);
    e.mtime_ns = stat_mtime_ns(st);
    out.push_back(std::move(e));
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

void LocalNode::remove_file(const std::string& root, const std::string& relpath)
{
  check_relative(relpath, false, root);
  UniqueFd rootfd = open_volume(root);
  std::string display = join_path(root_of(root), relpath);
  std::string leaf;
  UniqueFd parent(open_parent(rootfd.get(), relpath, leaf, false));
  if (!parent) {
    if (errno == ENOENT) {
      return;
    }
    throw_errno(describe(), "open the directory of", display, errno);
  }
  if (::unlinkat(parent.get(), leaf.c_str(), 0) != 0) {
    int e = errno;
    if (e == EISDIR || e == EPERM) {
      // An (empty) directory of the repository, e.g. an objects/<aa> emptied by prune.
      if (::unlinkat(parent.get(), leaf.c_str(), AT_REMOVEDIR) != 0) {
        throw_errno(describe(), "remove directory", display, errno);
      }
    } else if (e != ENOENT) {
      throw_errno(describe(), "remove", display, e);
    } else {
      return;
    }
  }
  sync_fd(parent.get());
}

void LocalNode::create_dir(const std::string& root, const std::string& relpath, std::uint32_t mode)
{
  check_relative(relpath, false, root);
  UniqueFd rootfd = open_volume(root);
  std::string display = join_path(root_of(root), relpath);
  std::string leaf;
  UniqueFd parent(open_parent(rootfd.get(), relpath, leaf, false));
  if (!parent) {
    throw_errno(describe(), "open the directory of", display, errno);
  }
  if (::mkdirat(parent.get(), leaf.c_str(), 0700) != 0) {
    if (errno == EEXIST) {
      struct stat st {};
      if (::fstatat(parent.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISDIR(st.st_mode)) {
        return;
      }
    }
    throw_errno(describe(), "create directory", display, errno);
  }
  UniqueFd dir(::openat(parent.get(), leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir || ::fchmod(dir.get(), mode & 07777) != 0) {
    throw_errno(describe(), "set the mode of", display, errno);
  }
  sync_fd(dir.get());
  if (int e = sync_fd(parent.get()); e != 0) {
    throw_errno(describe(), "sync the directory of", display, e);
  }
}

void LocalNode::rename_file(const std::string& root, const std::string& from, const std::string& to)
{
  check_relative(from, false, root);
  check_relative(to, false, root);
  UniqueFd rootfd = open_volume(root);
  const std::string shown_from = join_path(root_of(root), from);
  const std::string shown_to = join_path(root_of(root), to);
  std::string from_leaf;
  UniqueFd from_dir(open_parent(rootfd.get(), from, from_leaf, false));
  if (!from_dir) {
    throw_errno(describe(), "open the directory of", shown_from, errno);
  }
  std::string to_leaf;
  std::vector<std::string> made; // directories made for `to`, and their parents: synced below
  UniqueFd to_dir(open_parent_deferred(rootfd.get(), to, to_leaf, made));
  if (!to_dir) {
    throw_errno(describe(), "create the directory of", shown_to, errno);
  }
  if (::renameat(from_dir.get(), from_leaf.c_str(), to_dir.get(), to_leaf.c_str()) != 0) {
    throw_errno(describe(), "rename " + shown_from + " to", shown_to, errno);
  }
  // The new name first: once it is durable, losing the old one's removal loses nothing. A
  // directory made for it is synced once, here, not also when it was made.
  if (int e = sync_fd(to_dir.get()); e != 0) {
    throw_errno(describe(), "sync the directory of", shown_to, e);
  }
  std::set<std::string> new_dirs(made.begin(), made.end());
  new_dirs.erase(to.size() > to_leaf.size() ? to.substr(0, to.size() - to_leaf.size() - 1) : "");
  if (const DirSyncFailure f = sync_dirs_beneath(rootfd.get(), new_dirs); f.error != 0) {
    throw_errno(describe(), f.opening ? "open the directory" : "sync the directory",
                join_path(root_of(root), f.dir), f.error);
  }
  if (int e = sync_fd(from_dir.get()); e != 0) {
    throw_errno(describe(), "sync the directory of", shown_from, e);
  }
}

} // namespace clsync::transport
