// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/integration/transport_suite_util.hpp"

#include <sys/stat.h>

namespace clsync::test::contract {

transport::ChunkDigest write_small(transport::Node& node,
                                   const std::string& volume,
                                   const std::string& task,
                                   const std::vector<std::pair<std::string, std::string>>& files,
                                   std::int64_t mtime_ns)
{
  auto writer = node.write_chunk(volume, task);
  for (const auto& [path, content] : files) {
    transport::FileEntry e;
    e.path = path;
    e.size = content.size();
    e.mtime_ns = mtime_ns;
    e.mode = 0644;
    e.uid = 0;
    e.gid = 0;
    writer->begin_file(e);
    writer->file_data(std::span<const char>(content.data(), content.size()));
    writer->end_file(transport::sha256_hex(content));
  }
  return writer->finish();
}

namespace {

std::uint32_t mode_of(const fs::path& p)
{
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return static_cast<std::uint32_t>(st.st_mode & 07777);
}

} // namespace

std::vector<transport::ChunkDir> expected_dirs(const fs::path& dir)
{
  std::vector<transport::ChunkDir> dirs{{"", 0, mode_of(dir), 0, 0}};
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_directory() && !e.is_symlink()) {
      dirs.push_back({e.path().lexically_relative(dir).string(), 0, mode_of(e.path()), 0, 0});
    }
  }
  return dirs;
}

std::string expected_content_hash(const fs::path& dir, const std::vector<std::string>& rels)
{
  std::vector<transport::HashedFile> files;
  for (const std::string& rel : rels) {
    files.push_back({rel, fs::file_size(dir / rel), sha256_of_file(dir / rel), mode_of(dir / rel)});
  }
  return transport::content_hash(files, expected_dirs(dir));
}

transport::ScanSpec test_spec(bool with_files, bool with_hashes)
{
  transport::ScanSpec spec;
  spec.databases = {{"Level1", 2}, {"Level2", 2}};
  spec.with_files = with_files;
  spec.with_hashes = with_hashes;
  return spec;
}

const transport::ReplicaScan* find_replica(const transport::NodeScan& scan,
                                           const std::string& volume,
                                           const std::string& key)
{
  for (const auto& r : scan.replicas) {
    if (r.volume == volume && r.key == key) {
      return &r;
    }
  }
  return nullptr;
}

std::vector<transport::FileEntry> make_small_chunk(const fs::path& volume,
                                                   const std::string& key,
                                                   const std::string& salt,
                                                   std::int64_t mtime_ns)
{
  fs::path dir = volume / key;
  return {
      put_file(dir / "a.col", "a.col", "alpha" + salt, 0644, mtime_ns),
      put_file(dir / "b.col", "b.col", std::string(1000, 'b') + salt, 0600, mtime_ns + 1),
      put_file(dir / "sub/c.col", "sub/c.col", "gamma" + salt, 0755, mtime_ns + 2),
  };
}

} // namespace clsync::test::contract
