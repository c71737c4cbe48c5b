// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Contract cases for exact copies: directories with their attributes, owners, hard links,
// sparse files, and names that are bytes rather than UTF-8.
#include "tests/integration/transport_suite_util.hpp"

#include <algorithm>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace clsync::test {

using namespace contract;

namespace {

constexpr std::uint64_t k_sparse_size = 256ull << 20;
constexpr std::int64_t k_old = 1'300'000'000'123'456'789; // 2011: "an mtime in the past"

struct stat stat_of(const fs::path& p)
{
  struct stat st {};
  REQUIRE_MESSAGE(::lstat(p.c_str(), &st) == 0, p.string());
  return st;
}

std::int64_t mtime_ns(const struct stat& st)
{
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

/// A 256 MiB file holding a few KiB of data at three offsets and a trailing hole.
void make_sparse(const fs::path& path)
{
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, static_cast<off_t>(k_sparse_size)) == 0);
  const std::string a(4096, 'a'), b(10, 'b'), c(64 << 10, 'c');
  REQUIRE(::pwrite(fd, a.data(), a.size(), 0) == static_cast<ssize_t>(a.size()));
  REQUIRE(::pwrite(fd, b.data(), b.size(), (100 << 20) + 7) == static_cast<ssize_t>(b.size()));
  REQUIRE(::pwrite(fd, c.data(), c.size(), 200 << 20) == static_cast<ssize_t>(c.size()));
  ::close(fd);
}

} // namespace

/// The chunk of exact_copy at `chunk`: every kind of entry whose attributes a copy must keep.
void contract::make_exact_chunk(const fs::path& chunk)
{
  put_file(chunk / "a.col", "a.col", "first name of a hard link", 0640, 1'500'000'000'000'000'001);
  fs::create_directories(chunk / "linked");
  fs::create_hard_link(chunk / "a.col", chunk / "linked/b.col");
  put_file(chunk / "private/secret.col", "private/secret.col", "not for everyone", 0600,
           1'500'000'000'000'000'002);
  REQUIRE(::chown((chunk / "private/secret.col").c_str(), 4321, 4321) == 0);
  REQUIRE(::chown((chunk / "private").c_str(), 4321, 4321) == 0);
  REQUIRE(::chmod((chunk / "private").c_str(), 0700) == 0);
  fs::create_directories(chunk / "empty");
  REQUIRE(::chmod((chunk / "empty").c_str(), 0750) == 0);
  fs::create_directories(chunk / "deep/er/est");
  REQUIRE(::chown((chunk / "deep/er").c_str(), 1000, 2000) == 0);
  make_sparse(chunk / "sparse.bin");
  set_mtime(chunk / "sparse.bin", 1'500'000'000'000'000'003);
  REQUIRE(::chmod(chunk.c_str(), 0751) == 0);
  // Directory mtimes last, children first: nothing changes inside a directory afterwards.
  std::int64_t t = k_old;
  for (const char* d : {"deep/er/est", "deep/er", "deep", "empty", "linked", "private", ""}) {
    set_mtime(*d ? chunk / d : chunk, t);
    t += 1'000'000'007;
  }
}

/// Every entry below `src` exists in `copy` with the same type, mode, owner, mtime, size,
/// bytes and link count, the copy has nothing more, and files use no more blocks than the
/// source's (plus a little: holes are kept).
void contract::check_identical(const fs::path& src, const fs::path& copy)
{
  std::vector<std::string> rels{""};
  for (const auto& e : fs::recursive_directory_iterator(src)) {
    rels.push_back(e.path().lexically_relative(src).string());
  }
  std::size_t in_copy = 0;
  for ([[maybe_unused]] const auto& e : fs::recursive_directory_iterator(copy)) {
    ++in_copy;
  }
  CHECK(in_copy + 1 == rels.size());
  for (const std::string& rel : rels) {
    fs::path a = rel.empty() ? src : src / rel;
    fs::path b = rel.empty() ? copy : copy / rel;
    INFO("entry '", rel, "'");
    REQUIRE(fs::exists(fs::symlink_status(b)));
    struct stat sa = stat_of(a), sb = stat_of(b);
    CHECK((sa.st_mode & S_IFMT) == (sb.st_mode & S_IFMT));
    CHECK((sa.st_mode & 07777) == (sb.st_mode & 07777));
    CHECK(sa.st_uid == sb.st_uid);
    CHECK(sa.st_gid == sb.st_gid);
    CHECK(mtime_ns(sa) == mtime_ns(sb));
    if (S_ISREG(sa.st_mode)) {
      CHECK(sa.st_size == sb.st_size);
      CHECK(sa.st_nlink == sb.st_nlink);
      CHECK(sb.st_blocks <= sa.st_blocks + 64); // 32 KiB of slack for block rounding
      CHECK(sha256_of_file(a) == sha256_of_file(b));
    }
  }
}

