// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// stream_chunk's read-ahead (transport/chunk_files.cpp): files of the directory being read are
// opened ahead, a bounded number at a time, and every file still arrives whole and in order.
#include "tests/support/scratch.hpp"
#include "transport/chunk_files.hpp"
#include "transport/sha256.hpp"

#include <doctest/doctest.h>

#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::transport;

namespace {

std::size_t open_descriptors()
{
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

/// Records the files in the order they arrive, with their bytes, and the most descriptors this
/// process had open while a file was being read.
struct CountingSink : ChunkSink {
  std::vector<std::string> paths;
  std::vector<std::string> data;
  std::size_t most_open = 0;
  void begin_file(const FileEntry& f) override
  {
    paths.push_back(f.path);
    data.emplace_back();
    most_open = std::max(most_open, open_descriptors());
  }
  void file_data(std::span<const char> d) override { data.back().append(d.data(), d.size()); }
  void file_hole(std::uint64_t n) override { data.back().append(n, '\0'); }
  void end_file(const std::string&) override {}
  void directory(const ChunkDir&) override {}
};

} // namespace

TEST_SUITE("transport::files_ahead")
{
  TEST_CASE("a chunk of 300 files is read whole and in order with at most 16 files opened ahead")
  {
    const fs::path chunk = test::scratch_dir("files-ahead");
    fs::create_directories(chunk / "sub");
    std::vector<std::string> expected;
    for (int i = 0; i < 300; ++i) {
      const std::string name = (i % 50 == 49 ? "sub/" : "") + std::string("c") +
                               std::to_string(1000 + i) + ".col";
      std::ofstream(chunk / name) << std::string(static_cast<std::size_t>(i) * 7, char('a' + i % 26));
    }
    const int dirfd = ::open(chunk.c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(dirfd >= 0);
    const ChunkFiles walk = walk_chunk(dirfd, chunk.string());
    REQUIRE(walk.files.size() == 300);
    const std::size_t before = open_descriptors();
    CountingSink sink;
    std::vector<HashedFile> hashed;
    stream_chunk(dirfd, walk, &sink, "test", chunk.string(), &hashed);
    ::close(dirfd);
    // The file being read, up to 16 ahead, and the listing of /proc/self/fd itself.
    CHECK(sink.most_open <= before + 1 + 16 + 1);
    CHECK(open_descriptors() == before - 1);  // none left open (dirfd closed above)
    REQUIRE(sink.paths.size() == 300);
    for (std::size_t i = 0; i < walk.files.size(); ++i) {
      CAPTURE(walk.files[i].path);
      CHECK(sink.paths[i] == walk.files[i].path);
      std::ifstream in(chunk / walk.files[i].path, std::ios::binary);
      const std::string on_disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      CHECK(sink.data[i] == on_disk);
      CHECK(hashed[i].sha256 == sha256_hex(on_disk));
    }
  }
}
