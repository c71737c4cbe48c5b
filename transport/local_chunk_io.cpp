// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Streaming a chunk out of a volume (read_chunk) and into a task's temp directory (write_chunk).
#include "transport/chunk_files.hpp"
#include "transport/local_node.hpp"
#include "transport/parallel_sync.hpp"
#include "transport/object_codec.hpp"
#include "transport/safe_path.hpp"
#include "transport/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <deque>
#include <fcntl.h>
#include <map>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace clsync::transport {
namespace {

// Files kept open until finish() so they can be fsynced without reopening; beyond this many,
// the oldest is fsynced early (its writeback started at close time, so this is cheap).
constexpr std::size_t k_max_open_files = 128;


class LocalChunkWriter final : public ChunkWriter {
public:
  LocalChunkWriter(std::string who, std::string display, UniqueFd root, std::string tmp_name,
                   UniqueFd tmp, bool hash_files)
      : m_who(std::move(who)), m_display(std::move(display)), m_root(std::move(root)),
        m_tmp_name(std::move(tmp_name)), m_tmp(std::move(tmp)), m_chown(::geteuid() == 0),
        m_hash_files(hash_files)
  {
  }

  ~LocalChunkWriter() override
  {
    if (!m_finished) {
      abort();
    }
  }

  void begin_file(const FileEntry& file) override
  {
    guard([&] { do_begin(file); });
  }

  void file_data(std::span<const char> data) override
  {
    guard([&] {
      if (!m_in_file || !m_cur.link_to.empty()) {
        throw TransportError(FailureKind::refused, m_who + ": data for " + m_display +
                                                       " outside a file in the chunk stream");
      }
      // A source that sends more than it announced (a hostile agent, a lying object) is
      // stopped at its first excess byte, before it can fill the destination's disk.
      if (data.size() > m_cur.size - std::min(m_cur.size, m_cur_bytes)) {
        throw TransportError(FailureKind::error, m_who + ": " + path_of(m_cur.path) +
                                                     " received more than the " +
                                                     std::to_string(m_cur.size) +
                                                     " bytes announced");
      }
      if (int e = write_all(m_cur_fd.get(), data); e != 0) {
        throw_errno(m_who, "write", path_of(m_cur.path), e);
      }
      if (m_hash_files) {
        m_sha.update(data);
      }
      m_cur_bytes += data.size();
      m_cur_hole_last = false;
    });
  }

  void file_hole(std::uint64_t length) override
  {
    guard([&] {
      if (!m_in_file || !m_cur.link_to.empty()) {
        throw TransportError(FailureKind::refused, m_who + ": a hole for " + m_display +
                                                       " outside a file in the chunk stream");
      }
      if (length > m_cur.size - std::min(m_cur.size, m_cur_bytes)) {
        throw TransportError(FailureKind::error, m_who + ": " + path_of(m_cur.path) +
                                                     " received more than the " +
                                                     std::to_string(m_cur.size) +
                                                     " bytes announced");
      }
      // Skip over the hole; end_file's ftruncate makes a trailing one part of the file.
      if (::lseek(m_cur_fd.get(), static_cast<off_t>(length), SEEK_CUR) < 0) {
        throw_errno(m_who, "seek past a hole in", path_of(m_cur.path), errno);
      }
      if (m_hash_files) {
        update_zeros(m_sha, length);
      }
      m_cur_bytes += length;
      m_cur_hole_last = true;
    });
  }

  void end_file(const std::string& sha256) override
  {
    guard([&] { do_end(ascii_lower(sha256)); });
  }

  void directory(const ChunkDir& dir) override
  {
    guard([&] { do_directory(dir); });
  }

  ChunkDigest finish() override
  {
    ChunkDigest digest;
    guard([&] { digest = do_finish(); });
    return digest;
  }

  void abort() noexcept override
  {
    if (m_aborted) {
      return;
    }
    m_aborted = true;
    m_cur_fd.reset();
    m_open.clear();
    m_tmp.reset();
    if (m_root) {
      remove_tree(m_root.get(), m_tmp_name);
      ::fsync(m_root.get());
    }
  }

private:
  // Any failure removes the temp directory, so a full disk or a bad hash leaves nothing behind.
  template <typename F>
  void guard(F&& f)
  {
    if (m_aborted || m_finished) {
      throw TransportError(FailureKind::error,
                           m_who + ": the writer of " + m_display + " is already closed");
    }
    try {
      f();
    } catch (...) {
      abort();
      throw;
    }
  }

  std::string path_of(const std::string& rel) const { return join_path(m_display, rel); }

