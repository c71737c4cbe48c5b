// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Node::scan for local volumes: one thread per volume, openat/fstatat/readdir on descriptors.
#include "transport/chunk_files.hpp"
#include "transport/local_node.hpp"
#include "transport/safe_path.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <thread>
#include <unistd.h>

namespace clsync::transport {
namespace {

constexpr std::size_t k_max_intent_bytes = 1 << 20;

struct VolumeResult {
  VolumeScan volume;
  std::vector<ReplicaScan> replicas;
  std::vector<UnmanagedScan> unmanaged;
  std::vector<LeftoverScan> leftovers;
  std::vector<std::string> problems;
};

/// An entry of a directory, typed without following symlinks.
struct Entry {
  std::string name;
  enum Type { dir, file, other } type;
  struct stat st {};
  bool have_stat = false;
};

/// Reads the directory `fd` (consuming it). Returns false (and a problem) when unreadable.
bool list_entries(int fd, const std::string& path, bool stat_files, std::vector<Entry>& out,
                  std::vector<std::string>& problems)
{
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    problems.push_back("cannot read directory " + path + ": " + std::strerror(errno));
    ::close(fd);
    return false;
  }
  while (dirent* d = ::readdir(dir)) {
    if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) {
      continue;
    }
    Entry e;
    e.name = d->d_name;
    if (d->d_type == DT_DIR) {
      e.type = Entry::dir;
    } else if (d->d_type == DT_REG && !stat_files) {
      e.type = Entry::file;
    } else if (d->d_type != DT_REG && d->d_type != DT_UNKNOWN) {
      e.type = Entry::other;
    } else {
      if (::fstatat(::dirfd(dir), d->d_name, &e.st, AT_SYMLINK_NOFOLLOW) != 0) {
        continue;  // vanished since readdir
      }
      e.have_stat = true;
      e.type = S_ISDIR(e.st.st_mode) ? Entry::dir : S_ISREG(e.st.st_mode) ? Entry::file
                                                                         : Entry::other;
    }
    out.push_back(std::move(e));
  }
  ::closedir(dir);
  return true;
}

int open_subdir(int fd, const std::string& name)
{
  return ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

class VolumeScanner {
public:
  VolumeScanner(std::string who, const std::string& root, const ScanSpec& spec, VolumeResult& out)
      : m_who(std::move(who)), m_root(root), m_spec(spec), m_out(out)
  {
    for (const DatabaseLayout& db : spec.databases) {
      m_levels[db.name] = db.levels;
    }
  }

  void run()
  {
    m_out.volume.path = m_root;
    UniqueFd root(open_root(m_root));
    struct stat st {};
    struct statvfs vfs {};
    if (!root || ::fstat(root.get(), &st) != 0 || ::fstatvfs(root.get(), &vfs) != 0) {
      m_out.volume.ok = false;
      m_out.volume.error = m_who + ": cannot open volume " + m_root + ": " + std::strerror(errno);
      return;
    }
    m_out.volume.filesystem_id = static_cast<std::uint64_t>(st.st_dev);
    m_out.volume.capacity_bytes = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    m_out.volume.free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;

    std::vector<Entry> entries;
    int fd = ::openat(root.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || !list_entries(fd, m_root, false, entries, m_out.problems)) {
      m_out.volume.ok = false;
      m_out.volume.error = m_who + ": cannot read volume " + m_root + ": " + std::strerror(errno);
      return;
    }
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.name < b.name; });
    for (const Entry& e : entries) {
      std::string path = join_path(m_root, e.name);
      if (e.name.starts_with(".clsync")) {
        leftover(root.get(), e);
      } else if (e.name == "lost+found") {
        continue;
      } else if (e.type != Entry::dir) {
        m_out.problems.push_back(path + (e.type == Entry::file
                                             ? " is a stray file at the volume root"
                                             : " is a symlink or special file; not followed"));
      } else if (auto it = m_levels.find(e.name); it != m_levels.end()) {
        descend(root.get(), e.name, e.name, it->second + 1);
      } else {
        unmanaged(root.get(), e.name, e.name);
      }
    }
    std::sort(m_out.replicas.begin(), m_out.replicas.end(),
              [](const ReplicaScan& a, const ReplicaScan& b) { return a.key < b.key; });
    std::sort(m_out.unmanaged.begin(), m_out.unmanaged.end(),
              [](const UnmanagedScan& a, const UnmanagedScan& b) { return a.path < b.path; });
  }

