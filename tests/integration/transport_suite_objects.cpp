// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Contract cases for backup objects: pack_chunk, unpack_chunk, check_object.
#include "tests/integration/transport_suite_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace clsync::test {

using namespace contract;

namespace {

const std::string k_long = "deep/" + std::string(145, 'n');   // a 150-byte name
const std::string k_latin1 = std::string("caf\xe9") + ".col"; // not UTF-8

/// exact_copy's chunk plus names a plain ustar header cannot carry.
void make_object_chunk(const fs::path& chunk)
{
  make_exact_chunk(chunk);
  // Adding entries changes the directories' mtimes: keep them as make_exact_chunk set them.
  std::int64_t deep = mtime_of(chunk / "deep"), top = mtime_of(chunk);
  put_file(chunk / k_long, k_long, std::string(3000, 'L'), 0644, 1'500'000'000'000'000'004);
  put_file(chunk / k_latin1, k_latin1, "bytes, not UTF-8", 0600, 1'500'000'000'000'000'005);
  set_mtime(chunk / "deep", deep);
  set_mtime(chunk, top);
}

/// Packs `key` of `volume` on `node` into `<repo>/<relpath>` of `repo_node` (create_file).
transport::PackResult pack_to_file(transport::Node& node,
                                   const fs::path& volume,
                                   const std::string& key,
                                   transport::Node& repo_node,
                                   const fs::path& repo,
                                   const std::string& relpath,
                                   const transport::PackOptions& options = {})
{
  auto file = repo_node.create_file(repo.string(), relpath);
  transport::PackResult r = node.pack_chunk(volume.string(), key, options, *file);
  CHECK(file->commit() == r.object_sha256);
  return r;
}

/// read_file → unpack_chunk(task) → finish; returns the digest or throws.
transport::ChunkDigest unpack_from_file(transport::Node& repo_node,
                                        const fs::path& repo,
                                        const std::string& relpath,
                                        transport::Node& node,
                                        const fs::path& volume,
                                        const std::string& task,
                                        const transport::ChunkManifest& manifest,
                                        const std::string& object_sha)
{
  auto writer = node.unpack_chunk(volume.string(), task, manifest);
  repo_node.read_file(repo.string(), relpath, 0, *writer);
  return writer->finish(object_sha);
}

void flip_byte(const fs::path& file, off_t at)
{
  int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(fd >= 0);
  char c = 0;
  REQUIRE(::pread(fd, &c, 1, at) == 1);
  c = static_cast<char>(c ^ 0x40);
  REQUIRE(::pwrite(fd, &c, 1, at) == 1);
  ::close(fd);
}

} // namespace

void run_contract_objects(const NodeMaker& make)
{
  fs::path src = scratch_dir("obj-src");
  fs::path repo = scratch_dir("obj-repo");
  fs::path dst = scratch_dir("obj-dst");
  fs::path chunk = src / k_key;
  make_object_chunk(chunk);
  auto a = make({src.string()});
  auto r = make({repo.string()});
  auto b = make({dst.string()});

  const std::string rel = "objects/ab/one.tar.zst";
  transport::PackResult packed = pack_to_file(*a, src, k_key, *r, repo, rel);
  transport::ChunkDigest hashed = a->hash_chunk(src.string(), k_key);
  CHECK(packed.digest.content_hash == hashed.content_hash);
  CHECK(packed.digest.fingerprint == hashed.fingerprint);
  CHECK(packed.object_size == fs::file_size(repo / rel));
  CHECK(packed.object_sha256 == sha256_of_file(repo / rel));
  // The sparse file's holes are listed; the object carries them as zeros, compressed.
  auto sparse = std::find_if(packed.manifest.files.begin(), packed.manifest.files.end(),
                             [](const auto& f) { return f.entry.path == "sparse.bin"; });
  REQUIRE(sparse != packed.manifest.files.end());
  std::uint64_t hole_bytes = 0;
  for (const auto& h : sparse->holes) {
    hole_bytes += h.length;
  }
  CHECK(hole_bytes >= sparse->entry.size - (1u << 20));
  CHECK(packed.object_size < (4u << 20));
  CHECK(sparse->sha256 == sha256_of_file(chunk / "sparse.bin"));

  transport::ObjectCheck check = r->check_object(repo.string(), rel, packed.manifest);
  CHECK_MESSAGE(check.ok, check.error);
  CHECK(check.object_sha256 == packed.object_sha256);
  CHECK(check.object_size == packed.object_size);

  transport::ChunkDigest written =
      unpack_from_file(*r, repo, rel, *b, dst, "task-obj", packed.manifest, packed.object_sha256);
  CHECK(written.content_hash == packed.digest.content_hash);
  REQUIRE(b->commit_chunk(dst.string(), "task-obj", k_key, transport::CommitMode::no_replace) ==
          transport::CommitOutcome::placed);
  check_identical(chunk, dst / k_key);
  CHECK(b->hash_chunk(dst.string(), k_key).content_hash == packed.digest.content_hash);
  CHECK(b->fingerprint(dst.string(), k_key) == hashed.fingerprint);

  // --columns: only "a" (a.col and its hard link linked/b.col), every directory.
  transport::PackOptions only_a;
  only_a.columns = {"a", "b"};
  only_a.threads = 2;
  transport::PackResult cols =
      pack_to_file(*a, src, k_key, *r, repo, "objects/cd/cols.tar.zst", only_a);
  REQUIRE(cols.manifest.files.size() == 2);
  CHECK(cols.manifest.files[1].entry.link_to == "a.col");
  CHECK(cols.manifest.dirs.size() == packed.manifest.dirs.size());
  CHECK(cols.digest.content_hash != packed.digest.content_hash);
  CHECK(cols.object_size < packed.object_size);
  transport::ChunkDigest cols_written = unpack_from_file(
      *r, repo, "objects/cd/cols.tar.zst", *b, dst, "task-cols", cols.manifest, cols.object_sha256);
  CHECK(cols_written.content_hash == cols.digest.content_hash);
  b->remove_task_dirs(dst.string(), "task-cols");

  expect_failure(
      [&] {
        a->pack_chunk(src.string(), "Level1/20200601/9/Missing", {},
                      *r->create_file(repo.string(), "x"));
      },
      FailureKind::not_found);
}