  void make_parents(const std::string& rel)
  {
    std::size_t pos = 0;
    while ((pos = rel.find('/', pos)) != std::string::npos) {
      std::string dir = rel.substr(0, pos);
      if (m_dirs.insert(dir).second) {
        if (::mkdirat(m_tmp.get(), dir.c_str(), 0755) != 0 && errno != EEXIST) {
          throw_errno(m_who, "create directory", path_of(dir), errno);
        }
      }
      ++pos;
    }
  }

  void do_begin(const FileEntry& file)
  {
    if (m_dirs_sent) {
      throw TransportError(FailureKind::refused, m_who + ": file " + file.path + " in " +
                                                     m_display + " after the directories");
    }
    if (m_in_file) {
      throw TransportError(FailureKind::refused, m_who + ": " + path_of(m_cur.path) +
                                                     " was not ended before " + file.path);
    }
    std::string why = relative_path_problem(file.path, PathUse::file);
    if (!why.empty()) {
      throw TransportError(FailureKind::refused,
                           m_who + ": refused file '" + file.path + "' in " + m_display + ": " + why);
    }
    m_cur = file;
    m_cur_bytes = 0;
    m_cur_hole_last = false;
    make_parents(file.path);
    if (!file.link_to.empty()) {
      if (m_sha_of.find(file.link_to) == m_sha_of.end()) {
        throw TransportError(FailureKind::refused, m_who + ": " + path_of(file.path) +
                                                       " links to " + file.link_to +
                                                       ", which the stream has not sent");
      }
      if (::linkat(m_tmp.get(), file.link_to.c_str(), m_tmp.get(), file.path.c_str(), 0) != 0) {
        throw_errno(m_who, "link " + file.link_to + " as", path_of(file.path), errno);
      }
      m_in_file = true;
      return;
    }
    UniqueFd fd(open_beneath(m_tmp.get(), file.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                             0600));
    if (!fd) {
      throw_errno(m_who, "create", path_of(file.path), errno);
    }
    m_cur_fd = std::move(fd);
    m_in_file = true;
  }

  void do_end(const std::string& source_sha)
  {
    if (!m_in_file) {
      throw TransportError(FailureKind::refused,
                           m_who + ": end of a file that was not begun in " + m_display);
    }
    std::string path = path_of(m_cur.path);
    if (!m_cur.link_to.empty()) {
      const std::string& target_sha = m_sha_of[m_cur.link_to];
      if (source_sha != target_sha) {
        throw TransportError(FailureKind::error,
                             m_who + ": hash mismatch for hard link " + path, true);
      }
      m_sha_of[m_cur.path] = target_sha;
      m_hashed.push_back({m_cur.path, m_cur.size, target_sha, m_cur.mode});
      // Another name of the target's inode: on disk it is what the target is.
      FileEntry name = m_written[m_written_at.at(m_cur.link_to)];
      name.path = m_cur.path;
      m_written_at[m_cur.path] = m_written.size();
      m_written.push_back(std::move(name));
      m_in_file = false;
      return;
    }
    // Without hashing, the caller (the object unpacker) checked the bytes against source_sha.
    std::string ours = m_hash_files ? m_sha.finish_hex() : source_sha;
    if (m_cur_bytes != m_cur.size) {
      throw TransportError(FailureKind::error,
                           m_who + ": " + path + " received " + std::to_string(m_cur_bytes) +
                               " bytes, the source announced " + std::to_string(m_cur.size),
                           true);
    }
    if (ours != source_sha) {
      throw TransportError(FailureKind::error,
                           m_who + ": hash mismatch for " + path + ": the source read " +
                               source_sha + ", " + ours + " arrived",
                           true);
    }
    int fd = m_cur_fd.get();
    // A file ending in a hole has its end only after this.
    if (m_cur_hole_last && ::ftruncate(fd, static_cast<off_t>(m_cur.size)) != 0) {
      throw_errno(m_who, "set the size of", path, errno);
    }
    set_attributes(fd, path, m_cur.mode, m_cur.uid, m_cur.gid, m_cur.mtime_ns);
    record_written(fd, path);
    ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    m_open.push_back({std::move(m_cur_fd), m_cur.path});
    if (m_open.size() > k_max_open_files) {
      sync_oldest();
    }
    m_sha_of[m_cur.path] = ours;
    m_hashed.push_back({m_cur.path, m_cur.size, std::move(ours), m_cur.mode});
    m_in_file = false;
  }

