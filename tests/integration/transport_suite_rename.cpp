// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Contract case for batched renames between two volumes of one node (Node::rename_chunks).
#include "tests/integration/transport_suite_util.hpp"

namespace clsync::test {

using namespace contract;

void run_contract_rename_chunks(const NodeMaker& make)
{
  fs::path base = scratch_dir("rename-batch");
  fs::path v1 = base / "v1";
  fs::path v2 = base / "v2";
  fs::create_directories(v2);
  const std::string k0 = "Level1/20200601/0/Snapshot";
  const std::string k1 = "Level1/20200601/1/Snapshot";
  const std::string k2 = "Level1/20200602/0/Snapshot";
  const std::string k3 = "Level1/20200603/0/Snapshot";
  auto e0 = make_small_chunk(v1, k0);
  auto e1 = make_small_chunk(v1, k1);
  make_small_chunk(v1, k2);
  make_small_chunk(v1, k3);
  auto there = make_small_chunk(v2, k2, "other");  // k2 is at the destination already
  // k0's parent holds only k0: it moves with its parent (whose mode shows it is the source's);
  // k4's parent also holds a file of no chunk, which stays where it is.
  fs::permissions(v1 / "Level1/20200601/0", fs::perms(0700));
  const std::string k4 = "Level1/20200604/0/Snapshot";
  auto e4 = make_small_chunk(v1, k4);
  write_file(v1 / "Level1/20200604/0/not-a-chunk", "stays");
  auto node = make({v1.string(), v2.string()});
  using transport::BatchRenameOutcome;

  const std::vector<transport::RenameItem> items{
      {k0, transport::quick_fingerprint(e0)},      // renamed, fingerprint checked
      {k1, ""},                                    // renamed, fingerprint not checked
      {k2, ""},                                    // destination_exists
      {k3, "not-its-fingerprint"},                 // changed
      {"Level1/20200609/0/Snapshot", ""},          // missing
      {k4, transport::quick_fingerprint(e4)},      // renamed, alone
  };
  const auto out = node->rename_chunks(v1.string(), v2.string(), items);
  REQUIRE(out.size() == items.size());
  CHECK(out[0].outcome == BatchRenameOutcome::renamed);
  CHECK(out[1].outcome == BatchRenameOutcome::renamed);
  CHECK(out[2].outcome == BatchRenameOutcome::destination_exists);
  CHECK(out[3].outcome == BatchRenameOutcome::changed);
  CHECK(out[4].outcome == BatchRenameOutcome::missing);
  CHECK(out[5].outcome == BatchRenameOutcome::renamed);
  // Each chunk in exactly one place; emptied source parents removed, the others kept.
  CHECK(node->fingerprint(v2.string(), k0) == transport::quick_fingerprint(e0));
  CHECK(node->fingerprint(v2.string(), k1) == transport::quick_fingerprint(e1));
  CHECK_FALSE(fs::exists(v1 / k0));
  CHECK_FALSE(fs::exists(v1 / "Level1/20200601"));
  CHECK(fs::status(v2 / "Level1/20200601/0").permissions() == fs::perms(0700));
  CHECK(node->fingerprint(v2.string(), k4) == transport::quick_fingerprint(e4));
  CHECK_FALSE(fs::exists(v1 / k4));
  CHECK(read_file(v1 / "Level1/20200604/0/not-a-chunk") == "stays");
  CHECK_FALSE(fs::exists(v2 / "Level1/20200604/0/not-a-chunk"));
  CHECK(read_file(v1 / k2 / "a.col") == "alpha");
  CHECK(node->fingerprint(v2.string(), k2) == transport::quick_fingerprint(there));
  CHECK(fs::exists(v1 / k3 / "a.col"));
  CHECK_FALSE(fs::exists(v2 / k3));
  CHECK_FALSE(has_entry_starting(v1, ".clsync"));
  CHECK_FALSE(has_entry_starting(v2, ".clsync"));

  expect_failure([&] { node->rename_chunks(v1.string(), v1.string(), {{k3, ""}}); },
                 FailureKind::refused);

  // Another filesystem: nothing renamed, every item cross_device (the caller copies).
  TmpfsMount t(base / "tmpfs", "8m");
  auto multi = make({v1.string(), t.path().string()});
  const auto far = multi->rename_chunks(v1.string(), t.path().string(), {{k3, ""}, {k2, ""}});
  REQUIRE(far.size() == 2);
  CHECK(far[0].outcome == BatchRenameOutcome::cross_device);
  CHECK(far[1].outcome == BatchRenameOutcome::cross_device);
  CHECK(fs::exists(v1 / k3 / "a.col"));
  CHECK(fs::is_empty(t.path()));
}

} // namespace clsync::test