void run_contract_exact_copy(const NodeMaker& make)
{
  fs::path src = scratch_dir("exact-src");
  fs::path dst = scratch_dir("exact-dst");
  fs::path dst2 = scratch_dir("exact-dst2");
  fs::path chunk = src / k_key;
  make_exact_chunk(chunk);
  const struct stat sparse = stat_of(chunk / "sparse.bin");
  REQUIRE(sparse.st_blocks * 512 < (1 << 20)); // the scratch filesystem keeps holes

  auto a = make({src.string()});
  auto b = make({dst.string(), dst2.string()});

  // Node to node, through a recording tee.
  auto writer = b->write_chunk(dst.string(), "task-ex");
  RecordingSink tee(writer.get());
  transport::ChunkDigest read = a->read_chunk(src.string(), k_key, tee);
  transport::ChunkDigest written = writer->finish();
  CHECK(written.content_hash == read.content_hash);
  CHECK(written.fingerprint == read.fingerprint);

  // Holes cross as hole records, never as zeros.
  auto seen = std::find_if(tee.seen.begin(), tee.seen.end(),
                           [](const auto& s) { return s.entry.path == "sparse.bin"; });
  REQUIRE(seen != tee.seen.end());
  CHECK(seen->data_bytes <= (1u << 20));
  CHECK(seen->data_bytes + seen->hole_bytes == k_sparse_size);
  CHECK(seen->hole_bytes >= k_sparse_size - (1u << 20));
  CHECK(seen->sha256 == sha256_of_file(chunk / "sparse.bin"));

  // Every directory, children before parents, the chunk's own last.
  std::vector<std::string> dir_paths;
  for (const auto& d : tee.dirs) {
    dir_paths.push_back(d.path);
  }
  const std::vector<std::string> expected_dirs_order{"private", "linked", "empty", "deep/er/est",
                                                     "deep/er", "deep",   ""};
  CHECK(dir_paths == expected_dirs_order);
  REQUIRE_FALSE(tee.dirs.empty());
  CHECK(tee.dirs.back().mode == 0751);
  CHECK(tee.dirs[0].uid == 4321);
  CHECK(tee.dirs[0].mode == 0700);

  REQUIRE(b->commit_chunk(dst.string(), "task-ex", k_key, transport::CommitMode::no_replace) ==
          transport::CommitOutcome::placed);
  check_identical(chunk, dst / k_key);
  CHECK(stat_of(dst / k_key / "a.col").st_ino == stat_of(dst / k_key / "linked/b.col").st_ino);
  CHECK(b->hash_chunk(dst.string(), k_key).content_hash == read.content_hash);
  CHECK(a->hash_chunk(src.string(), k_key).content_hash == read.content_hash);

  // Within one node.
  transport::ChunkDigest local =
      b->copy_chunk_local(dst.string(), k_key, dst2.string(), "task-ex2");
  CHECK(local.content_hash == read.content_hash);
  REQUIRE(b->commit_chunk(dst2.string(), "task-ex2", k_key, transport::CommitMode::no_replace) ==
          transport::CommitOutcome::placed);
  check_identical(chunk, dst2 / k_key);

  // A lost empty directory, or a directory's mode, is a different content (and layout).
  transport::ReplicaScan before = *find_replica(b->scan(test_spec()), dst2.string(), k_key);
  REQUIRE(::rmdir((dst2 / k_key / "deep/er/est").c_str()) == 0);
  CHECK(b->hash_chunk(dst2.string(), k_key).content_hash != read.content_hash);
  const transport::NodeScan after = b->scan(test_spec());
  const auto* lost = find_replica(after, dst2.string(), k_key);
  REQUIRE(lost);
  CHECK(lost->layout_hash != before.layout_hash);
  CHECK(lost->fingerprint == before.fingerprint); // the quick check covers files only
  REQUIRE(::chmod((dst / k_key / "private").c_str(), 0755) == 0);
  CHECK(b->hash_chunk(dst.string(), k_key).content_hash != read.content_hash);

  // Room checks count what the chunk occupies, not its apparent size.
  const transport::NodeScan src_scan = a->scan(test_spec());
  const auto* scanned = find_replica(src_scan, src.string(), k_key);
  REQUIRE(scanned);
  CHECK(scanned->bytes > k_sparse_size);
  CHECK(scanned->allocated_bytes < (2u << 20));
  CHECK(scanned->allocated_bytes >= static_cast<std::uint64_t>(sparse.st_blocks) * 512);
}

