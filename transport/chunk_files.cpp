// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/chunk_files.hpp"

#include "transport/posix_io.hpp"
#include "transport/safe_path.hpp"
#include "transport/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

namespace clsync::transport {
namespace {

constexpr std::size_t k_chunk_buffer_size = 1 << 20;

struct RawFile {
  FileEntry entry;
  dev_t dev = 0;
  ino_t ino = 0;
  nlink_t nlink = 1;
  std::uint64_t allocated = 0;
};

void walk_dir(int fd,
              const std::string& prefix,
              const std::string& display,
              std::vector<RawFile>& files,
              ChunkFiles& out)
{
  struct stat dst {};
  if (::fstat(fd, &dst) != 0) {
    out.problems.push_back("cannot stat directory " + join_path(display, prefix) + ": " +
                           std::strerror(errno));
    ::close(fd);
    return;
  }
  out.dirs.push_back({prefix, stat_mtime_ns(dst), static_cast<std::uint32_t>(dst.st_mode & 07777),
                      dst.st_uid, dst.st_gid});
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    out.problems.push_back("cannot read directory " + join_path(display, prefix) + ": " +
                           std::strerror(errno));
    ::close(fd);
    return;
  }
  std::vector<std::string> subdirs;
  while (true) {
    // readdir returns null both at the end and on an error; only errno tells them apart.
    errno = 0;
    dirent* d = ::readdir(dir);
    if (!d) {
      if (errno != 0) {
        out.problems.push_back("cannot read directory " + join_path(display, prefix) + ": " +
                               std::strerror(errno));
      }
      break;
    }
    const char* name = d->d_name;
    if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) {
      continue;
    }
    std::string rel = prefix.empty() ? std::string(name) : prefix + "/" + name;
    unsigned char type = d->d_type;
    if (type == DT_DIR) {
      subdirs.push_back(name);
      continue;
    }
    if (type != DT_REG && type != DT_UNKNOWN) {
      out.special.push_back(std::move(rel));
      continue;
    }
    struct stat st {};
    if (::fstatat(::dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) {
        out.problems.push_back("cannot stat " + join_path(display, rel) + ": " +
                               std::strerror(errno));
      }
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      subdirs.push_back(name);
    } else if (!S_ISREG(st.st_mode)) {
      out.special.push_back(std::move(rel));
    } else {
      RawFile f;
      f.entry.path = std::move(rel);
      f.entry.size = static_cast<std::uint64_t>(st.st_size);
      f.entry.mtime_ns = stat_mtime_ns(st);
      f.entry.mode = st.st_mode & 07777;
      f.entry.uid = st.st_uid;
      f.entry.gid = st.st_gid;
      f.dev = st.st_dev;
      f.ino = st.st_ino;
      f.nlink = st.st_nlink;
      f.allocated = static_cast<std::uint64_t>(st.st_blocks) * 512;
      files.push_back(std::move(f));
    }
  }
  int dirfd_int = ::dirfd(dir);
  for (const std::string& name : subdirs) {
    std::string rel = prefix.empty() ? name : prefix + "/" + name;
    int sub = ::openat(dirfd_int, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) {
      if (errno == ELOOP || errno == ENOTDIR) {
        out.special.push_back(rel);  // replaced by a symlink or file since readdir
      } else if (errno != ENOENT) {
        out.problems.push_back("cannot open directory " + join_path(display, rel) + ": " +
                               std::strerror(errno));
      }
      continue;
    }
    walk_dir(sub, rel, display, files, out);
  }
  ::closedir(dir);
}

[[noreturn]] void shrank(const std::string& who, const std::string& path)
{
  throw TransportError(FailureKind::error,
                       who + ": " + path + " shrank while the chunk was read", true);
}

/// Reads [begin, end) of `fd` into the hash and the sink.
/// The read buffer of this thread, kept between chunks: a fresh one is zeroed and faulted in for
/// every chunk, which for small chunks costs as much as reading them. A read nested in another
/// on the same thread (a sink that reads) gets a buffer of its own.
class ReadBuffer {
public:
  ReadBuffer() : m_shared(!t_busy)
  {
    if (m_shared) {
      t_busy = true;
      if (t_buffer.size() != k_chunk_buffer_size) {
        t_buffer.resize(k_chunk_buffer_size);
      }
    } else {
      m_own.resize(k_chunk_buffer_size);
    }
  }
  ~ReadBuffer()
  {
    if (m_shared) {
      t_busy = false;
    }
  }
  ReadBuffer(const ReadBuffer&) = delete;
  ReadBuffer& operator=(const ReadBuffer&) = delete;
  std::vector<char>& get() { return m_shared ? t_buffer : m_own; }

private:
  static thread_local std::vector<char> t_buffer;
  static thread_local bool t_busy;
  bool m_shared;
  std::vector<char> m_own;
};

thread_local std::vector<char> ReadBuffer::t_buffer;
thread_local bool ReadBuffer::t_busy = false;