void run_contract_object_checks(const NodeMaker& make)
{
  fs::path src = scratch_dir("objc-src");
  fs::path repo = scratch_dir("objc-repo");
  fs::path dst = scratch_dir("objc-dst");
  make_small_chunk(src, k_key);
  put_file(src / k_key / "big.col", "big.col", std::string(200000, 'q'), 0644);
  auto a = make({src.string()});
  auto r = make({repo.string()});
  auto b = make({dst.string()});
  const std::string rel = "objects/ef/t.tar.zst";
  transport::PackResult packed = pack_to_file(*a, src, k_key, *r, repo, rel);
  REQUIRE(r->check_object(repo.string(), rel, packed.manifest).ok);

  // A manifest that lies about a file's hash: check fails naming the entry, unpack refuses.
  transport::ChunkManifest lying = packed.manifest;
  lying.files[0].sha256 = std::string(64, '0');
  transport::ObjectCheck bad = r->check_object(repo.string(), rel, lying);
  CHECK_FALSE(bad.ok);
  CHECK_MESSAGE(bad.error.find(lying.files[0].entry.path) != std::string::npos, bad.error);
  std::string why = expect_failure(
      [&] { unpack_from_file(*r, repo, rel, *b, dst, "task-lie", lying, packed.object_sha256); },
      FailureKind::refused);
  CHECK_MESSAGE(why.find(lying.files[0].entry.path) != std::string::npos, why);
  CHECK_FALSE(has_entry_starting(dst, ".clsync-tmp"));

  // The right manifest, the wrong object hash: refused at finish, nothing left.
  why = expect_failure(
      [&] {
        unpack_from_file(*r, repo, rel, *b, dst, "task-sha", packed.manifest, std::string(64, 'f'));
      },
      FailureKind::refused);
  CHECK_MESSAGE(why.find("hash") != std::string::npos, why);
  CHECK_FALSE(has_entry_starting(dst, ".clsync-tmp"));

  // A byte flipped in the middle of the object: zstd's checksum or the content hash catches it.
  flip_byte(repo / rel, static_cast<off_t>(packed.object_size / 2));
  bad = r->check_object(repo.string(), rel, packed.manifest);
  CHECK_FALSE(bad.ok);
  CHECK_FALSE(bad.error.empty());
  expect_failure(
      [&] { unpack_from_file(*r, repo, rel, *b, dst, "task-flip", packed.manifest, ""); },
      FailureKind::refused);
  CHECK_FALSE(has_entry_starting(dst, ".clsync-tmp"));

  // A hostile manifest is refused before anything is created.
  transport::ChunkManifest climbing = packed.manifest;
  climbing.files[0].entry.path = "../../etc/cron.d/x";
  why = expect_failure([&] { b->unpack_chunk(dst.string(), "task-up", climbing); },
                       FailureKind::refused);
  CHECK_MESSAGE(why.find("../../etc/cron.d/x") != std::string::npos, why);
  CHECK_FALSE(has_entry_starting(dst, ".clsync-tmp"));
}

} // namespace clsync::test
