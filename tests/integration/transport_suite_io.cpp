// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Contract cases for chunk streams: read_chunk, write_chunk, commit_chunk, copies, full disks.
#include "tests/integration/transport_suite_util.hpp"

#include <algorithm>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace clsync::test {

using namespace contract;

namespace {

struct stat lstat_checked(const fs::path& p)
{
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st;
}

} // namespace

void run_contract_round_trip(const NodeMaker& make)
{
  fs::path src = scratch_dir("rt-src");
  fs::path dst = scratch_dir("rt-dst");
  fs::path chunk = src / k_key;
  const std::uint64_t big_size = 64ull << 20;
  std::string big_sha = fill_file(chunk / "big.col", big_size, 7);
  REQUIRE(::chmod((chunk / "big.col").c_str(), 0640) == 0);
  set_mtime(chunk / "big.col", 1'591'000'000'987'654'321);
  std::vector<std::string> rels{"big.col"};
  for (int i = 0; i < 300; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "part/%02d/f%03d.col", i % 17, i);
    std::uint32_t mode = i % 3 == 0 ? 0600 : i % 3 == 1 ? 0644 : 0755;
    put_file(chunk / name, name, std::string(static_cast<std::size_t>(i * 37 % 5000), 'a' + i % 26),
             mode, 1'591'000'000'000'000'000 + i * 1001);
    rels.push_back(name);
  }
  // Hard links: one whose first name sorts before its target's, one after.
  fs::create_hard_link(chunk / "big.col", chunk / "big.link");
  put_file(chunk / "zz/target", "zz/target", "linked bytes", 0644);
  fs::create_hard_link(chunk / "zz/target", chunk / "a_first");
  REQUIRE(::chown((chunk / "part/00/f017.col").c_str(), 1234, 5678) == 0);
  rels.insert(rels.end(), {"big.link", "zz/target", "a_first"});
  std::sort(rels.begin(), rels.end());

  auto a = make({src.string()});
  auto b = make({dst.string()});
  auto writer = b->write_chunk(dst.string(), "task-rt");
  RecordingSink tee(writer.get());
  transport::ChunkDigest read = a->read_chunk(src.string(), k_key, tee);
  transport::ChunkDigest written = writer->finish();

  // The stream: sorted paths; a hard link travels as a name without data.
  REQUIRE(tee.seen.size() == rels.size());
  for (std::size_t i = 0; i < rels.size(); ++i) {
    CHECK(tee.seen[i].entry.path == rels[i]);
  }
  auto seen = [&](const std::string& p) {
    return *std::find_if(tee.seen.begin(), tee.seen.end(),
                         [&](const auto& s) { return s.entry.path == p; });
  };
  CHECK(seen("big.link").entry.link_to == "big.col");
  CHECK(seen("big.link").data_bytes == 0);
  CHECK(seen("big.link").sha256 == big_sha);
  CHECK(seen("zz/target").entry.link_to == "a_first");
  CHECK(seen("a_first").entry.link_to.empty());
  CHECK(seen("big.col").data_bytes == big_size);
  CHECK(seen("big.col").sha256 == big_sha);

  CHECK(read.content_hash == expected_content_hash(chunk, rels));
  CHECK(written.content_hash == read.content_hash);
  CHECK(written.fingerprint == read.fingerprint);
  CHECK(written.bytes == read.bytes);
  CHECK(written.files == rels.size());
  CHECK(read.fingerprint == a->fingerprint(src.string(), k_key));
  CHECK(fs::is_directory(dst / ".clsync-tmp-task-rt"));
  CHECK_FALSE(fs::exists(dst / k_key));

  REQUIRE(b->commit_chunk(dst.string(), "task-rt", k_key, transport::CommitMode::no_replace) ==
          transport::CommitOutcome::placed);
  CHECK_FALSE(fs::exists(dst / ".clsync-tmp-task-rt"));
  fs::path copy = dst / k_key;
  CHECK(b->hash_chunk(dst.string(), k_key).content_hash == read.content_hash);
  CHECK(b->fingerprint(dst.string(), k_key) == a->fingerprint(src.string(), k_key));
  CHECK(sha256_of_file(copy / "big.col") == big_sha);
  CHECK(lstat_checked(copy / "big.col").st_ino == lstat_checked(copy / "big.link").st_ino);
  CHECK(lstat_checked(copy / "a_first").st_ino == lstat_checked(copy / "zz/target").st_ino);
  CHECK(lstat_checked(copy / "big.col").st_ino != lstat_checked(copy / "a_first").st_ino);
  CHECK((lstat_checked(copy / "big.col").st_mode & 07777) == 0640);
  CHECK((lstat_checked(copy / "part/01/f001.col").st_mode & 07777) == 0644);
  CHECK((lstat_checked(copy / "part/02/f002.col").st_mode & 07777) == 0755);
  CHECK(mtime_of(copy / "big.col") == 1'591'000'000'987'654'321);
  CHECK(mtime_of(copy / "part/05/f005.col") == 1'591'000'000'000'005'005);
  CHECK(fs::file_size(copy / "part/00/f000.col") == 0);
  if (::geteuid() == 0) {
    CHECK(lstat_checked(copy / "part/00/f017.col").st_uid == 1234);
    CHECK(lstat_checked(copy / "part/00/f017.col").st_gid == 5678);
  }
}

