// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Our tar + zstd objects against independent implementations: GNU tar and libarchive read what
// we write, and our reader takes what GNU tar writes (--format=pax) when the manifest matches.
// Hostile objects through a real node leave nothing outside the volume and no temp.
#include "tests/integration/transport_suite_util.hpp"
#include "transport/object_codec.hpp"
#include "transport/open.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <doctest/doctest.h>

#include <map>
#include <sstream>
#include <sys/stat.h>

using namespace clsync::transport;
using namespace clsync::test;
using namespace clsync::test::contract;

namespace {

const std::string k_oracle_long = "deep/" + std::string(145, 'n');
const std::string k_oracle_latin1 = std::string("caf\xe9") + ".col";

/// exact_copy's chunk without its 256 MiB sparse file (GNU tar writes holes as data), plus
/// names a plain ustar header cannot carry and a small sparse file.
fs::path make_oracle_chunk(const fs::path& volume)
{
  fs::path chunk = volume / k_key;
  make_exact_chunk(chunk);
  std::int64_t top = mtime_of(chunk), deep = mtime_of(chunk / "deep");
  fs::remove(chunk / "sparse.bin");
  put_file(chunk / k_oracle_long, k_oracle_long, std::string(3000, 'L'), 0644, 1'500'000'000'000'000'004);
  put_file(chunk / k_oracle_latin1, k_oracle_latin1, "bytes, not UTF-8", 0600, 1'500'000'000'000'000'005);
  {
    std::string s(1 << 20, '\0');
    s.replace(4096, 5, "data!");
    put_file(chunk / "small_sparse.bin", "small_sparse.bin", s, 0644, 1'500'000'000'000'000'006);
  }
  set_mtime(chunk / "deep", deep);
  set_mtime(chunk, top);
  return chunk;
}

/// Packs `key` of `volume` with a local node into `file`.
PackResult pack_file(const fs::path& volume, const fs::path& file, const PackOptions& o = {})
{
  auto node = make_local_node("oracle", {volume.string(), file.parent_path().string()});
  auto out = node->create_file(file.parent_path().string(), file.filename().string());
  PackResult r = node->pack_chunk(volume.string(), k_key, o, *out);
  out->commit();
  return r;
}

std::int64_t stat_mtime_ns(const struct stat& st)
{
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

/// Every entry of `dir` (not `..`) as the test sees it, for comparisons without block counts.
void check_same_tree(const fs::path& src, const fs::path& copy)
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
    INFO("entry '", rel, "'");
    struct stat a {
    }, b{};
    REQUIRE(::lstat((rel.empty() ? src : src / rel).c_str(), &a) == 0);
    REQUIRE(::lstat((rel.empty() ? copy : copy / rel).c_str(), &b) == 0);
    CHECK((a.st_mode & S_IFMT) == (b.st_mode & S_IFMT));
    CHECK((a.st_mode & 07777) == (b.st_mode & 07777));
    CHECK(a.st_uid == b.st_uid);
    CHECK(a.st_gid == b.st_gid);
    CHECK(stat_mtime_ns(a) == stat_mtime_ns(b));
    if (S_ISREG(a.st_mode)) {
      CHECK(a.st_size == b.st_size);
      CHECK(a.st_nlink == b.st_nlink);
      CHECK(sha256_of_file(src / rel) == sha256_of_file(copy / rel));
    }
  }
}

std::string normalize(std::string p)
{
  while (p.starts_with("./")) {
    p.erase(0, 2);
  }
  while (!p.empty() && p.back() == '/') {
    p.pop_back();
  }
  return p == "." ? "" : p;
}

} // namespace

