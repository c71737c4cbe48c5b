// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Contract cases for Node::scan.
#include "tests/integration/transport_suite_util.hpp"

#include <algorithm>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

namespace clsync::test {

using namespace contract;

void run_contract_scan_chunks(const NodeMaker& make)
{
  fs::path v1 = scratch_dir("scan-v1");
  fs::path v2 = scratch_dir("scan-v2");
  const std::string k1 = "Level1/20200601/0/Snapshot";
  const std::string k2 = "Level1/20200601/1/Snapshot";
  const std::string k3 = "Level2/20200602/7/Quotes";
  auto e1 = make_small_chunk(v1, k1, "", 1'591'000'000'000'000'001);
  auto e2 = make_small_chunk(v1, k2, "x");
  auto e1b = make_small_chunk(v2, k1, "", 1'700'000'000'000'000'001);  // same bytes, other mtimes
  auto e3 = make_small_chunk(v2, k3, "yy");
  write_file(v1 / "Level1/20200601/README", "stray");
  make_small_chunk(v1, "Level1/20200601/.clsync-x/Snapshot");
  write_file(v1 / "Level1/20200602/0/a.col", "one level short: a stray file");

  auto node = make({v1.string(), v2.string()});
  transport::NodeScan scan = node->scan(test_spec(true, true));

  REQUIRE(scan.volumes.size() == 2);
  CHECK(scan.volumes[0].path == v1.string());
  CHECK(scan.volumes[1].path == v2.string());
  CHECK(scan.volumes[0].ok);
  CHECK(scan.replicas.size() == 4);
  const auto* r1 = find_replica(scan, v1.string(), k1);
  const auto* r2 = find_replica(scan, v1.string(), k2);
  const auto* r1b = find_replica(scan, v2.string(), k1);
  const auto* r3 = find_replica(scan, v2.string(), k3);
  REQUIRE(r1);
  REQUIRE(r2);
  REQUIRE(r1b);
  REQUIRE(r3);

  CHECK(r1->files == 3);
  CHECK(r1->bytes == 5 + 1000 + 5);
  CHECK(r1->newest_mtime_ns == 1'591'000'000'000'000'003);
  CHECK(r1->fingerprint == transport::quick_fingerprint(e1));
  CHECK(r1->layout_hash == transport::layout_hash(e1, expected_dirs(v1 / k1)));
  CHECK(r2->fingerprint == transport::quick_fingerprint(e2));
  CHECK(r3->fingerprint == transport::quick_fingerprint(e3));
  CHECK(r1->fingerprint != r2->fingerprint);
  // Same bytes written at other times: the quick check differs, layout and content do not.
  CHECK(r1b->fingerprint != r1->fingerprint);
  CHECK(r1b->fingerprint == transport::quick_fingerprint(e1b));
  CHECK(r1b->layout_hash == r1->layout_hash);
  CHECK(r1b->content_hash == r1->content_hash);
  CHECK(r1->content_hash == expected_content_hash(v1 / k1, {"a.col", "b.col", "sub/c.col"}));
  CHECK(r1->content_hash != r2->content_hash);
  CHECK(r1->special.empty());

  REQUIRE(r1->file_list.size() == 3);
  CHECK(r1->file_list[2].path == "sub/c.col");
  CHECK(r1->file_list[2].mode == 0755);
  CHECK(r1->file_list[2].mtime_ns == 1'591'000'000'000'000'003);
  CHECK(r1->file_list[1].size == 1000);

  // The single-chunk calls agree with the scan.
  CHECK(node->fingerprint(v1.string(), k1) == r1->fingerprint);
  CHECK(node->hash_chunk(v1.string(), k1).content_hash == r1->content_hash);
  CHECK(node->fingerprint(v1.string(), "Level1/20991231/0/Snapshot").empty());

  auto mentions = [&](const std::string& what) {
    return std::any_of(scan.problems.begin(), scan.problems.end(),
                       [&](const std::string& p) { return p.find(what) != std::string::npos; });
  };
  CHECK(mentions((v1 / "Level1/20200601/README").string()));
  CHECK(mentions((v1 / "Level1/20200602/0/a.col").string()));
  for (const auto& r : scan.replicas) {
    CHECK(r.key.find(".clsync") == std::string::npos);
  }

  // Without the options, nothing is read and no lists are sent.
  transport::NodeScan quick = node->scan(test_spec());
  REQUIRE(find_replica(quick, v1.string(), k1));
  CHECK(find_replica(quick, v1.string(), k1)->content_hash.empty());
  CHECK(find_replica(quick, v1.string(), k1)->file_list.empty());
  CHECK(find_replica(quick, v1.string(), k1)->fingerprint == r1->fingerprint);
}

void run_contract_scan_unmanaged(const NodeMaker& make)
{
  fs::path v = scratch_dir("unmanaged");
  write_file(v / "other/a/f1", std::string(10, 'x'));
  write_file(v / "other/a/b/f2", "12345");
  write_file(v / "other/a/b/f3", "67890");
  fs::create_directories(v / "other/empty");
  write_file(v / "lost+found/x", "ignored");
  fs::create_directories(v / "Level1");
  write_file(v / "notes.txt", "stray");

  auto node = make({v.string()});
  transport::NodeScan scan = node->scan(test_spec());
  CHECK(scan.replicas.empty());
  REQUIRE(scan.unmanaged.size() == 2);
  CHECK(scan.unmanaged[0].path == "other/a");
  CHECK(scan.unmanaged[0].files == 1);
  CHECK(scan.unmanaged[0].bytes == 10);
  CHECK(scan.unmanaged[1].path == "other/a/b");
  CHECK(scan.unmanaged[1].files == 2);
  CHECK(scan.unmanaged[1].bytes == 10);
  CHECK(scan.unmanaged[0].volume == v.string());
  bool stray = false;
  for (const auto& p : scan.problems) {
    stray = stray || p.find((v / "notes.txt").string()) != std::string::npos;
    CHECK(p.find("lost+found") == std::string::npos);
  }
  CHECK(stray);
}

void run_contract_scan_skip_databases(const NodeMaker& make)
{
  fs::path v = scratch_dir("skip-dbs");
  const std::string k1 = "Level1/20200601/0/Snapshot";
  make_small_chunk(v, k1);
  make_small_chunk(v, "Level2/20200602/7/Quotes", "y");
  write_file(v / "Level2/20200602/README", "a stray file: a problem when Level2 is scanned");
  write_file(v / "other/f", "unmanaged");
  auto node = make({v.string()});

  auto spec = test_spec();
  const transport::NodeScan all = node->scan(spec);
  CHECK(all.replicas.size() == 2);
  CHECK(all.problems.size() == 1);

  spec.skip_databases = {"Level2"};
  const transport::NodeScan scan = node->scan(spec);
  REQUIRE(scan.replicas.size() == 1);
  CHECK(scan.replicas[0].key == k1);
  CHECK(scan.problems.empty());
  REQUIRE(scan.unmanaged.size() == 1);  // undeclared directories are still reported
  CHECK(scan.unmanaged[0].path == "other");
  REQUIRE(scan.volumes.size() == 1);
  CHECK(scan.volumes[0].ok);
}

void run_contract_scan_leftovers(const NodeMaker& make)
{
  fs::path v = scratch_dir("leftovers");
  make_small_chunk(v / ".clsync-tmp-t1", "");  // a temp holding files, even a chunk-like tree
  make_small_chunk(v / ".clsync-tmp-t1", "Level1/20200601/0/Snapshot");
  fs::create_directories(v / ".clsync-trash-t2/x");
  write_file(v / ".clsync-odd", "?");
  auto node = make({v.string()});
  const std::string record = R"({"run":"r1","task":"t3","chunk":"Level1/20200601/0/Snapshot"})";
  node->write_intent(v.string(), "t3", record);
  transport::LeaseInfo lease{"host-a", 42, "run-1", "rebalance-nodes", 0, 0, 0};
  REQUIRE(node->acquire_lease(v.string(), lease, "").acquired);

  transport::NodeScan scan = node->scan(test_spec());
  CHECK(scan.replicas.empty());
  std::map<std::string, transport::LeftoverScan> by_name;
  for (const auto& l : scan.leftovers) {
    by_name[l.name] = l;
    CHECK(l.volume == v.string());
  }
  REQUIRE(by_name.size() == 5);
  CHECK(by_name[".clsync-tmp-t1"].kind == "tmp");
  CHECK(by_name[".clsync-tmp-t1"].task == "t1");
  CHECK(by_name[".clsync-trash-t2"].kind == "trash");
  CHECK(by_name[".clsync-trash-t2"].task == "t2");
  CHECK(by_name[".clsync-intent-t3"].kind == "intent");
  CHECK(by_name[".clsync-intent-t3"].task == "t3");
  CHECK(by_name[".clsync-intent-t3"].content == record);
  CHECK(by_name[".clsync-lease"].kind == "lease");
  CHECK(by_name[".clsync-odd"].kind == "other");
  CHECK(by_name[".clsync-tmp-t1"].content.empty());
}

void run_contract_scan_specials(const NodeMaker& make)
{
  fs::path v = scratch_dir("specials");
  fs::path outside = scratch_dir("specials-outside");
  write_file(outside / "big", std::string(100000, 'o'));
  make_small_chunk(outside, "Level1/20200602/0/Snapshot");
  const std::string key = "Level1/20200601/0/Snapshot";
  fs::path chunk = v / key;
  std::vector<transport::FileEntry> entries{put_file(chunk / "a.col", "a.col", "real")};
  fs::create_symlink(outside / "big", chunk / "link");
  fs::create_directory_symlink(outside, chunk / "ldir");
  REQUIRE(::mkfifo((chunk / "pipe").c_str(), 0644) == 0);
  fs::create_directory_symlink(outside / "Level1/20200602", v / "Level1/20200602");

  auto node = make({v.string()});
  transport::NodeScan scan = node->scan(test_spec(true, true));
  REQUIRE(scan.replicas.size() == 1);  // the symlinked date directory is not followed
  const auto& r = scan.replicas[0];
  CHECK(r.key == key);
  CHECK(r.files == 1);
  CHECK(r.bytes == 4);
  CHECK(r.fingerprint == transport::quick_fingerprint(entries));
  CHECK(r.special == std::vector<std::string>{"ldir", "link", "pipe"});
  REQUIRE(r.file_list.size() == 1);
  bool reported = false;
  for (const auto& p : scan.problems) {
    reported = reported || p.find((v / "Level1/20200602").string()) != std::string::npos;
  }
  CHECK(reported);

  // A chunk holding special files is never streamed (it would be lost at the source).
  RecordingSink sink;
  std::string msg = expect_failure([&] { node->read_chunk(v.string(), key, sink); },
                                   FailureKind::refused);
  CHECK(msg.find(key) != std::string::npos);
  CHECK(sink.seen.empty());
}

void run_contract_scan_volumes(const NodeMaker& make)
{
  fs::path base = scratch_dir("volumes");
  fs::path v1 = base / "v1";
  fs::path v2 = base / "v2";
  fs::create_directories(v1);
  fs::create_directories(v2);
  TmpfsMount small(base / "small", "8m");
  make_small_chunk(small.path(), k_key);
  fs::path missing = base / "missing";

  auto node = make({v1.string(), v2.string(), small.path().string(), missing.string()});
  transport::NodeScan scan;
  REQUIRE_NOTHROW(scan = node->scan(test_spec()));
  REQUIRE(scan.volumes.size() == 4);
  CHECK(scan.volumes[0].ok);
  CHECK(scan.volumes[1].ok);
  CHECK(scan.volumes[2].ok);
  // Capacity belongs to the filesystem: two volumes on one filesystem share an id.
  CHECK(scan.volumes[0].filesystem_id == scan.volumes[1].filesystem_id);
  CHECK(scan.volumes[0].filesystem_id != scan.volumes[2].filesystem_id);
  CHECK(scan.volumes[0].capacity_bytes == scan.volumes[1].capacity_bytes);
  CHECK(scan.volumes[2].capacity_bytes == 8u * 1024 * 1024);
  CHECK(scan.volumes[2].free_bytes <= scan.volumes[2].capacity_bytes);
  CHECK(scan.volumes[2].free_bytes > 0);
  CHECK_FALSE(scan.volumes[3].ok);
  CHECK(scan.volumes[3].error.find(missing.string()) != std::string::npos);
  CHECK(scan.volumes[3].path == missing.string());
  REQUIRE(scan.replicas.size() == 1);
  CHECK(scan.replicas[0].volume == small.path().string());
}

} // namespace clsync::test