void run_contract_writer_checks(const NodeMaker& make)
{
  fs::path v = scratch_dir("writer");
  auto node = make({v.string()});
  transport::FileEntry f{"f.col", 3, 1'600'000'000'000'000'000, 0644, 0, 0, ""};

  {  // a hash that differs from the source's
    auto w = node->write_chunk(v.string(), "bad1");
    CHECK(fs::is_directory(v / ".clsync-tmp-bad1"));
    w->begin_file(f);
    w->file_data(std::span<const char>("abc", 3));
    std::string msg = expect_failure([&] { w->end_file(transport::sha256_hex("abd")); },
                                     FailureKind::error);
    CHECK(msg.find("f.col") != std::string::npos);
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-bad1"));
    CHECK_THROWS_AS(w->finish(), transport::TransportError);
  }
  {  // fewer bytes than announced
    auto w = node->write_chunk(v.string(), "bad2");
    transport::FileEntry g = f;
    g.size = 5;
    w->begin_file(g);
    w->file_data(std::span<const char>("abc", 3));
    expect_failure([&] { w->end_file(transport::sha256_hex("abc")); }, FailureKind::error);
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-bad2"));
  }
  {  // a link to a file the stream never sent, and a path leaving the chunk
    auto w = node->write_chunk(v.string(), "bad3");
    transport::FileEntry l = f;
    l.link_to = "nowhere";
    expect_failure([&] { w->begin_file(l); }, FailureKind::refused);
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-bad3"));
    auto w2 = node->write_chunk(v.string(), "bad4");
    transport::FileEntry evil = f;
    evil.path = "../../evil";
    expect_failure([&] { w2->begin_file(evil); }, FailureKind::refused);
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-bad4"));
    CHECK_FALSE(fs::exists(v.parent_path() / "evil"));
  }
  {  // a leftover temp of the same task is replaced, not merged
    write_small(*node, v.string(), "again", {{"old.col", "old"}});
    CHECK(fs::exists(v / ".clsync-tmp-again/old.col"));
    write_small(*node, v.string(), "again", {{"new.col", "new"}});
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-again/old.col"));
    CHECK(fs::exists(v / ".clsync-tmp-again/new.col"));
    node->remove_task_dirs(v.string(), "again");
  }
  {  // abort after finish removes the temp; twice is harmless; a dropped writer cleans up
    auto w = node->write_chunk(v.string(), "ab");
    w->begin_file(f);
    w->file_data(std::span<const char>("abc", 3));
    w->end_file(transport::sha256_hex("abc"));
    w->finish();
    CHECK(fs::exists(v / ".clsync-tmp-ab/f.col"));
    w->abort();
    w->abort();
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-ab"));
    auto dropped = node->write_chunk(v.string(), "dropped");
    dropped->begin_file(f);
    dropped.reset();
    CHECK_FALSE(fs::exists(v / ".clsync-tmp-dropped"));
  }
  CHECK_FALSE(has_entry_starting(v, ".clsync"));
}