TEST_SUITE("objects")
{
  TEST_CASE("GNU tar --zstd -xf of an object gives the chunk; sha256sum matches the manifest")
  {
    fs::path vol = scratch_dir("oracle-gnu");
    fs::path repo = scratch_dir("oracle-gnu-repo");
    fs::path out = scratch_dir("oracle-gnu-out");
    fs::path chunk = make_oracle_chunk(vol);
    PackResult r = pack_file(vol, repo / "obj.tar.zst");
    std::string log;
    REQUIRE(run_command("cd '" + out.string() + "' && tar --zstd -xf '" +
                            (repo / "obj.tar.zst").string() + "' 2>&1",
                        &log) == 0);
    INFO(log);
    // No warning but one: GNU tar 1.34 does not know pax's hdrcharset (it keeps the name's
    // bytes anyway, which is what BINARY asks for).
    std::istringstream warnings(log);
    for (std::string line; std::getline(warnings, line);) {
      CHECK(line == "tar: Ignoring unknown extended header keyword 'hdrcharset'");
    }
    check_same_tree(chunk, out);
    // sha256sum, the tool a user without clsync has, against the manifest.
    std::string sums;
    REQUIRE(run_command("cd '" + out.string() + "' && find . -type f -print0 | xargs -0 sha256sum",
                        &sums) == 0);
    std::map<std::string, std::string> by_path;
    std::istringstream lines(sums);
    for (std::string line; std::getline(lines, line);) {
      REQUIRE(line.size() > 66);
      by_path[normalize(line.substr(66))] = line.substr(0, 64);
    }
    REQUIRE(by_path.size() == r.manifest.files.size());
    for (const ObjectFile& f : r.manifest.files) {
      CHECK_MESSAGE(by_path[f.entry.path] == f.sha256, f.entry.path);
    }
  }

  TEST_CASE("libarchive reads every member of an object as the manifest lists it")
  {
    fs::path vol = scratch_dir("oracle-la");
    fs::path repo = scratch_dir("oracle-la-repo");
    make_oracle_chunk(vol);
    PackResult r = pack_file(vol, repo / "obj.tar.zst");
    std::map<std::string, const ObjectFile*> files;
    for (const ObjectFile& f : r.manifest.files) {
      files[f.entry.path] = &f;
    }
    std::map<std::string, const ChunkDir*> dirs;
    for (const ChunkDir& d : r.manifest.dirs) {
      dirs[d.path] = &d;
    }
    archive* a = archive_read_new();
    archive_read_support_filter_zstd(a);
    archive_read_support_format_tar(a);
    REQUIRE(archive_read_open_filename(a, (repo / "obj.tar.zst").c_str(), 1 << 16) == ARCHIVE_OK);
    archive_entry* e = nullptr;
    std::size_t seen_files = 0, seen_dirs = 0;
    int rc = 0;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
      std::string path = normalize(archive_entry_pathname(e));
      INFO("member '", path, "'");
      std::int64_t mtime = archive_entry_mtime(e) * 1'000'000'000 + archive_entry_mtime_nsec(e);
      auto mode = static_cast<std::uint32_t>(archive_entry_perm(e));
      if (archive_entry_filetype(e) == AE_IFDIR) {
        REQUIRE(dirs.contains(path));
        CHECK(dirs[path]->mode == mode);
        CHECK(dirs[path]->mtime_ns == mtime);
        CHECK(dirs[path]->uid == archive_entry_uid(e));
        ++seen_dirs;
        continue;
      }
      REQUIRE(files.contains(path));
      const ObjectFile& f = *files[path];
      CHECK(f.entry.mode == mode);
      CHECK(f.entry.mtime_ns == mtime);
      CHECK(f.entry.uid == archive_entry_uid(e));
      CHECK(f.entry.gid == archive_entry_gid(e));
      ++seen_files;
      if (const char* hl = archive_entry_hardlink(e)) {
        CHECK(normalize(hl) == f.entry.link_to);
        continue;
      }
      CHECK(archive_entry_filetype(e) == AE_IFREG);
      CHECK(static_cast<std::uint64_t>(archive_entry_size(e)) == f.entry.size);
      Sha256 sha;
      const void* buf = nullptr;
      std::size_t n = 0;
      la_int64_t off = 0, at = 0;
      while (archive_read_data_block(a, &buf, &n, &off) == ARCHIVE_OK) {
        update_zeros(sha, static_cast<std::uint64_t>(off - at)); // libarchive's own holes
        sha.update(std::span<const char>(static_cast<const char*>(buf), n));
        at = off + static_cast<la_int64_t>(n);
      }
      update_zeros(sha, f.entry.size - static_cast<std::uint64_t>(at));
      CHECK(sha.finish_hex() == f.sha256);
    }
    CHECK(rc == ARCHIVE_EOF);
    archive_read_free(a);
    CHECK(seen_files == r.manifest.files.size());
    CHECK(seen_dirs == r.manifest.dirs.size());
  }

  TEST_CASE("our reader takes GNU tar's pax archive when the manifest matches")
  {
    fs::path vol = scratch_dir("oracle-rd");
    fs::path repo = scratch_dir("oracle-rd-repo");
    fs::path dst = scratch_dir("oracle-rd-dst");
    fs::path chunk = make_oracle_chunk(vol);
    PackResult ours = pack_file(vol, repo / "ours.tar.zst");
    fs::path theirs = repo / "gnu.tar.zst";
    REQUIRE(run_command("tar --format=pax -C '" + chunk.string() + "' -cf - . | zstd -q -3 > '" +
                        theirs.string() + "'") == 0);
    auto node = make_local_node("oracle", {dst.string(), repo.string()});
    auto writer = node->unpack_chunk(dst.string(), "task-gnu", ours.manifest);
    node->read_file(repo.string(), "gnu.tar.zst", 0, *writer);
    ChunkDigest d = writer->finish(sha256_of_file(theirs));
    CHECK(d.content_hash == ours.digest.content_hash);
    REQUIRE(node->commit_chunk(dst.string(), "task-gnu", k_key, CommitMode::no_replace) ==
            CommitOutcome::placed);
    check_identical(chunk, dst / k_key); // holes from the manifest, though GNU tar sent zeros
    // The same archive against a manifest that lies about one size is refused.
    ChunkManifest lying = ours.manifest;
    lying.files[0].entry.size += 1;
    auto w2 = node->unpack_chunk(dst.string(), "task-gnu2", lying);
    CHECK_THROWS_AS(node->read_file(repo.string(), "gnu.tar.zst", 0, *w2), TransportError);
    CHECK_FALSE(has_entry_starting(dst, ".clsync-tmp"));
  }

  TEST_CASE("hostile objects through a node write nothing outside the temp and leave no temp")
  {
    fs::path vol = scratch_dir("hostile-vol");
    fs::path repo = scratch_dir("hostile-repo");
    fs::path outside = scratch_dir("hostile-outside");
    auto node = make_local_node("hostile", {vol.string(), repo.string()});
    ChunkManifest m;
    m.files.push_back({{"a.col", 5, 0, 0644, 0, 0, ""}, sha256_hex("hello"), {}});
    m.dirs.push_back({"", 0, 0755, 0, 0});
    // GNU tar itself writes the hostile members (-P keeps absolute and .. names).
    write_file(outside / "victim", "hello");
    fs::create_directories(repo / "src/sub");
    write_file(repo / "src/a.col", "hello");
    fs::create_symlink(outside / "victim", repo / "src/link.col");
    REQUIRE(::mkfifo((repo / "src/fifo").c_str(), 0644) == 0);
    struct Case {
      std::string name, tar_args;
    };
    std::vector<Case> cases = {
        {"dotdot", "-C '" + (repo / "src/sub").string() + "' -P ../a.col"},
        {"absolute", "-P '" + (outside / "victim").string() + "'"},
        {"symlink", "-C '" + (repo / "src").string() + "' link.col"},
        {"fifo", "-C '" + (repo / "src").string() + "' a.col fifo"},
    };
    for (const Case& c : cases) {
      INFO(c.name);
      std::string obj = (repo / (c.name + ".tar.zst")).string();
      REQUIRE(run_command("tar --format=pax -cf - " + c.tar_args + " 2>/dev/null | zstd -q > '" +
                          obj + "'") == 0);
      auto w = node->unpack_chunk(vol.string(), "task-" + c.name, m);
      try {
        node->read_file(repo.string(), c.name + ".tar.zst", 0, *w);
        w->finish("");
        FAIL("accepted");
      } catch (const TransportError& e) {
        CHECK_MESSAGE(e.kind() == FailureKind::refused, e.what());
      }
      CHECK_FALSE(has_entry_starting(vol, ".clsync-tmp"));
      CHECK(read_file(outside / "victim") == "hello");
      CHECK(std::distance(fs::directory_iterator(outside), fs::directory_iterator()) == 1);
    }
  }
}
