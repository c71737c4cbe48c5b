// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/digest.hpp"
#include "transport/safe_path.hpp"
#include "transport/sha256.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace clsync::transport;

namespace {

std::vector<FileEntry> digest_sample()
{
  FileEntry b{"b.dat", 3, 1500000000123456789, 0644, 0, 0, ""};
  FileEntry a{"a/x", 0, -5, 0755, 0, 0, ""};
  return {b, a};  // deliberately unsorted: the digests sort
}

std::vector<ChunkDir> sample_dirs()
{
  // Unsorted again; "e" is an empty directory, "" the chunk's own.
  return {{"e", 7, 0750, 0, 0}, {"", 9, 0755, 0, 0}, {"a", 8, 0700, 0, 0}};
}

std::vector<HashedFile> sample_hashed()
{
  return {{"b.dat", 3, sha256_hex("abc"), 0644}, {"a/x", 0, sha256_hex(""), 0755}};
}

} // namespace

TEST_SUITE("transport::digest")
{
  TEST_CASE("sha256 of known strings")
  {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    Sha256 h;
    h.update(std::string("a"));
    h.update(std::string("bc"));
    CHECK(h.finish_hex() == sha256_hex("abc"));
    CHECK(to_hex(from_hex_digest(sha256_hex("abc"))) == sha256_hex("abc"));
    CHECK_THROWS(from_hex_digest("abc"));
  }

  TEST_CASE("the encodings are stable (vectors computed independently with Python's hashlib)")
  {
    auto files = digest_sample();
    CHECK(quick_fingerprint(files) ==
          "6eae574ba1b8f65b6d29f4f6b30bb0443e3a202a752dcc174d76fca8d14f66e6");
    CHECK(layout_hash(files, sample_dirs()) ==
          "a482435745748b8fb3cf2c145e738ebb1283b6e3ba0b7bd83b63a2cd9503ef60");
    CHECK(content_hash(sample_hashed(), sample_dirs()) ==
          "902de5d4ae5e8890abafd266e5c41c3bcbd0ece9587e15a6d975f377c4a78fb4");
    CHECK(quick_fingerprint({}) ==
          "2fb0f0f49585e62163c37206490a467a3a469d7df5be6f3dc7c44651da8b4f06");
    CHECK(layout_hash({}, {}) == "6a664b438ae5aa4d574607f7fa6e4d5a76997627a36d70b981d3dd1778cbcc9d");
    CHECK(content_hash({}, {}) ==
          "adeac02aba16806279442f263b2882d0ed2a17c4616fd617a827aae60350c805");
    CHECK(std::string(k_layout_tag) == "clsync-layout2");
    CHECK(std::string(k_content_tag) == "clsync-content2");
  }

  TEST_CASE("the fingerprint changes with mtime, mode, size and name; the layout with mode, size "
            "and name")
  {
    auto base = digest_sample();
    std::string fp = quick_fingerprint(base);
    auto layout_hash = [](const std::vector<FileEntry>& f) {
      return clsync::transport::layout_hash(f, sample_dirs());
    };
    std::string layout = layout_hash(base);

    auto mtime = base;
    mtime[0].mtime_ns += 1;
    CHECK(quick_fingerprint(mtime) != fp);
    CHECK(layout_hash(mtime) == layout);

    auto mode = base;
    mode[0].mode = 0600;
    CHECK(quick_fingerprint(mode) != fp);
    CHECK(layout_hash(mode) != layout);

    auto size = base;
    size[0].size = 4;
    CHECK(quick_fingerprint(size) != fp);
    CHECK(layout_hash(size) != layout);

    auto name = base;
    name[0].path = "c.dat";
    CHECK(quick_fingerprint(name) != fp);
    CHECK(layout_hash(name) != layout);

    // Owner and link bookkeeping are not part of the quick check.
    auto owner = base;
    owner[0].uid = 42;
    CHECK(quick_fingerprint(owner) == fp);
  }

  TEST_CASE("records cannot run into each other")
  {
    // "a" of size 12 vs "a\0" … — a naive concatenation without separators would collide here.
    std::vector<FileEntry> one{{"ab", 1, 23, 0644, 0, 0, ""}};
    std::vector<FileEntry> two{{"a", 11, 23, 0644, 0, 0, ""}};
    CHECK(quick_fingerprint(one) != quick_fingerprint(two));
    CHECK(layout_hash(one, {}) != layout_hash(two, {}));
    // A file and a directory of one name differ.
    CHECK(layout_hash(std::vector<FileEntry>{{"d", 0, 0, 0755, 0, 0, ""}}, {}) !=
          layout_hash({}, std::vector<ChunkDir>{{"d", 0, 0755, 0, 0}}));
  }

  TEST_CASE("content hash depends on bytes, names, sizes and modes")
  {
    std::vector<HashedFile> a{{"f", 3, sha256_hex("abc"), 0644}};
    std::vector<HashedFile> b{{"f", 3, sha256_hex("abd"), 0644}};
    std::vector<HashedFile> c{{"g", 3, sha256_hex("abc"), 0644}};
    std::vector<HashedFile> d{{"f", 3, sha256_hex("abc"), 0600}};
    CHECK(content_hash(a, {}) != content_hash(b, {}));
    CHECK(content_hash(a, {}) != content_hash(c, {}));
    CHECK(content_hash(a, {}) != content_hash(d, {}));
    CHECK(content_hash(a, {}) ==
          content_hash(std::vector<HashedFile>{{"f", 3, sha256_hex("abc"), 0644}}, {}));
  }

  TEST_CASE("a lost empty directory or a changed directory mode changes the content hash and the "
            "layout, never the fingerprint")
  {
    auto files = digest_sample();
    auto hashed = sample_hashed();
    auto dirs = sample_dirs();
    const std::string content = content_hash(hashed, dirs);
    const std::string layout = layout_hash(files, dirs);

    auto lost = dirs;
    lost.erase(lost.begin());  // the empty directory "e"
    CHECK(content_hash(hashed, lost) != content);
    CHECK(layout_hash(files, lost) != layout);

    auto mode = dirs;
    mode[2].mode = 0755;  // "a" was 0700
    CHECK(content_hash(hashed, mode) != content);
    CHECK(layout_hash(files, mode) != layout);

    auto top = dirs;
    top[1].mode = 0700;  // the chunk's own directory
    CHECK(content_hash(hashed, top) != content);

    // mtimes and owners of directories are not content.
    auto times = dirs;
    times[0].mtime_ns = 123;
    times[2].uid = 4321;
    CHECK(content_hash(hashed, times) == content);
    CHECK(layout_hash(files, times) == layout);
  }

  TEST_CASE("update_zeros hashes like the zeros themselves")
  {
    Sha256 a;
    update_zeros(a, 600 * 1024 + 5);
    CHECK(a.finish_hex() == sha256_hex(std::string(600 * 1024 + 5, '\0')));
  }
}