  /// Notes the file just ended as it is on disk, for the digest's fingerprint, so that finish
  /// need not walk the temp again: its size is the one checked above and its mode and mtime the
  /// ones just set, which a filesystem keeps, except that it may round an mtime to its
  /// granularity (a second on some) and the kernel drops a set-id bit for a caller outside the
  /// file's group. Those are read back with fstat: every file until one set with a nanosecond
  /// digit (ns % 10 != 0) reads back unchanged, which shows the filesystem keeps nanoseconds;
  /// after that only set-id files.
  void record_written(int fd, const std::string& path)
  {
    FileEntry on_disk{m_cur.path, m_cur.size, m_cur.mtime_ns, m_cur.mode & 07777, 0, 0, {}};
    if (!m_mtime_kept || (on_disk.mode & 06000) != 0) {
      struct stat st {};
      if (::fstat(fd, &st) != 0) {
        throw_errno(m_who, "stat", path, errno);
      }
      on_disk.size = static_cast<std::uint64_t>(st.st_size);
      on_disk.mode = st.st_mode & 07777;
      on_disk.mtime_ns = stat_mtime_ns(st);
      m_mtime_kept = m_mtime_kept ||
                     (on_disk.mtime_ns == m_cur.mtime_ns && m_cur.mtime_ns % 10 != 0);
    }
    m_written_at[m_cur.path] = m_written.size();
    m_written.push_back(std::move(on_disk));
  }

