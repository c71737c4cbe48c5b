// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/integration/commit_set_fixture.hpp"

#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace clsync::test {

core::FilterOptions commit_set_day()
{
  core::FilterOptions f;
  f.dbs = {"Level1"};
  f.where = {"date<=2020.06.01"};
  return f;
}

int run_expect(const std::string& args, int expect, const std::string& env, std::string* out)
{
  std::string text;
  const int rc = run_clsync(args + " --json", &text, env);
  CHECK_MESSAGE(rc == expect, text);
  if (out) {
    *out = text;
  }
  return rc;
}

CommitSetScene::CommitSetScene(const std::string& name)
    : a(name), b(a), repo_dir(a.dir / "repo"),
      base(args_b(a, b) + "restore --from '" + repo_dir.string() + "'")
{
  REQUIRE(make_repository(a, repo_dir, commit_set_day()).chunks.size() == 10);
}

void CommitSetScene::restore_and_change(const std::string& on_node)
{
  REQUIRE(run_expect(base, 0) == 0);
  auto inv = b.inventory(true);
  const core::Chunk* victim = nullptr;
  for (const auto& c : inv.chunks) {
    for (const auto& r : c.replicas) {
      if (!victim && (on_node.empty() || r.node == on_node)) {
        victim = &c;
      }
    }
  }
  REQUIRE(victim);
  REQUIRE(victim->replicas.size() == 2);
  key = victim->key;
  new_hash = victim->replicas.front().content_hash;
  fs::path rel;
  const fs::path first = fs::path(std::string(victim->replicas.front().volume)) / key;
  for (const auto& e : fs::recursive_directory_iterator(first)) {
    if (e.is_regular_file()) {
      rel = e.path().lexically_relative(first);
      break;
    }
  }
  REQUIRE(!rel.empty());
  victim_files.clear();
  for (const auto& r : victim->replicas) {
    victim_files.push_back(fs::path(std::string(r.volume)) / key / rel);
  }
  change();
}

void CommitSetScene::change()
{
  for (const auto& file : victim_files) {
    write_file(file, read_file(file) + "an older version");
  }
  const auto hashes = replica_hashes();
  REQUIRE(hashes.size() == 2);
  REQUIRE(hashes[0] == hashes[1]);
  old_hash = hashes[0];
  REQUIRE(old_hash != new_hash);
}

std::vector<std::string> CommitSetScene::replica_hashes()
{
  std::vector<std::string> out;
  for (const auto& c : b.inventory(true).chunks) {
    if (c.key == key) {
      for (const auto& r : c.replicas) {
        out.push_back(r.content_hash);
      }
    }
  }
  return out;
}

void CommitSetScene::check_all(const std::string& want, const std::string& when)
{
  const auto hashes = replica_hashes();
  CHECK_MESSAGE(hashes.size() == 2, when);
  for (const auto& h : hashes) {
    CHECK_MESSAGE(h == want, when << ": "
                                  << (h == old_hash   ? "old"
                                      : h == new_hash ? "new"
                                                      : "other"));
  }
  const auto left = leftovers(a.dir / "b");
  CHECK_MESSAGE(left.empty(), when << ": " << (left.empty() ? "" : left.front()));
}

std::vector<std::string> CommitSetScene::participant_volumes()
{
  for (const auto& e : fs::recursive_directory_iterator(a.dir / "b")) {
    if (e.path().filename().string().rfind(".clsync-intent-", 0) == 0) {
      auto j = nlohmann::json::parse(read_file(e.path()));
      std::vector<std::string> out;
      for (const auto& t : j["targets"]) {
        out.push_back(t["volume"]);
      }
      return out;
    }
  }
  FAIL("no intent on B");
  return {};
}

std::size_t CommitSetScene::node_of(const std::string& volume) const
{
  for (std::size_t i = 0; i < b.topo->nodes.size(); ++i) {
    if (b.volume(i) == volume) {
      return i;
    }
  }
  FAIL("no node of B has volume " << volume);
  return 0;
}

} // namespace clsync::test
