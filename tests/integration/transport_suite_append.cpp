// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Contract case resumable_writes: append_file and list_tree (push, issue 8).
#include "tests/integration/transport_suite_util.hpp"

namespace clsync::test {

using namespace contract;

namespace {

std::string pattern(std::size_t n, unsigned seed)
{
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

void write_all(transport::AppendWriter& w, std::string_view data)
{
  for (std::size_t i = 0; i < data.size(); i += 1 << 20) {
    auto n = std::min<std::size_t>(1 << 20, data.size() - i);
    w.write(std::span<const char>(data.data() + i, n));
  }
}

} // namespace

void run_contract_resumable_writes(const NodeMaker& make)
{
  fs::path r = scratch_dir("append");
  auto node = make({r.string()});
  const std::string root = r.string();
  const std::string rel = "objects/ab/abcd.tar.zst";
  // Crosses k_append_sync_bytes twice, so the periodic fsync runs.
  const std::string whole = pattern(40u << 20, 7);
  const std::string sha = transport::sha256_hex(whole);
  const std::size_t cut = (24u << 20) + 12345;

  {
    auto w = node->append_file(root, rel, sha);
    CHECK(w->offset() == 0);
    write_all(*w, std::string_view(whole).substr(0, cut));
    // A second writer of the same partial is refused while this one lives.
    expect_failure([&] { node->append_file(root, rel, sha); }, FailureKind::refused);
    w->close();
  }
  CHECK(fs::file_size(r / (rel + ".partial")) == cut);
  CHECK_FALSE(fs::exists(r / rel));

  // A dropped writer keeps what it wrote as well.
  {
    auto w = node->append_file(root, rel, sha);
    CHECK(w->offset() == cut);
    write_all(*w, std::string_view(whole).substr(cut, 1000));
  }
  {
    auto w = node->append_file(root, rel, sha);
    REQUIRE(w->offset() == cut + 1000);
    write_all(*w, std::string_view(whole).substr(w->offset()));
    CHECK(w->commit() == whole.size());
  }
  CHECK(read_file(r / rel) == whole);
  CHECK_FALSE(fs::exists(r / (rel + ".partial")));

  // A partial whose prefix is not the file's: the whole hash differs, the partial goes.
  const std::string rel2 = "objects/cd/cdef.tar.zst";
  const std::string small = pattern(100000, 9);
  fs::create_directories(r / "objects/cd");
  write_file(r / (rel2 + ".partial"), "not the start of it");
  {
    auto w = node->append_file(root, rel2, transport::sha256_hex(small));
    CHECK(w->offset() == 19);
    write_all(*w, std::string_view(small).substr(19));
    std::string msg = expect_failure([&] { w->commit(); }, FailureKind::refused);
    CHECK(msg.find("objects/cd/cdef.tar.zst") != std::string::npos);
    CHECK(msg.find(transport::sha256_hex(small)) != std::string::npos);
  }
  CHECK_FALSE(fs::exists(r / (rel2 + ".partial")));
  CHECK_FALSE(fs::exists(r / rel2));
  // Tampered bytes on the way: the same.
  {
    auto w = node->append_file(root, rel2, transport::sha256_hex(small));
    CHECK(w->offset() == 0);
    std::string bad = small;
    bad[500] ^= 1;
    write_all(*w, bad);
    expect_failure([&] { w->commit(); }, FailureKind::refused);
  }
  CHECK_FALSE(fs::exists(r / (rel2 + ".partial")));
  // The connection (or node) is still usable after a refused commit.
  {
    auto w = node->append_file(root, rel2, transport::sha256_hex(small));
    write_all(*w, small);
    CHECK(w->commit() == small.size());
  }
  CHECK(read_file(r / rel2) == small);

  expect_failure([&] { node->append_file(root, "../x", sha); }, FailureKind::refused);
  expect_failure([&] { node->append_file(root, "objects/x", "not-a-hash"); },
                 FailureKind::refused);

  // list_tree: every file beneath, names relative to the listed directory, in one call.
  write_file(r / "objects/ef/efef.tar.zst.partial", "half");
  write_file(r / "objects/ef/x.clsync-part-1-2", "temp");
  write_file(r / "snapshots/s1.json", "{}");
  auto tree = node->list_tree(root, "objects");
  std::vector<std::string> names;
  for (const auto& e : tree) {
    names.push_back(e.name);
    CHECK_FALSE(e.is_dir);
  }
  CHECK(names == std::vector<std::string>{"ab/abcd.tar.zst", "cd/cdef.tar.zst",
                                          "ef/efef.tar.zst.partial"});
  CHECK(tree[0].size == whole.size());
  CHECK(node->list_tree(root, "").size() == 4);
  CHECK(node->list_tree(root, "nope").empty());
  expect_failure([&] { node->list_tree(root, "../"); }, FailureKind::refused);
}

} // namespace clsync::test
