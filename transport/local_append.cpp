// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Resumable repository writes of the local node (push): `<relpath>.partial`, appended, fsynced
// every k_append_sync_bytes, hashed whole and renamed into place on commit; and one-call tree
// listings.
#include "transport/local_node.hpp"
#include "transport/safe_path.hpp"
#include "transport/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace clsync::transport {
namespace {

constexpr std::size_t k_append_buffer_size = 1 << 20;
constexpr const char* k_partial_suffix = ".partial";

class LocalAppendWriter final : public AppendWriter {
public:
  LocalAppendWriter(std::string who, std::string display, UniqueFd parent, std::string leaf,
                    UniqueFd fd, std::string expected, bool empty)
      : m_who(std::move(who)), m_display(std::move(display)), m_parent(std::move(parent)),
        m_leaf(std::move(leaf)), m_partial(m_leaf + k_partial_suffix), m_fd(std::move(fd)),
        m_expected(std::move(expected))
  {
    // The durable prefix: whatever a killed writer left is made durable before we build on it,
    // and hashed here, where it lies, so that it never crosses the network again. An empty
    // partial (the usual case: just created) has nothing to make durable.
    if (int e = empty ? 0 : sync_fd(m_fd.get()); e != 0) {
      drop_partial();
      throw_errno(m_who, "sync", partial_display() + " (removed: its bytes are not durable)", e);
    }
    std::vector<char> buffer(k_append_buffer_size);
    off_t pos = 0;
    for (;;) {
      ssize_t n = ::pread(m_fd.get(), buffer.data(), buffer.size(), pos);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        throw_errno(m_who, "read", partial_display(), errno);
      }
      if (n == 0) {
        break;
      }
      m_sha.update(std::span<const char>(buffer.data(), static_cast<std::size_t>(n)));
      pos += n;
    }
    m_offset = m_size = static_cast<std::uint64_t>(pos);
  }

  ~LocalAppendWriter() override { close(); }

  std::uint64_t offset() const override { return m_offset; }

  void write(std::span<const char> data) override
  {
    check_open();
    if (int e = write_all(m_fd.get(), data); e != 0) {
      close();
      throw_errno(m_who, "write", partial_display(), e);
    }
    m_sha.update(data);
    m_size += data.size();
    m_unsynced += data.size();
    if (m_unsynced >= k_append_sync_bytes) {
      if (int e = sync_fd(m_fd.get()); e != 0) {
        drop_partial();
        throw_errno(m_who, "sync", partial_display() + " (removed: its bytes are not durable)", e);
      }
      m_unsynced = 0;
    }
  }

  std::uint64_t commit() override
  {
    check_open();
    m_done = true;
    if (int e = sync_fd(m_fd.get()); e != 0) {
      drop_partial();
      throw_errno(m_who, "sync", partial_display() + " (removed: its bytes are not durable)", e);
    }
    m_fd.reset();
    const std::string got = m_sha.finish_hex();
    if (got != m_expected) {
      ::unlinkat(m_parent.get(), m_partial.c_str(), 0);
      sync_fd(m_parent.get());
      throw TransportError(FailureKind::refused,
                           m_who + ": " + m_display + " arrived with SHA-256 " + got + " (" +
                               std::to_string(m_size) + " bytes), expected " + m_expected +
                               "; the partial was removed");
    }
    if (::renameat(m_parent.get(), m_partial.c_str(), m_parent.get(), m_leaf.c_str()) != 0) {
      throw_errno(m_who, "rename into place", m_display, errno);
    }
    if (int e = sync_fd(m_parent.get()); e != 0) {
      throw_errno(m_who, "sync the directory of", m_display, e);
    }
    return m_size;
  }

  void close() noexcept override
  {
    if (m_done) {
      return;
    }
    if (sync_fd(m_fd.get()) != 0) {
      drop_partial();  // kept only when durable (see drop_partial)
      return;
    }
    m_done = true;
    m_fd.reset();  // releases the lock
  }

private:
  std::string partial_display() const { return m_display + k_partial_suffix; }

