// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Node::scan for local volumes: openat/fstatat/readdir on descriptors; the subtrees of all
// volumes are shared out to a few threads.
#include "transport/chunk_files.hpp"
#include "transport/host_identity.hpp"
#include "transport/local_node.hpp"
#include "transport/safe_path.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <set>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <thread>
#include <unistd.h>

namespace clsync::transport {
namespace {

constexpr std::size_t k_max_intent_bytes = 1 << 20;
constexpr std::size_t k_max_scan_threads = 8;

struct VolumeResult {
  VolumeScan volume;
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
  while (true) {
    // readdir returns null both at the end and on an error; only errno tells them apart.
    errno = 0;
    dirent* d = ::readdir(dir);
    if (!d) {
      if (errno != 0) {
        int e = errno;
        problems.push_back("cannot read directory " + path + ": " + std::strerror(e));
        ::closedir(dir);
        errno = e;
        return false;
      }
      break;
    }
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

/// Replicas found by a work item go to the scan's sink this many at a time.
constexpr std::size_t k_replica_batch = 256;

/// The scan's sink, shared by its threads: one call at a time. The first exception the sink
/// throws stops the handing over and is rethrown by the scan once its threads are done.
class BatchSink {
public:
  explicit BatchSink(const Node::ReplicaBatchSink& sink) : m_sink(sink) {}

  void hand_over(std::vector<ReplicaScan>& batch)
  {
    if (batch.empty()) {
      return;
    }
    std::lock_guard lock(m_mutex);
    if (!m_failure) {
      try {
        m_sink(batch);
      } catch (...) {
        m_failure = std::current_exception();
      }
    }
    batch.clear();
  }
  void rethrow()
  {
    if (m_failure) {
      std::rethrow_exception(m_failure);
    }
  }

private:
  const Node::ReplicaBatchSink& m_sink;
  std::mutex m_mutex;
  std::exception_ptr m_failure;
};

/// What one unit of scanning work produced. Replicas are handed to `sink` as they fill a batch.
struct Output {
  BatchSink* sink = nullptr;
  std::vector<ReplicaScan> replicas;
  std::vector<UnmanagedScan> unmanaged;
  std::vector<std::string> problems;
};

/// One directory below a volume root to scan: a subtree of a declared database
/// (`remaining` directory levels above its chunks) or an undeclared top-level directory.
struct WorkItem {
  std::size_t volume = 0;
  std::string rel;
  std::size_t remaining = 0;
  bool managed = true;
};

/// Scans one volume: the root itself in prepare() (capacity, leftovers, the work list), then
/// the work items, which any thread may run (they only share the read-only root descriptor).
class VolumeScanner {
public:
  VolumeScanner(std::string who, std::string root, std::size_t index, const ScanSpec& spec)
      : m_who(std::move(who)), m_root(std::move(root)), m_index(index), m_spec(spec)
  {
    for (const DatabaseLayout& db : spec.databases) {
      m_levels[db.name] = db.levels;
    }
    m_skip.insert(spec.skip_databases.begin(), spec.skip_databases.end());
  }

  /// Fills `out` with the volume's state and leftovers; appends the work to `items`.
  void prepare(VolumeResult& out, std::vector<WorkItem>& items)
  {
    out.volume.path = m_root;
    m_fd.reset(open_root(m_root));
    struct stat st {};
    struct statvfs vfs {};
    if (!m_fd || ::fstat(m_fd.get(), &st) != 0 || ::fstatvfs(m_fd.get(), &vfs) != 0) {
      out.volume.ok = false;
      out.volume.error = m_who + ": cannot open volume " + m_root + ": " + std::strerror(errno);
      return;
    }
    out.volume.filesystem_id = static_cast<std::uint64_t>(st.st_dev);
    // open_root follows the configured path as the OS resolves it: a symlink gives its
    // target's inode, a bind mount its source's device and inode.
    out.volume.machine_id = this_host_identity().machine_id;
    out.volume.device = static_cast<std::uint64_t>(st.st_dev);
    out.volume.inode = static_cast<std::uint64_t>(st.st_ino);
    out.volume.capacity_bytes = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    out.volume.free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;

    std::vector<Entry> entries;
    int fd = ::openat(m_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || !list_entries(fd, m_root, false, entries, out.problems)) {
      out.volume.ok = false;
      out.volume.error = m_who + ": cannot read volume " + m_root + ": " + std::strerror(errno);
      return;
    }
    for (const Entry& e : entries) {
      std::string path = join_path(m_root, e.name);
      if (e.name.starts_with(".clsync")) {
        out.leftovers.push_back(leftover(e, out.problems));
      } else if (e.name == "lost+found") {
        continue;
      } else if (e.type == Entry::dir && m_skip.count(e.name) != 0) {
        continue;
      } else if (e.type != Entry::dir) {
        out.problems.push_back(path + (e.type == Entry::file
                                           ? " is a stray file at the volume root"
                                           : " is a symlink or special file; not followed"));
      } else if (auto it = m_levels.find(e.name); it != m_levels.end()) {
        split_database(e.name, it->second + 1, out.problems, items);
      } else {
        items.push_back({m_index, e.name, 0, false});
      }
    }
    std::sort(out.leftovers.begin(), out.leftovers.end(),
              [](const LeftoverScan& a, const LeftoverScan& b) { return a.name < b.name; });
  }

  void process(const WorkItem& item, Output& out)
  {
    std::size_t slash = item.rel.rfind('/');
    UniqueFd parent;
    int parent_fd = m_fd.get();
    if (slash != std::string::npos) {
      parent.reset(open_beneath(m_fd.get(), item.rel.substr(0, slash), O_RDONLY | O_DIRECTORY));
      if (!parent) {
        out.problems.push_back("cannot open directory " + join_path(m_root, item.rel) + ": " +
                               std::strerror(errno));
        return;
      }
      parent_fd = parent.get();
    }
    std::string name = slash == std::string::npos ? item.rel : item.rel.substr(slash + 1);
    if (item.managed) {
      descend(parent_fd, name, item.rel, item.remaining, out);
    } else {
      unmanaged(parent_fd, name, item.rel, out);
    }
  }

private:
  /// A database's first-level directories become separate work items, so that one large
  /// database is scanned by several threads.
  void split_database(const std::string& db, std::size_t remaining,
                      std::vector<std::string>& problems, std::vector<WorkItem>& items)
  {
    int fd = open_subdir(m_fd.get(), db);
    if (fd < 0) {
      problems.push_back("cannot open directory " + join_path(m_root, db) + ": " +
                         std::strerror(errno));
      return;
    }
    std::vector<Entry> entries;
    if (!list_entries(fd, join_path(m_root, db), false, entries, problems)) {
      return;
    }
    for (const Entry& e : entries) {
      classify(db, e, problems, [&](const std::string& sub) {
        items.push_back({m_index, sub, remaining - 1, true});
      });
    }
  }

  /// Sorts one entry of a database directory at `rel`: subdirectories go to `next`, anything
  /// else is a problem (stray files, symlinks, clsync's reserved names).
  template <typename Next>
  void classify(const std::string& rel, const Entry& e, std::vector<std::string>& problems,
                Next&& next)
  {
    std::string sub = rel + "/" + e.name;
    if (e.name.starts_with(".clsync")) {
      problems.push_back(join_path(m_root, sub) +
                         " uses a name reserved for clsync inside a database; ignored");
    } else if (e.type == Entry::dir) {
      next(sub);
    } else if (e.type == Entry::file) {
      problems.push_back(join_path(m_root, sub) +
                         " is a stray file above the chunk level of its database");
    } else {
      problems.push_back(join_path(m_root, sub) +
                         " is a symlink or special file above the chunk level; not followed");
    }
  }

  LeftoverScan leftover(const Entry& e, std::vector<std::string>& problems)
  {
    LeftoverScan l;
    l.volume = m_root;
    l.name = e.name;
    static const std::pair<const char*, const char*> k_kinds[] = {
        {".clsync-tmp-", "tmp"},
        {".clsync-trash-", "trash"},
        {".clsync-intent-", "intent"},
        {".clsync-part-intent-", "other"},
        {".clsync-hold-", "hold"},
    };
    l.kind = e.name == k_lease_name ? "lease" : "other";
    for (const auto& [prefix, kind] : k_kinds) {
      if (e.name.starts_with(prefix) && e.name.size() > std::strlen(prefix)) {
        l.kind = kind;
        l.task = e.name.substr(std::strlen(prefix));
        break;
      }
    }
    if (l.kind == "intent" || l.kind == "hold") {
      UniqueFd fd(::openat(m_fd.get(), e.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      std::string content;
      char buf[8192];
      ssize_t n = 0;
      while (fd && content.size() < k_max_intent_bytes &&
             (n = ::read(fd.get(), buf, sizeof buf)) > 0) {
        content.append(buf, static_cast<std::size_t>(n));
      }
      if (!fd || n < 0) {
        problems.push_back("cannot read intent " + join_path(m_root, e.name) + ": " +
                           std::strerror(errno));
      }
      l.content = std::move(content);
    }
    return l;
  }

  /// `fd_parent`/`name` is the directory at `rel`; `remaining` directory levels lead to a chunk.
  void descend(int fd_parent, const std::string& name, const std::string& rel,
               std::size_t remaining, Output& out)
  {
    int fd = open_subdir(fd_parent, name);
    if (fd < 0) {
      out.problems.push_back("cannot open directory " + join_path(m_root, rel) + ": " +
                             std::strerror(errno));
      return;
    }
    if (remaining == 0) {
      UniqueFd chunk(fd);
      scan_chunk(chunk.get(), rel, out);
      return;
    }
    std::vector<Entry> entries;
    UniqueFd keep(::fcntl(fd, F_DUPFD_CLOEXEC, 0));  // for openat only; never read
    if (!list_entries(fd, join_path(m_root, rel), false, entries, out.problems) || !keep) {
      return;
    }
    for (const Entry& e : entries) {
      classify(rel, e, out.problems, [&](const std::string& sub) {
        descend(keep.get(), e.name, sub, remaining - 1, out);
      });
    }
  }

  void scan_chunk(int fd, const std::string& key, Output& out)
  {
    std::string display = join_path(m_root, key);
    ChunkFiles walk = walk_chunk(fd, display);
    ReplicaScan r;
    r.volume = m_root;
    r.key = key;
    r.bytes = walk.bytes;
    r.allocated_bytes = walk.allocated_bytes;
    r.files = walk.files.size();
    r.newest_mtime_ns = walk.newest_mtime_ns;
    r.fingerprint = walk.fingerprint();
    r.layout_hash = walk.layout();
    r.special = walk.special;
    const bool whole = walk.problems.empty();
    for (std::string& p : walk.problems) {
      out.problems.push_back(std::move(p));
    }
    // A walk with problems saw part of the chunk: no content hash may vouch for it.
    if (m_spec.with_hashes && whole) {
      try {
        r.content_hash = stream_chunk(fd, walk, nullptr, m_who, display).content_hash;
      } catch (const TransportError& e) {
        out.problems.push_back(e.what());
      }
    }
    if (m_spec.with_files) {
      r.file_list = std::move(walk.files);
    }
    out.replicas.push_back(std::move(r));
    if (out.replicas.size() >= k_replica_batch) {
      out.sink->hand_over(out.replicas);
    }
  }

  /// Each directory under an undeclared top-level directory that directly holds regular files.
  void unmanaged(int fd_parent, const std::string& name, const std::string& rel, Output& out)
  {
    int fd = open_subdir(fd_parent, name);
    if (fd < 0) {
      out.problems.push_back("cannot open directory " + join_path(m_root, rel) + ": " +
                             std::strerror(errno));
      return;
    }
    UniqueFd keep(::fcntl(fd, F_DUPFD_CLOEXEC, 0));  // for openat only; never read
    std::vector<Entry> entries;
    if (!list_entries(fd, join_path(m_root, rel), true, entries, out.problems) || !keep) {
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
        unmanaged(keep.get(), e.name, rel + "/" + e.name, out);
      }
    }
    if (u.files > 0) {
      out.unmanaged.push_back(std::move(u));
    }
  }

  std::string m_who;
  std::string m_root;
  std::size_t m_index;
  const ScanSpec& m_spec;
  UniqueFd m_fd;
  std::map<std::string, std::size_t> m_levels;
  std::set<std::string> m_skip;  ///< ScanSpec::skip_databases
};

} // namespace

NodeScan LocalNode::scan(const ScanSpec& spec)
{
  // Every replica at once, sorted by volume (in configured order), then key.
  std::vector<ReplicaScan> replicas;
  NodeScan scan = scan_batched(spec, [&](std::vector<ReplicaScan>& batch) {
    std::move(batch.begin(), batch.end(), std::back_inserter(replicas));
  });
  auto volume_of = [&](const ReplicaScan& r) {
    return std::find(roots().begin(), roots().end(), r.volume) - roots().begin();
  };
  std::sort(replicas.begin(), replicas.end(), [&](const ReplicaScan& a, const ReplicaScan& b) {
    const auto va = volume_of(a);
    const auto vb = volume_of(b);
    return va != vb ? va < vb : a.key < b.key;
  });
  scan.replicas = std::move(replicas);
  return scan;
}

NodeScan LocalNode::scan_batched(const ScanSpec& spec, const ReplicaBatchSink& sink)
{
  std::string who = describe();
  std::vector<VolumeResult> results(roots().size());
  std::vector<std::unique_ptr<VolumeScanner>> scanners;
  std::vector<WorkItem> items;
  for (std::size_t i = 0; i < roots().size(); ++i) {
    scanners.push_back(std::make_unique<VolumeScanner>(who, roots()[i], i, spec));
    try {
      scanners[i]->prepare(results[i], items);
    } catch (const std::exception& e) {
      results[i].volume.path = roots()[i];
      results[i].volume.ok = false;
      results[i].volume.error = who + ": scan of " + roots()[i] + " failed: " + e.what();
    }
  }

  // Metadata scans are bound by system calls, so several threads help even on one disk.
  // Replicas leave in batches as they are found: the scan never holds its whole list.
  BatchSink batches(sink);
  std::vector<Output> outputs(items.size());
  std::vector<std::string> failures(items.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < items.size(); i = next++) {
      outputs[i].sink = &batches;
      try {
        scanners[items[i].volume]->process(items[i], outputs[i]);
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
      batches.hand_over(outputs[i].replicas);
      std::vector<ReplicaScan>().swap(outputs[i].replicas);
    }
  };
  std::size_t hw = std::max(1u, std::thread::hardware_concurrency());
  std::size_t n_threads = std::min<std::size_t>({hw, k_max_scan_threads, items.size()});
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < n_threads; ++t) {
    threads.emplace_back(worker);
  }
  worker();
  for (std::thread& t : threads) {
    t.join();
  }
  batches.rethrow();

  for (std::size_t i = 0; i < items.size(); ++i) {
    VolumeResult& r = results[items[i].volume];
    Output& o = outputs[i];
    std::move(o.unmanaged.begin(), o.unmanaged.end(), std::back_inserter(r.unmanaged));
    std::move(o.problems.begin(), o.problems.end(), std::back_inserter(r.problems));
    if (!failures[i].empty()) {
      r.problems.push_back(who + ": scan of " + join_path(roots()[items[i].volume], items[i].rel) +
                           " failed: " + failures[i]);
    }
  }
  NodeScan scan;
  for (VolumeResult& r : results) {
    std::sort(r.unmanaged.begin(), r.unmanaged.end(),
              [](const UnmanagedScan& a, const UnmanagedScan& b) { return a.path < b.path; });
    scan.volumes.push_back(std::move(r.volume));
    std::move(r.unmanaged.begin(), r.unmanaged.end(), std::back_inserter(scan.unmanaged));
    std::move(r.leftovers.begin(), r.leftovers.end(), std::back_inserter(scan.leftovers));
    std::move(r.problems.begin(), r.problems.end(), std::back_inserter(scan.problems));
  }
  return scan;
}

} // namespace clsync::transport