void send_data(int fd, std::uint64_t begin, std::uint64_t end, std::vector<char>& buffer,
               Sha256& sha, ChunkSink* sink, const std::string& who, const std::string& path)
{
  while (begin < end) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(end - begin, buffer.size()));
    ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(begin));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_errno(who, "read", path, errno);
    }
    if (n == 0) {
      shrank(who, path);
    }
    std::span<const char> data(buffer.data(), static_cast<std::size_t>(n));
    sha.update(data);
    if (sink) {
      sink->file_data(data);
    }
    begin += static_cast<std::uint64_t>(n);
  }
}

/// Sends the first `size` bytes of `fd`: data extents as file_data, holes (SEEK_DATA /
/// SEEK_HOLE) as file_hole, hashing a hole's zeros here without reading them. A filesystem
/// without SEEK_DATA is read whole.
void send_extents(int fd, std::uint64_t size, std::vector<char>& buffer, Sha256& sha,
                  ChunkSink* sink, const std::string& who, const std::string& path)
{
  bool seek = true;
  std::uint64_t off = 0;
  while (off < size) {
    std::uint64_t data = off;
    if (seek) {
      off_t at = ::lseek(fd, static_cast<off_t>(off), SEEK_DATA);
      if (at >= 0) {
        data = std::min<std::uint64_t>(static_cast<std::uint64_t>(at), size);
      } else if (errno == ENXIO) {
        data = size;  // nothing but a hole up to the end of the file
      } else if (errno == EINVAL || errno == EOPNOTSUPP) {
        seek = false;
      } else {
        throw_errno(who, "seek data in", path, errno);
      }
    }
    if (data > off) {
      update_zeros(sha, data - off);
      if (sink) {
        sink->file_hole(data - off);
      }
      off = data;
      continue;
    }
    std::uint64_t end = size;
    if (seek) {
      off_t at = ::lseek(fd, static_cast<off_t>(off), SEEK_HOLE);
      if (at < 0 && errno != ENXIO) {
        throw_errno(who, "seek a hole in", path, errno);
      }
      if (at > static_cast<off_t>(off)) {
        end = std::min<std::uint64_t>(static_cast<std::uint64_t>(at), size);
      }
    }
    send_data(fd, off, end, buffer, sha, sink, who, path);
    off = end;
  }
  // A file cut short since the walk reads as a hole up to the announced size: catch it here.
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw_errno(who, "stat", path, errno);
  }
  if (static_cast<std::uint64_t>(st.st_size) < size) {
    shrank(who, path);
  }
}

} // namespace

void ChunkSink::file_hole(std::uint64_t length)
{
  static const std::vector<char> k_zeros(256 * 1024, '\0');
  while (length > 0) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(length, k_zeros.size()));
    file_data(std::span<const char>(k_zeros.data(), n));
    length -= n;
  }
}

void ChunkSink::directory(const ChunkDir&) {}

ChunkFiles walk_chunk(int dirfd, const std::string& display)
{
  ChunkFiles out;
  std::vector<RawFile> raw;
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    out.problems.push_back("cannot read directory " + display + ": " + std::strerror(errno));
    return out;
  }
  walk_dir(fd, "", display, raw, out);
  std::sort(raw.begin(), raw.end(),
            [](const RawFile& a, const RawFile& b) { return a.entry.path < b.entry.path; });
  std::sort(out.special.begin(), out.special.end());
  std::sort(out.dirs.begin(), out.dirs.end(),
            [](const ChunkDir& a, const ChunkDir& b) { return a.path < b.path; });
  std::map<std::pair<dev_t, ino_t>, std::string> first_name;
  out.files.reserve(raw.size());
  for (RawFile& f : raw) {
    if (f.nlink > 1) {
      auto [it, inserted] = first_name.try_emplace({f.dev, f.ino}, f.entry.path);
      if (!inserted) {
        f.entry.link_to = it->second;
      }
    }
    if (f.entry.link_to.empty()) {
      out.allocated_bytes += f.allocated;
    }
    out.bytes += f.entry.size;
    out.newest_mtime_ns = std::max(out.newest_mtime_ns, f.entry.mtime_ns);
    out.files.push_back(std::move(f.entry));
  }
  return out;
}

namespace {

/// The files after the one being read, opened ahead with their pages asked for
/// (POSIX_FADV_WILLNEED): the kernel reads a cold chunk's many small files from disk while the
/// caller hashes and sends the current one, instead of waiting on each file's first read in
/// turn. At most k_files files and k_bytes bytes ahead, so a chunk of 100,000 files holds a
/// handful of descriptors; and only within one directory, whose files are opened once the read
/// reaches it (or the last file before it), so a directory swapped for a symlink mid-read is
/// refused by name, never read through.
class FilesAhead {
public:
  FilesAhead(int dirfd, const std::vector<FileEntry>& files) : m_dirfd(dirfd), m_files(files) {}