TEST_SUITE("transport::safe_path")
{
  TEST_CASE("keys and paths")
  {
    CHECK(relative_path_problem("db/20200601/3/Snapshot", PathUse::key).empty());
    CHECK(relative_path_problem("a.col", PathUse::file).empty());
    CHECK_FALSE(relative_path_problem("", PathUse::key).empty());
    CHECK_FALSE(relative_path_problem("/etc/passwd", PathUse::key).empty());
    CHECK_FALSE(relative_path_problem("a/../b", PathUse::key).empty());
    CHECK_FALSE(relative_path_problem("..", PathUse::file).empty());
    CHECK_FALSE(relative_path_problem("a/./b", PathUse::key).empty());
    CHECK_FALSE(relative_path_problem("a//b", PathUse::key).empty());
    CHECK_FALSE(relative_path_problem("a/b/", PathUse::key).empty());
    CHECK_FALSE(relative_path_problem(".clsync-tmp-1", PathUse::key).empty());
    CHECK_FALSE(relative_path_problem("db/.clsync-x/t", PathUse::key).empty());
    CHECK(relative_path_problem("db/.clsync-x/t", PathUse::file).empty());
    CHECK_FALSE(relative_path_problem(std::string("a\0b", 3), PathUse::file).empty());
  }

  TEST_CASE("task ids")
  {
    CHECK(task_id_problem("run-20240101.7_a").empty());
    CHECK_FALSE(task_id_problem("").empty());
    CHECK_FALSE(task_id_problem("a/b").empty());
    CHECK_FALSE(task_id_problem("..").empty());
    CHECK_FALSE(task_id_problem(std::string(129, 'a')).empty());
  }
}
