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
#include <sys/stat.h>
#include <unistd.h>

namespace clsync::transport {
namespace {

constexpr std::size_t k_buffer_size = 1 << 20;

struct RawFile {
  FileEntry entry;
  dev_t dev = 0;
  ino_t ino = 0;
  nlink_t nlink = 1;
};

std::int64_t mtime_ns(const struct stat& st)
{
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

void walk_dir(int fd,
              const std::string& prefix,
              const std::string& display,
              std::vector<RawFile>& files,
              ChunkFiles& out)
{
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    out.problems.push_back("cannot read directory " + join_path(display, prefix) + ": " +
                           std::strerror(errno));
    ::close(fd);
    return;
  }
  std::vector<std::string> subdirs;
  errno = 0;
  while (dirent* d = ::readdir(dir)) {
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
      f.entry.mtime_ns = mtime_ns(st);
      f.entry.mode = st.st_mode & 07777;
      f.entry.uid = st.st_uid;
      f.entry.gid = st.st_gid;
      f.dev = st.st_dev;
      f.ino = st.st_ino;
      f.nlink = st.st_nlink;
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

} // namespace

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
  std::map<std::pair<dev_t, ino_t>, std::string> first_name;
  out.files.reserve(raw.size());
  for (RawFile& f : raw) {
    if (f.nlink > 1) {
      auto [it, inserted] = first_name.try_emplace({f.dev, f.ino}, f.entry.path);
      if (!inserted) {
        f.entry.link_to = it->second;
      }
    }
    out.bytes += f.entry.size;
    out.newest_mtime_ns = std::max(out.newest_mtime_ns, f.entry.mtime_ns);
    out.files.push_back(std::move(f.entry));
  }
  return out;
}

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
  std::vector<char> buffer(k_buffer_size);
  Sha256 sha;
  ChunkDigest digest;
  for (const FileEntry& f : walk.files) {
    std::string path = join_path(display, f.path);
    if (!f.link_to.empty()) {
      auto it = index.find(f.link_to);
      std::string target_sha = it == index.end() ? std::string() : out[it->second].sha256;
      if (sink) {
        sink->begin_file(f);
        sink->end_file(target_sha);
      }
      index[f.path] = out.size();
      out.push_back({f.path, f.size, target_sha});
      digest.bytes += f.size;
      ++digest.files;
      continue;
    }
    UniqueFd fd(open_beneath(dirfd, f.path, O_RDONLY | O_NOFOLLOW));
    if (!fd) {
      int e = errno;
      if (e == ENOENT) {
        throw TransportError(FailureKind::error,
                             who + ": " + path + " vanished while the chunk was read", true);
      }
      throw_errno(who, "open", path, e);
    }
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    if (sink) {
      sink->begin_file(f);
    }
    std::uint64_t left = f.size;
    while (left > 0) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer.size()));
      ssize_t n = ::read(fd.get(), buffer.data(), want);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        throw_errno(who, "read", path, errno);
      }
      if (n == 0) {
        throw TransportError(FailureKind::error,
                             who + ": " + path + " shrank while the chunk was read", true);
      }
      std::span<const char> data(buffer.data(), static_cast<std::size_t>(n));
      sha.update(data);
      if (sink) {
        sink->file_data(data);
      }
      left -= static_cast<std::uint64_t>(n);
    }
    std::string hex = sha.finish_hex();
    if (sink) {
      sink->end_file(hex);
    }
    index[f.path] = out.size();
    out.push_back({f.path, f.size, std::move(hex)});
    digest.bytes += f.size;
    ++digest.files;
  }
  digest.content_hash = content_hash(out);
  digest.fingerprint = walk.fingerprint();
  return digest;
}

} // namespace clsync::transport