void run_contract_commit_modes(const NodeMaker& make)
{
  fs::path v = scratch_dir("commit");
  auto node = make({v.string()});
  const std::string vol = v.string();
  using transport::CommitMode;
  using transport::CommitOutcome;

  write_small(*node, vol, "t1", {{"a", "1"}, {"d/b", "bee"}});
  CHECK(node->commit_chunk(vol, "t1", k_key, CommitMode::no_replace) == CommitOutcome::placed);
  CHECK(read_file(v / k_key / "a") == "1");
  CHECK_FALSE(fs::exists(v / ".clsync-tmp-t1"));

  // Equal content, other mtimes: done already; the temp goes.
  write_small(*node, vol, "t2", {{"a", "1"}, {"d/b", "bee"}}, 1'700'000'000'000'000'000);
  CHECK(node->commit_chunk(vol, "t2", k_key, CommitMode::no_replace) ==
        CommitOutcome::already_equal);
  CHECK_FALSE(fs::exists(v / ".clsync-tmp-t2"));

  // Different content: left alone, the temp is kept for the caller.
  write_small(*node, vol, "t3", {{"a", "2"}, {"d/b", "bee"}});
  CHECK(node->commit_chunk(vol, "t3", k_key, CommitMode::no_replace) ==
        CommitOutcome::exists_different);
  CHECK(read_file(v / k_key / "a") == "1");
  CHECK(fs::exists(v / ".clsync-tmp-t3/a"));

  // --force: swapped atomically, the old version in the task's trash.
  CHECK(node->commit_chunk(vol, "t3", k_key, CommitMode::exchange) == CommitOutcome::replaced);
  CHECK(read_file(v / k_key / "a") == "2");
  CHECK(read_file(v / ".clsync-trash-t3/a") == "1");
  CHECK_FALSE(fs::exists(v / ".clsync-tmp-t3"));
  node->remove_task_dirs(vol, "t3");
  CHECK_FALSE(fs::exists(v / ".clsync-trash-t3"));

  // Exchange with nothing there is a plain placement, parents made as needed.
  write_small(*node, vol, "t4", {{"x", "x"}});
  CHECK(node->commit_chunk(vol, "t4", "Level2/20200101/9/T", CommitMode::exchange) ==
        CommitOutcome::placed);
  CHECK(read_file(v / "Level2/20200101/9/T/x") == "x");

  expect_failure([&] { node->commit_chunk(vol, "never", k_key, CommitMode::no_replace); },
                 FailureKind::not_found);
  CHECK_FALSE(has_entry_starting(v, ".clsync"));
}