private:
  void leftover(int rootfd, const Entry& e)
  {
    LeftoverScan l;
    l.volume = m_root;
    l.name = e.name;
    static const std::pair<const char*, const char*> k_kinds[] = {
        {".clsync-tmp-", "tmp"},
        {".clsync-trash-", "trash"},
        {".clsync-intent-", "intent"},
        {".clsync-part-intent-", "other"},
    };
    l.kind = "other";
    if (e.name == k_lease_name) {
      l.kind = "lease";
    }
    for (const auto& [prefix, kind] : k_kinds) {
      if (e.name.starts_with(prefix) && e.name.size() > std::strlen(prefix)) {
        l.kind = kind;
        l.task = e.name.substr(std::strlen(prefix));
        break;
      }
    }
    if (l.kind == "intent") {
      UniqueFd fd(::openat(rootfd, e.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      std::string content;
      char buf[8192];
      ssize_t n = 0;
      while (fd && content.size() < k_max_intent_bytes &&
             (n = ::read(fd.get(), buf, sizeof buf)) > 0) {
        content.append(buf, static_cast<std::size_t>(n));
      }
      if (!fd || n < 0) {
        m_out.problems.push_back("cannot read intent " + join_path(m_root, e.name) + ": " +
                                 std::strerror(errno));
      }
      l.content = std::move(content);
    }
    m_out.leftovers.push_back(std::move(l));
  }

  /// `fd_parent`/`name` is the directory at `rel`; `remaining` directory levels lead to a chunk.
  void descend(int fd_parent, const std::string& name, const std::string& rel, std::size_t remaining)
  {
    int fd = open_subdir(fd_parent, name);
    if (fd < 0) {
      m_out.problems.push_back("cannot open directory " + join_path(m_root, rel) + ": " +
                               std::strerror(errno));
      return;
    }
    if (remaining == 0) {
      UniqueFd chunk(fd);
      scan_chunk(chunk.get(), rel);
      return;
    }
    std::vector<Entry> entries;
    UniqueFd keep(::fcntl(fd, F_DUPFD_CLOEXEC, 0));  // for openat only; never read
    if (!list_entries(fd, join_path(m_root, rel), false, entries, m_out.problems) || !keep) {
      return;
    }
    for (const Entry& e : entries) {
      std::string sub = rel + "/" + e.name;
      if (e.name.starts_with(".clsync")) {
        m_out.problems.push_back(join_path(m_root, sub) +
                                 " uses a name reserved for clsync inside a database; ignored");
      } else if (e.type == Entry::dir) {
        descend(keep.get(), e.name, sub, remaining - 1);
      } else if (e.type == Entry::file) {
        m_out.problems.push_back(join_path(m_root, sub) +
                                 " is a stray file above the chunk level of its database");
      } else {
        m_out.problems.push_back(join_path(m_root, sub) +
                                 " is a symlink or special file above the chunk level; not followed");
      }
    }
  }

  void scan_chunk(int fd, const std::string& key)
  {
    std::string display = join_path(m_root, key);
    ChunkFiles walk = walk_chunk(fd, display);
    ReplicaScan r;
    r.volume = m_root;
    r.key = key;
    r.bytes = walk.bytes;
    r.files = walk.files.size();
    r.newest_mtime_ns = walk.newest_mtime_ns;
    r.fingerprint = walk.fingerprint();
    r.layout_hash = walk.layout();
    r.special = walk.special;
    for (std::string& p : walk.problems) {
      m_out.problems.push_back(std::move(p));
    }
    if (m_spec.with_hashes) {
      try {
        r.content_hash = stream_chunk(fd, walk, nullptr, m_who, display).content_hash;
      } catch (const TransportError& e) {
        m_out.problems.push_back(e.what());
      }
    }
    if (m_spec.with_files) {
      r.file_list = std::move(walk.files);
    }
    m_out.replicas.push_back(std::move(r));
  }

  /// Each directory under an undeclared top-level directory that directly holds regular files.
  void unmanaged(int fd_parent, const std::string& name, const std::string& rel)
  {
    int fd = open_subdir(fd_parent, name);
    if (fd < 0) {
      m_out.problems.push_back("cannot open directory " + join_path(m_root, rel) + ": " +
                               std::strerror(errno));
      return;
    }
    UniqueFd keep(::fcntl(fd, F_DUPFD_CLOEXEC, 0));  // for openat only; never read
    std::vector<Entry> entries;
    if (!list_entries(fd, join_path(m_root, rel), true, entries, m_out.problems) || !keep) {
      return;
    }
    UnmanagedScan u;
    u.volume = m_root;
    u.path = rel;
    for (const Entry& e : entries) {
      if (e.type == Entry::file) {
        u.bytes += static_cast<std::uint64_t>(e.st.st_size);
        ++u.files;
      } else if (e.type == Entry::dir) {
        unmanaged(keep.get(), e.name, rel + "/" + e.name);
      }
    }
    if (u.files > 0) {
      m_out.unmanaged.push_back(std::move(u));
    }
  }

  std::string m_who;
  std::string m_root;
  const ScanSpec& m_spec;
  VolumeResult& m_out;
  std::map<std::string, std::size_t> m_levels;
};

} // namespace

NodeScan LocalNode::scan(const ScanSpec& spec)
{
  std::vector<VolumeResult> results(roots().size());
  std::vector<std::thread> threads;
  std::string who = describe();
  for (std::size_t i = 0; i < roots().size(); ++i) {
    threads.emplace_back([&, i] {
      try {
        VolumeScanner(who, roots()[i], spec, results[i]).run();
      } catch (const std::exception& e) {
        results[i].volume.path = roots()[i];
        results[i].volume.ok = false;
        results[i].volume.error = who + ": scan of " + roots()[i] + " failed: " + e.what();
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  NodeScan scan;
  for (VolumeResult& r : results) {
    scan.volumes.push_back(std::move(r.volume));
    std::move(r.replicas.begin(), r.replicas.end(), std::back_inserter(scan.replicas));
    std::move(r.unmanaged.begin(), r.unmanaged.end(), std::back_inserter(scan.unmanaged));
    std::move(r.leftovers.begin(), r.leftovers.end(), std::back_inserter(scan.leftovers));
    std::move(r.problems.begin(), r.problems.end(), std::back_inserter(scan.problems));
  }
  return scan;
}

} // namespace clsync::transport