  /// After a failed fsync the partial's bytes may be gone from the disk while the page cache
  /// still shows them, and the next fsync reports success: resuming from it would commit a
  /// file that is not durable. So the partial is removed (the transfer starts over next time).
  void drop_partial() noexcept
  {
    m_done = true;
    m_fd.reset();
    ::unlinkat(m_parent.get(), m_partial.c_str(), 0);
    sync_fd(m_parent.get());
  }
  void check_open() const
  {
    if (m_done) {
      throw TransportError(FailureKind::error,
                           m_who + ": the writer of " + m_display + " is already closed");
    }
  }

  std::string m_who;
  std::string m_display;
  UniqueFd m_parent;
  std::string m_leaf;
  std::string m_partial;
  UniqueFd m_fd;
  std::string m_expected;
  Sha256 m_sha;
  std::uint64_t m_offset = 0;
  std::uint64_t m_size = 0;
  std::uint64_t m_unsynced = 0;
  bool m_done = false;
};

bool is_hex_sha256(const std::string& s)
{
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

} // namespace

std::unique_ptr<AppendWriter> LocalNode::append_file(const std::string& root,
                                                     const std::string& relpath,
                                                     const std::string& expected_sha256)
{
  check_relative(relpath, false, root);
  std::string display = join_path(root_of(root), relpath);
  if (!is_hex_sha256(expected_sha256)) {
    throw TransportError(FailureKind::refused, describe() + ": expected SHA-256 of " + display +
                                                   " is not 64 lowercase hex digits");
  }
  UniqueFd rootfd = open_volume(root);
  std::string leaf;
  UniqueFd parent(open_parent(rootfd.get(), relpath, leaf, true));
  if (!parent) {
    throw_errno(describe(), "create the directory of", display, errno);
  }
  const std::string partial = leaf + k_partial_suffix;
  UniqueFd fd(::openat(parent.get(), partial.c_str(),
                       O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) {
    throw_errno(describe(), "open", display + k_partial_suffix, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw TransportError(FailureKind::refused,
                         describe() + ": " + display + k_partial_suffix + " is not a regular file");
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    throw TransportError(FailureKind::refused,
                         describe() + ": " + display + k_partial_suffix +
                             " is being written by another writer");
  }
  return std::make_unique<LocalAppendWriter>(describe(), display, std::move(parent), leaf,
                                             std::move(fd), expected_sha256, st.st_size == 0);
}

std::vector<DirEntry> LocalNode::list_tree(const std::string& root, const std::string& relpath)
{
  UniqueFd rootfd = open_volume(root);
  const bool at_root = relpath.empty() || relpath == ".";
  if (!at_root) {
    check_relative(relpath, false, root);
  }
  const std::string base = at_root ? "" : relpath;
  const std::string display = join_path(root_of(root), base);
  std::vector<DirEntry> out;
  // Directories still to read, relative to `base`; each is opened beneath the root without
  // following symlinks, so at most one directory is open at a time.
  std::vector<std::string> pending{""};
  while (!pending.empty()) {
    const std::string prefix = std::move(pending.back());
    pending.pop_back();
    const std::string rel = base.empty() ? prefix : (prefix.empty() ? base : base + "/" + prefix);
    int fd = rel.empty() ? ::openat(rootfd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                         : open_beneath(rootfd.get(), rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0) {
      if (errno == ENOENT && prefix.empty()) {
        return {};
      }
      throw_errno(describe(), "open directory", join_path(display, prefix), errno);
    }
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
      int e = errno;
      ::close(fd);
      throw_errno(describe(), "read directory", join_path(display, prefix), e);
    }
    for (;;) {
      errno = 0;
      dirent* d = ::readdir(dir);
      if (!d) {
        if (int e = errno; e != 0) {
          ::closedir(dir);
          throw_errno(describe(), "read directory", join_path(display, prefix), e);
        }
        break;
      }
      std::string name = d->d_name;
      if (name == "." || name == ".." || name.find(k_part_marker) != std::string::npos) {
        continue;
      }
      struct stat st {};
      if (::fstatat(::dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        continue;
      }
      std::string path = prefix.empty() ? name : prefix + "/" + name;
      if (S_ISDIR(st.st_mode)) {
        pending.push_back(std::move(path));
      } else if (S_ISREG(st.st_mode)) {
        DirEntry e;
        e.name = std::move(path);
        e.size = static_cast<std::uint64_t>(st.st_size);
        e.mtime_ns = stat_mtime_ns(st);
        out.push_back(std::move(e));
      }
    }
    ::closedir(dir);
  }
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

} // namespace clsync::transport