void run_contract_copy_chunk_local(const NodeMaker& make)
{
  fs::path base = scratch_dir("copy-local");
  fs::path v1 = base / "disk";
  fs::create_directories(v1);
  TmpfsMount other(base / "tmpfs", "16m");
  auto entries = make_small_chunk(v1, k_key);
  auto node = make({v1.string(), other.path().string()});

  CHECK(node->rename_chunk(v1.string(), k_key, other.path().string()) ==
        transport::RenameOutcome::cross_device);
  CHECK_FALSE(fs::exists(other.path() / "Level1"));
  transport::ChunkDigest d =
      node->copy_chunk_local(v1.string(), k_key, other.path().string(), "cp1");
  CHECK(fs::is_directory(other.path() / ".clsync-tmp-cp1"));
  CHECK(d.fingerprint == transport::quick_fingerprint(entries));
  CHECK(d.files == 3);
  REQUIRE(node->commit_chunk(other.path().string(), "cp1", k_key,
                             transport::CommitMode::no_replace) ==
          transport::CommitOutcome::placed);
  CHECK(node->hash_chunk(other.path().string(), k_key).content_hash == d.content_hash);
  CHECK(node->hash_chunk(v1.string(), k_key).content_hash == d.content_hash);
  CHECK(node->fingerprint(other.path().string(), k_key) == d.fingerprint);
  CHECK(fs::exists(v1 / k_key));  // a copy leaves the source in place
}

void run_contract_disk_full(const NodeMaker& make)
{
  fs::path base = scratch_dir("disk-full");
  fs::path src = base / "src";
  TmpfsMount full(base / "full", "4m");
  fill_file(src / k_key / "a.col", 3 << 20, 1);
  fill_file(src / k_key / "b.col", 3 << 20, 2);
  auto node = make({src.string(), full.path().string()});
  const std::string fv = full.path().string();

  std::string msg = expect_failure(
      [&] { node->copy_chunk_local(src.string(), k_key, fv, "df1"); }, FailureKind::no_space);
  CHECK(msg.find(fv) != std::string::npos);
  CHECK_FALSE(fs::exists(full.path() / ".clsync-tmp-df1"));
  CHECK_FALSE(fs::exists(full.path() / k_key));

  // The same through a stream between two nodes, with no abort() from the caller.
  auto reader = make({src.string()});
  auto writer_node = make({fv});
  auto writer = writer_node->write_chunk(fv, "df2");
  expect_failure([&] { reader->read_chunk(src.string(), k_key, *writer); }, FailureKind::no_space);
  CHECK_FALSE(fs::exists(full.path() / ".clsync-tmp-df2"));
  CHECK_FALSE(has_entry_starting(full.path(), ".clsync"));
  transport::NodeScan scan = node->scan(test_spec());
  REQUIRE(scan.volumes.size() == 2);
  CHECK(scan.volumes[1].free_bytes + (64u << 10) >= scan.volumes[1].capacity_bytes);
  CHECK(fs::exists(src / k_key / "b.col"));
}

void run_contract_concurrent_tasks(const NodeMaker& make)
{
  fs::path v1 = scratch_dir("conc-v1");
  fs::path v2 = scratch_dir("conc-v2");
  constexpr int k_chunks = 16;
  for (int i = 0; i < k_chunks; ++i) {
    make_small_chunk(v1, "Level1/20200601/" + std::to_string(i) + "/Snapshot", std::to_string(i));
  }
  auto node = make({v1.string(), v2.string()});
  std::vector<std::string> errors(k_chunks);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < k_chunks; i += 8) {
        std::string key = "Level1/20200601/" + std::to_string(i) + "/Snapshot";
        std::string task = "conc-" + std::to_string(i);
        try {
          node->copy_chunk_local(v1.string(), key, v2.string(), task);
          if (node->commit_chunk(v2.string(), task, key, transport::CommitMode::no_replace) !=
              transport::CommitOutcome::placed) {
            errors[i] = "not placed";
          }
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (const auto& e : errors) {
    CHECK(e.empty());
  }
  transport::NodeScan scan = node->scan(test_spec());
  CHECK(scan.replicas.size() == 2 * k_chunks);
  for (int i = 0; i < k_chunks; ++i) {
    std::string key = "Level1/20200601/" + std::to_string(i) + "/Snapshot";
    const auto* a = find_replica(scan, v1.string(), key);
    const auto* b = find_replica(scan, v2.string(), key);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->fingerprint == b->fingerprint);
  }
  CHECK_FALSE(has_entry_starting(v2, ".clsync"));
}

} // namespace clsync::test
