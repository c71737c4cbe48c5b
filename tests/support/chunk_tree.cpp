// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/support/chunk_tree.hpp"

#include "tests/support/scratch.hpp"
#include "transport/sha256.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <fstream>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace clsync::test {

transport::FileEntry put_file(const fs::path& path,
                              const std::string& rel,
                              const std::string& content,
                              std::uint32_t mode,
                              std::int64_t mtime_ns)
{
  write_file(path, content);
  if (::chmod(path.c_str(), mode) != 0) {
    throw std::runtime_error("chmod " + path.string());
  }
  set_mtime(path, mtime_ns);
  transport::FileEntry e;
  e.path = rel;
  e.size = content.size();
  e.mtime_ns = mtime_ns;
  e.mode = mode;
  e.uid = ::geteuid();
  e.gid = ::getegid();
  return e;
}

std::string fill_file(const fs::path& path, std::uint64_t size, std::uint64_t seed)
{
  fs::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  std::vector<char> block(1 << 20);
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  transport::Sha256 sha;
  std::uint64_t left = size;
  while (left > 0) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, block.size()));
    for (std::size_t i = 0; i < n; i += 8) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      for (std::size_t j = 0; j < 8 && i + j < n; ++j) {
        block[i + j] = static_cast<char>(x >> (8 * j));
      }
    }
    f.write(block.data(), static_cast<std::streamsize>(n));
    sha.update(std::span<const char>(block.data(), n));
    left -= n;
  }
  if (!f) {
    throw std::runtime_error("cannot write " + path.string());
  }
  return sha.finish_hex();
}

void set_mtime(const fs::path& path, std::int64_t mtime_ns)
{
  timespec t[2];
  t[0].tv_sec = 0;
  t[0].tv_nsec = UTIME_OMIT;
  t[1].tv_sec = static_cast<time_t>(mtime_ns / 1'000'000'000);
  t[1].tv_nsec = static_cast<long>(mtime_ns % 1'000'000'000);
  if (::utimensat(AT_FDCWD, path.c_str(), t, AT_SYMLINK_NOFOLLOW) != 0) {
    throw std::runtime_error("utimensat " + path.string());
  }
}

std::int64_t mtime_of(const fs::path& path)
{
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    throw std::runtime_error("lstat " + path.string());
  }
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

std::string sha256_of_file(const fs::path& path)
{
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    throw std::runtime_error("cannot read " + path.string());
  }
  transport::Sha256 sha;
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    sha.update(std::span<const char>(buf.data(), static_cast<std::size_t>(f.gcount())));
  }
  return sha.finish_hex();
}

bool has_entry_starting(const fs::path& dir, const std::string& prefix)
{
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename().string().starts_with(prefix)) {
      return true;
    }
  }
  return false;
}

TmpfsMount::TmpfsMount(const fs::path& path, const std::string& size) : m_path(path)
{
  fs::create_directories(path);
  std::string out;
  int rc = run_command("mount -t tmpfs -o size=" + size + " clsync-test " + path.string() +
                           " 2>&1",
                       &out);
  INFO("mount tmpfs at ", path.string(), ": ", out);
  REQUIRE_MESSAGE(rc == 0, "these tests need root and tmpfs; mount failed");
}

TmpfsMount::~TmpfsMount() { run_command("umount -l " + m_path.string() + " 2>/dev/null"); }

BindMount::BindMount(const fs::path& source, const fs::path& target) : m_path(target)
{
  fs::create_directories(target);
  std::string out;
  int rc = run_command("mount --bind " + source.string() + " " + target.string() + " 2>&1", &out);
  INFO("bind mount at ", target.string(), ": ", out);
  REQUIRE_MESSAGE(rc == 0, "these tests need root; bind mount failed");
}

BindMount::~BindMount() { run_command("umount -l " + m_path.string() + " 2>/dev/null"); }

} // namespace clsync::test