void run_contract_names_as_bytes(const NodeMaker& make)
{
  fs::path src = scratch_dir("bytes-src");
  fs::path dst = scratch_dir("bytes-dst");
  // Not UTF-8: a lone continuation byte, 0xff/0xfe, an overlong '/', a truncated sequence.
  const std::string key = "Level1/2020\x80"
                          "0601/\xff\xfe/Snap\xc3\x28shot";
  const std::string f1 = "\xff\xfe.col";
  const std::string f2 = "d\xe9r/f\x80.col";
  const std::string empty_dir = "\xc0\xaf";
  put_file(src / key / f1, f1, "one", 0644, 1'591'000'000'000'000'001);
  put_file(src / key / f2, f2, "two", 0600, 1'591'000'000'000'000'002);
  fs::create_directories(src / key / empty_dir);

  auto a = make({src.string()});
  auto b = make({dst.string()});

  transport::NodeScan scan = a->scan(test_spec(true, true));
  const auto* r = find_replica(scan, src.string(), key);
  REQUIRE_MESSAGE(r, "the scan lost the key's bytes");
  REQUIRE(r->file_list.size() == 2);
  CHECK(r->file_list[0].path == f2); // "d…" sorts before "\xff…"
  CHECK(r->file_list[1].path == f1);
  CHECK(r->content_hash == expected_content_hash(src / key, {f1, f2}));

  auto writer = b->write_chunk(dst.string(), "task-bytes");
  RecordingSink tee(writer.get());
  transport::ChunkDigest read = a->read_chunk(src.string(), key, tee);
  transport::ChunkDigest written = writer->finish();
  REQUIRE(tee.seen.size() == 2);
  CHECK(tee.seen[0].entry.path == f2);
  CHECK(tee.seen[1].entry.path == f1);
  CHECK(std::find_if(tee.dirs.begin(), tee.dirs.end(),
                     [&](const auto& d) { return d.path == empty_dir; }) != tee.dirs.end());
  CHECK(written.content_hash == read.content_hash);
  REQUIRE(b->commit_chunk(dst.string(), "task-bytes", key, transport::CommitMode::no_replace) ==
          transport::CommitOutcome::placed);
  CHECK(read_file(dst / key / f1) == "one");
  CHECK(read_file(dst / key / f2) == "two");
  CHECK(fs::is_directory(dst / key / empty_dir));
  CHECK(b->fingerprint(dst.string(), key) == a->fingerprint(src.string(), key));
  CHECK(b->hash_chunk(dst.string(), key).content_hash == read.content_hash);
  const transport::NodeScan dst_scan = b->scan(test_spec(true));
  const auto* copied = find_replica(dst_scan, dst.string(), key);
  REQUIRE(copied);
  CHECK(copied->key == key);

  // Trash and back under the same bytes.
  CHECK_FALSE(b->trash_chunk(dst.string(), key, "task-bytes2").empty());
  CHECK_FALSE(fs::exists(dst / key));
  b->untrash_chunk(dst.string(), "task-bytes2", key);
  CHECK(read_file(dst / key / f1) == "one");

  // Errors name the path with its bytes.
  const std::string missing = "Level1/x/\xff\xff/none";
  std::string msg =
      expect_failure([&] { a->hash_chunk(src.string(), missing); }, FailureKind::not_found);
  CHECK(msg.find("\xff\xff") != std::string::npos);

  // Repository files under such names.
  const std::string obj = "repo/\xfe\xff.obj";
  auto fw = b->create_file(dst.string(), obj);
  fw->write(std::span<const char>("data", 4));
  fw->commit();
  auto listed = b->list_dir(dst.string(), "repo");
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].name == "\xfe\xff.obj");
  b->remove_file(dst.string(), obj);
  CHECK(b->list_dir(dst.string(), "repo").empty());
}

} // namespace clsync::test