  /// The open descriptor of file `i` (which has no link_to), or -1 with errno set; asks for
  /// the files after it.
  UniqueFd take(std::size_t i)
  {
    fill(i);
    UniqueFd fd;
    int e = 0;
    if (!m_ahead.empty() && m_ahead.front().index == i) {
      fd = std::move(m_ahead.front().fd);
      e = m_ahead.front().error;
      m_bytes -= m_files[i].size;
      m_ahead.erase(m_ahead.begin());
    } else {
      fd = open_file(i, e);
    }
    fill(i + 1);
    errno = e;
    return fd;
  }

private:
  static constexpr std::size_t k_files = 16;
  static constexpr std::uint64_t k_bytes = 8u << 20;

  struct Ahead {
    std::size_t index;
    UniqueFd fd;
    int error;
  };

  UniqueFd open_file(std::size_t i, int& error) const
  {
    UniqueFd fd(open_beneath(m_dirfd, m_files[i].path, O_RDONLY | O_NOFOLLOW));
    error = fd ? 0 : errno;
    if (fd) {
      ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    return fd;
  }

  /// Opens files from `from` on (skipping hard links to earlier ones) while the window has room.
  void fill(std::size_t from)
  {
    if (from >= m_files.size()) {
      return;
    }
    const std::string_view dir = parent_of(m_files[from].path);
    std::size_t next = std::max(from, m_next);
    while (next < m_files.size() && m_ahead.size() < k_files && m_bytes < k_bytes) {
      const FileEntry& f = m_files[next];
      if (parent_of(f.path) != dir) {
        break;
      }
      if (f.link_to.empty()) {
        Ahead a{next, {}, 0};
        a.fd = open_file(next, a.error);
        if (a.fd && f.size > 0) {
          // A big file's first k_bytes: sequential readahead takes it on from there.
          const std::uint64_t len = std::min<std::uint64_t>(f.size, k_bytes);
          ::posix_fadvise(a.fd.get(), 0, static_cast<off_t>(len), POSIX_FADV_WILLNEED);
        }
        m_bytes += f.size;
        m_ahead.push_back(std::move(a));
      }
      ++next;
    }
    m_next = next;
  }

  static std::string_view parent_of(const std::string& path)
  {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string_view() : std::string_view(path).substr(0, slash);
  }

  int m_dirfd;
  const std::vector<FileEntry>& m_files;
  std::vector<Ahead> m_ahead;  ///< in file order, all after the file being read
  std::size_t m_next = 0;      ///< the first file not yet considered
  std::uint64_t m_bytes = 0;   ///< bytes of the files in m_ahead
};

} // namespace

ChunkDigest stream_chunk(int dirfd,
                         const ChunkFiles& walk,
                         ChunkSink* sink,
                         const std::string& who,
                         const std::string& display,
                         std::vector<HashedFile>* hashed)
{
  std::vector<HashedFile> local;
  std::vector<HashedFile>& out = hashed ? *hashed : local;
  out.clear();
  out.reserve(walk.files.size());
  std::map<std::string, std::size_t> index;  // path → position in `out`, for hard links
  ReadBuffer read_buffer;
  std::vector<char>& buffer = read_buffer.get();
  Sha256 sha;
  ChunkDigest digest;
  FilesAhead ahead(dirfd, walk.files);
  for (std::size_t i = 0; i < walk.files.size(); ++i) {
    const FileEntry& f = walk.files[i];
    std::string path = join_path(display, f.path);
    if (!f.link_to.empty()) {
      auto it = index.find(f.link_to);
      std::string target_sha = it == index.end() ? std::string() : out[it->second].sha256;
      if (sink) {
        sink->begin_file(f);
        sink->end_file(target_sha);
      }
      index[f.path] = out.size();
      out.push_back({f.path, f.size, target_sha, f.mode});
      digest.bytes += f.size;
      ++digest.files;
      continue;
    }
    UniqueFd fd = ahead.take(i);
    if (!fd) {
      int e = errno;
      if (e == ENOENT) {
        throw TransportError(FailureKind::error,
                             who + ": " + path + " vanished while the chunk was read", true);
      }
      throw_errno(who, "open", path, e);
    }
    if (sink) {
      sink->begin_file(f);
    }
    send_extents(fd.get(), f.size, buffer, sha, sink, who, path);
    std::string hex = sha.finish_hex();
    if (sink) {
      sink->end_file(hex);
    }
    index[f.path] = out.size();
    out.push_back({f.path, f.size, std::move(hex), f.mode});
    digest.bytes += f.size;
    ++digest.files;
  }
  if (sink) {
    for (auto it = walk.dirs.rbegin(); it != walk.dirs.rend(); ++it) {
      sink->directory(*it);
    }
  }
  digest.content_hash = content_hash(out, walk.dirs);
  digest.fingerprint = walk.fingerprint();
  return digest;
}

} // namespace clsync::transport