  /// Owner (when root), mode and mtime of an open file or directory.
  void set_attributes(int fd, const std::string& path, std::uint32_t mode, std::uint32_t uid,
                      std::uint32_t gid, std::int64_t mtime_ns)
  {
    // chown first: it clears set-id bits that the chmod then restores.
    if (m_chown && ::fchown(fd, uid, gid) != 0) {
      throw_errno(m_who, "set the owner of", path, errno);
    }
    if (::fchmod(fd, mode & 07777) != 0) {
      throw_errno(m_who, "set the mode of", path, errno);
    }
    timespec times[2];
    times[0].tv_sec = 0;
    times[0].tv_nsec = UTIME_OMIT;
    times[1].tv_sec = static_cast<time_t>(mtime_ns / 1'000'000'000);
    times[1].tv_nsec = static_cast<long>(mtime_ns % 1'000'000'000);
    if (times[1].tv_nsec < 0) {
      times[1].tv_nsec += 1'000'000'000;
      times[1].tv_sec -= 1;
    }
    if (::futimens(fd, times) != 0) {
      throw_errno(m_who, "set the mtime of", path, errno);
    }
  }

  /// A directory arrives after everything inside it (ChunkSink's order): create it when the
  /// stream's files did not, then set its attributes, which nothing changes afterwards.
  void do_directory(const ChunkDir& dir)
  {
    if (m_in_file) {
      throw TransportError(FailureKind::refused, m_who + ": directory " + dir.path + " in " +
                                                     m_display + " inside a file of the stream");
    }
    m_dirs_sent = true;
    if (dir.path.empty()) {
      set_attributes(m_tmp.get(), m_display, dir.mode, dir.uid, dir.gid, dir.mtime_ns);
      return;
    }
    std::string why = relative_path_problem(dir.path, PathUse::file);
    if (!why.empty()) {
      throw TransportError(FailureKind::refused, m_who + ": refused directory '" + dir.path +
                                                     "' in " + m_display + ": " + why);
    }
    make_parents(dir.path + "/");
    UniqueFd fd(open_beneath(m_tmp.get(), dir.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    if (!fd) {
      throw_errno(m_who, "open", path_of(dir.path), errno);
    }
    set_attributes(fd.get(), path_of(dir.path), dir.mode, dir.uid, dir.gid, dir.mtime_ns);
  }

  void sync_oldest()
  {
    auto& [fd, rel] = m_open.front();
    if (int e = sync_fd(fd.get()); e != 0) {
      throw_errno(m_who, "sync", path_of(rel), e);
    }
    m_open.pop_front();
  }

  ChunkDigest do_finish()
  {
    if (m_in_file) {
      throw TransportError(FailureKind::error,
                           m_who + ": " + path_of(m_cur.path) + " was not ended before finish");
    }
    // Every file and directory of the chunk, then the temp directory itself: one batch per
    // chunk, its fsyncs overlapped (sync_fds_parallel).
    std::vector<UniqueFd> dir_fds;
    std::vector<int> fds;
    std::vector<std::string> names;
    for (const auto& [fd, rel] : m_open) {
      fds.push_back(fd.get());
      names.push_back(path_of(rel));
    }
    for (const std::string& d : m_dirs) {
      UniqueFd fd(open_beneath(m_tmp.get(), d, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
      if (!fd) {
        throw_errno(m_who, "open", path_of(d), errno);
      }
      fds.push_back(fd.get());
      names.push_back(path_of(d));
      dir_fds.push_back(std::move(fd));
    }
    fds.push_back(m_tmp.get());
    names.push_back(m_display);
    if (auto [i, e] = sync_fds_parallel(fds); e != 0) {
      throw_errno(m_who, "sync", names[i], e);
    }
    m_open.clear();
    // The writer made every file and directory of the temp itself and knows what each is
    // (record_written); only the directories' modes are read back, from the descriptors just
    // synced (a directory made for a file's path and never announced has mkdir's mode).
    std::vector<ChunkDir> dirs;
    dirs.push_back(dir_on_disk(m_tmp.get(), "", m_display));
    std::size_t at = 0;
    for (const std::string& d : m_dirs) {
      dirs.push_back(dir_on_disk(dir_fds[at++].get(), d, path_of(d)));
    }
    ChunkDigest digest;
    // Directories as they are on disk: one the stream did not announce (or announced with
    // another mode) makes the digest differ from the source's.
    digest.content_hash = content_hash(m_hashed, dirs);
    digest.fingerprint = quick_fingerprint(m_written);
    for (const FileEntry& f : m_written) {
      digest.bytes += f.size;
    }
    digest.files = m_written.size();
    m_finished = true;
    m_tmp.reset();
    return digest;
  }

  ChunkDir dir_on_disk(int fd, const std::string& rel, const std::string& path) const
  {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      throw_errno(m_who, "stat", path, errno);
    }
    return {rel, stat_mtime_ns(st),
            st.st_mode & 07777, st.st_uid, st.st_gid};
  }

  std::string m_who;
  std::string m_display;
  UniqueFd m_root;
  std::string m_tmp_name;
  UniqueFd m_tmp;
  bool m_chown;
  bool m_hash_files;  ///< false: end_file's hash was checked by the caller (unpack_chunk)

  bool m_in_file = false;
  FileEntry m_cur;
  UniqueFd m_cur_fd;
  Sha256 m_sha;
  std::uint64_t m_cur_bytes = 0;
  bool m_cur_hole_last = false;  ///< the current file ends in a hole (so far)

  std::map<std::string, std::string> m_sha_of;
  std::vector<FileEntry> m_written;  ///< every name as it is on disk (record_written)
  std::map<std::string, std::size_t> m_written_at;
  bool m_mtime_kept = false;  ///< the filesystem was seen to keep an mtime's nanoseconds
  std::vector<HashedFile> m_hashed;
  std::deque<std::pair<UniqueFd, std::string>> m_open;
  std::set<std::string> m_dirs;
  bool m_dirs_sent = false;  ///< directories have begun: no more files
  bool m_finished = false;
  bool m_aborted = false;
};

} // namespace

ChunkDigest LocalNode::read_chunk(const std::string& volume, const std::string& key, ChunkSink& sink)
{
  UniqueFd root = open_volume(volume);
  UniqueFd chunk = open_chunk(root.get(), volume, key);
  std::string display = join_path(root_of(volume), key);
  ChunkFiles walk = walk_chunk(chunk.get(), display);
  if (!walk.problems.empty()) {
    throw TransportError(FailureKind::error, describe() + ": " + walk.problems.front());
  }
  if (!walk.special.empty()) {
    throw TransportError(FailureKind::refused,
                         describe() + ": chunk " + display + " holds a symlink or special file (" +
                             walk.special.front() + "); it is never copied");
  }
  return stream_chunk(chunk.get(), walk, &sink, describe(), display);
}

std::unique_ptr<ChunkWriter> LocalNode::write_chunk(const std::string& volume,
                                                    const std::string& task)
{
  return open_chunk_writer(volume, task, true);
}

std::unique_ptr<ObjectWriter> LocalNode::unpack_chunk(const std::string& volume,
                                                      const std::string& task,
                                                      const ChunkManifest& expected)
{
  std::string who = describe() + ": object for task " + task;
  // A hostile manifest is refused before anything is created on the volume.
  if (auto why = manifest_problem(expected); !why.empty()) {
    throw TransportError(FailureKind::refused, who + ": refused manifest: " + why);
  }
  return make_unpacking_writer(open_chunk_writer(volume, task, false), expected, std::move(who));
}

std::unique_ptr<ChunkWriter> LocalNode::open_chunk_writer(const std::string& volume,
                                                          const std::string& task,
                                                          bool hash_files)
{
  check_task(task);
  UniqueFd root = open_volume(volume);
  std::string name = tmp_dir_name(task);
  std::string display = join_path(root_of(volume), name);
  // A temp directory of the same task is a leftover of an earlier attempt.
  if (int rc = remove_tree(root.get(), name); rc != 0) {
    throw_errno(describe(), "remove the leftover", display, rc);
  }
  if (::mkdirat(root.get(), name.c_str(), 0755) != 0) {
    throw_errno(describe(), "create", display, errno);
  }
  UniqueFd tmp(::openat(root.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!tmp) {
    int e = errno;
    remove_tree(root.get(), name);
    throw_errno(describe(), "open", display, e);
  }
  return std::make_unique<LocalChunkWriter>(describe(), display, std::move(root), name,
                                            std::move(tmp), hash_files);
}

} // namespace clsync::transport
