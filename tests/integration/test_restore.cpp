// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Restore (suite `restore`): a repository made from the demo's cluster A (objects packed with
// Node::pack_chunk, snapshot written with the Repository API) restored into the empty cluster B
// by the real clsync binary, on local nodes.
#include "core/repo/repository.hpp"
#include "tests/integration/restore_fixture.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <future>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core;
using namespace clsync::test;

namespace {


/// The last NDJSON object of `type` in `text` (null when none).
nlohmann::json last_event(const std::string& text, const std::string& type)
{
  nlohmann::json found;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("type", "") == type) {
      found = j;
    }
  }
  return found;
}

/// Waits (generously) until `path` exists; false when it never appears.
bool wait_for(const fs::path& path)
{
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(path)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

} // namespace

TEST_SUITE("restore")
{
  TEST_CASE("restore into an empty cluster, rerun keeps all, --force replaces a changed chunk")
  {
    DemoCopy a("restore-basic");
    ClusterB b(a);
    const fs::path repo_dir = a.dir / "repo";
    const auto snap = make_repository(a, repo_dir, first_three_days());
    REQUIRE(snap.chunks.size() == 30);
    const std::string base = args_b(a, b) + "restore --from '" + repo_dir.string() + "'";

    // --dry-run writes nothing.
    const std::string before = test::tree_listing(a.dir / "b");
    auto dry = run_json(base + " --dry-run", 0);
    CHECK(dry["restored"] == 30);
    CHECK(dry["replicas_written"] == 60);
    CHECK(test::tree_listing(a.dir / "b") == before);

    // Progress counts the chunks' bytes, not the compressed objects': it ends at 100%.
    const fs::path events = a.dir / "progress.ndjson";
    auto first = run_json(base + " --log-format json 2>'" + events.string() + "'", 0);
    const auto summary = last_event(test::read_file(events), "summary");
    REQUIRE(summary.is_object());
    CHECK(summary["bytes_total"].get<std::uint64_t>() > 0);
    CHECK(summary["bytes_done"] == summary["bytes_total"]);
    CHECK(first["restored"] == 30);
    CHECK(first["kept"] == 0);
    CHECK(first["failed"] == 0);
    CHECK(first["replicas_written"] == 60);
    check_restored(b, snap, 2);
    CHECK(leftovers(a.dir / "b").empty());

    auto again = run_json(base, 0);
    CHECK(again["kept"] == 30);
    CHECK(again["restored"] == 0);
    CHECK(again["replicas_written"] == 0);
    // -q: nothing at all on success.
    std::string quiet;
    CHECK(test::run_clsync("-q " + base + " 2>&1", &quiet) == 0);
    CHECK_MESSAGE(quiet.empty(), quiet);

    // One replica of one chunk changes: an error for that chunk only, named.
    auto inv = b.inventory(false);
    const Chunk& victim = inv.chunks.front();
    const Replica& changed = victim.replicas.front();
    fs::path some_file;
    for (const auto& e : fs::recursive_directory_iterator(fs::path(std::string(changed.volume)) / victim.key)) {
      if (e.is_regular_file()) {
        some_file = e.path();
        break;
      }
    }
    REQUIRE(!some_file.empty());
    test::write_file(some_file, test::read_file(some_file) + "changed");
    auto refused = run_json(base, 3);
    CHECK(refused["failed"] == 1);
    CHECK(refused["kept"] == 29);
    CHECK(refused.dump().find(victim.key) != std::string::npos);
    CHECK(test::read_file(some_file).find("changed") != std::string::npos);
    // -q: only the error, on stderr.
    std::string quiet_out, quiet_all;
    CHECK(test::run_clsync("-q " + base + " 2>/dev/null", &quiet_out) == 3);
    CHECK_MESSAGE(quiet_out.empty(), quiet_out);
    CHECK(test::run_clsync("-q " + base + " 2>&1", &quiet_all) == 3);
    CHECK(quiet_all.find(victim.key) != std::string::npos);
    CHECK(quiet_all.find("error") != std::string::npos);
    CHECK(quiet_all.find("keep") == std::string::npos);

    auto forced = run_json(base + " --force", 0);
    CHECK(forced["replaced"] == 1);
    CHECK(forced["kept"] == 29);
    CHECK(forced["replicas_written"] == 1);
    check_restored(b, snap, 2);
    CHECK(leftovers(a.dir / "b").empty());
  }

  TEST_CASE("a restore killed mid-run finishes on a rerun and leaves no temp")
  {
    DemoCopy a("restore-kill");
    ClusterB b(a);
    const fs::path repo_dir = a.dir / "repo";
    const auto snap = make_repository(a, repo_dir, first_three_days());
    const std::string base = args_b(a, b) + "restore --from '" + repo_dir.string() + "'";
    for (const char* point : {"mid_copy:4", "after_commit:7"}) {
      CAPTURE(point);
      std::string out;
      const int rc = test::run_clsync(base + " --concurrency 2", &out,
                                      std::string("CLSYNC_TEST_CRASH_AT=") + point);
      CHECK(rc == k_killed);
    }
    auto done = run_json(base, 0);
    CHECK(done["failed"] == 0);
    check_restored(b, snap, 2);
    CHECK(leftovers(a.dir / "b").empty());
  }

  TEST_CASE("a tampered object fails only its chunk, naming snapshot and object")
  {
    DemoCopy a("restore-tampered");
    ClusterB b(a);
    const fs::path repo_dir = a.dir / "repo";
    const auto snap = make_repository(a, repo_dir, first_three_days());
    const auto& bad = snap.chunks[3];
    const fs::path object = repo_dir / repo::Repository::object_path(bad.object);
    std::string bytes = test::read_file(object);
    REQUIRE(bytes.size() > 100);
    bytes[bytes.size() / 2] ^= 0x5a;
    test::write_file(object, bytes);
    const std::string base = args_b(a, b) + "restore --from '" + repo_dir.string() + "'";
    auto r = run_json(base, 3);
    CHECK(r["failed"] == 1);
    CHECK(r["restored"] == 29);
    const std::string text = r.dump();
    CHECK(text.find(bad.object) != std::string::npos);
    CHECK(text.find(snap.id) != std::string::npos);
    auto inv = b.inventory(false);
    CHECK(inv.chunk(bad.key) == nullptr);
    CHECK(leftovers(a.dir / "b").empty());
  }

  TEST_CASE("--delete removes the selected chunks the snapshot lacks, never past --max-delete")
  {
    DemoCopy a("restore-delete");
    ClusterB b(a);
    const fs::path full_dir = a.dir / "repo-full";
    const fs::path less_dir = a.dir / "repo-less";
    const fs::path narrow_dir = a.dir / "repo-narrow";
    make_repository(a, full_dir, first_three_days());
    FilterOptions two_days = first_three_days();
    two_days.where = {"date<=2020.06.02"};
    // "less": a backup of the three days whose source had lost the third (20 chunks);
    // "narrow": a backup of two days only (its filters never looked at the third).
    const FilterOptions three_days = first_three_days();
    const auto less = make_repository(a, less_dir, two_days, &three_days);
    REQUIRE(less.chunks.size() == 20);
    make_repository(a, narrow_dir, two_days);
    const std::string args = args_b(a, b) + "restore --db Level1 --where 'date<=2020.06.03' ";
    run_json(args + "--from '" + full_dir.string() + "'", 0);
    REQUIRE(b.inventory(false).chunks.size() == 30);

    const std::string before = test::tree_listing(a.dir / "b");
    auto refused = run_json(args + "--from '" + less_dir.string() + "' --delete --max-delete 5", 1);
    CHECK(refused.dump().find("--max-delete") != std::string::npos);
    CHECK(test::tree_listing(a.dir / "b") == before);
    // A negative limit is no limit in disguise (stoull wraps "-1" to 2^64 - 1): a usage error.
    auto negative = run_json(args + "--from '" + less_dir.string() + "' --delete --max-delete -1", 2);
    CHECK(negative.dump().find("--max-delete") != std::string::npos);
    CHECK(test::tree_listing(a.dir / "b") == before);

    // A chunk the snapshot's own filters did not select is never deleted: the snapshot says
    // nothing about it.
    auto narrow = run_json(args + "--from '" + narrow_dir.string() + "' --delete", 0);
    CHECK(narrow["deleted"] == 0);
    CHECK(narrow["kept"] == 20);
    CHECK(b.inventory(false).chunks.size() == 30);

    const std::string before_dry = test::tree_listing(a.dir / "b");
    auto dry = run_json(args + "--from '" + less_dir.string() + "' --delete --max-delete 10 -n", 0);
    CHECK(dry["deleted"] == 10);
    CHECK(test::tree_listing(a.dir / "b") == before_dry);

    auto done = run_json(args + "--from '" + less_dir.string() + "' --delete --max-delete 10", 0);
    CHECK(done["deleted"] == 10);
    CHECK(done["kept"] == 20);
    auto inv = b.inventory(false);
    CHECK(inv.chunks.size() == 20);
    for (const auto& c : inv.chunks) {
      CHECK_MESSAGE(c.key.find("20200603") == std::string::npos, c.key);
    }
    CHECK(leftovers(a.dir / "b").empty());
  }

  TEST_CASE("--delete keeps a replica written anew after the plan, under its hold")
  {
    DemoCopy a("restore-delete-race");
    ClusterB b(a);
    const fs::path full_dir = a.dir / "repo-full";
    const fs::path less_dir = a.dir / "repo-less";
    make_repository(a, full_dir, first_three_days());
    FilterOptions two_days = first_three_days();
    two_days.where = {"date<=2020.06.02"};
    const FilterOptions three_days = first_three_days();
    make_repository(a, less_dir, two_days, &three_days);
    const std::string args = args_b(a, b) + "restore --db Level1 --where 'date<=2020.06.03' ";
    run_json(args + "--from '" + full_dir.string() + "'", 0);

    // The delete pauses after its plan, before its first removal; meanwhile one replica it
    // planned to remove is written anew (what another writer would do).
    const fs::path gate = a.dir / "gate";
    fs::create_directories(gate);
    auto deleting = std::async(std::launch::async, [&] {
      std::string out;
      const int rc = test::run_clsync(args + "--from '" + less_dir.string() +
                                          "' --delete --max-delete 10 --concurrency 1 --json",
                                      &out, "CLSYNC_TEST_PAUSE_AT=after_intent:" + gate.string());
      return std::pair{rc, out};
    });
    REQUIRE(wait_for(gate / "after_intent.reached"));
    auto inv = b.inventory(false);
    const Chunk* target = nullptr;
    for (const auto& c : inv.chunks) {
      if (c.key.find("20200603") != std::string::npos) {
        target = &c;
        break;
      }
    }
    REQUIRE(target != nullptr);
    std::set<std::string> rewritten;
    for (const auto& r : target->replicas) {
      fs::path f;
      for (const auto& e : fs::recursive_directory_iterator(fs::path(std::string(r.volume)) / target->key)) {
        if (e.is_regular_file()) {
          f = e.path();
          break;
        }
      }
      REQUIRE(!f.empty());
      test::write_file(f, test::read_file(f) + "new version");
      rewritten.insert(r.node);
    }
    test::write_file(gate / "after_intent.go", "");
    const auto deleting_result = deleting.get();
    const auto& rc = deleting_result.first; // named, not bound: doctest's lambdas
    const auto& out = deleting_result.second; // capture them (clang 14)
    auto doc = nlohmann::json::parse(out, nullptr, false);
    REQUIRE_MESSAGE(doc.is_object(), out);
    // The paused task is the first removal; if it is the rewritten chunk's, it is kept, else
    // that chunk's removals start after the rewrite and keep it too.
    CHECK(rc == 3);
    CHECK(doc["deleted"] == 9);
    CHECK(doc.dump().find("changed since it was planned") != std::string::npos);
    auto after = b.inventory(false);
    const Chunk* kept = after.chunk(target->key);
    REQUIRE(kept != nullptr);
    CHECK(kept->replicas.size() == rewritten.size());
    CHECK(after.chunks.size() == 21);
    CHECK(leftovers(a.dir / "b").empty());
  }

  TEST_CASE("two restores at once into one cluster: one runs, the other is refused (exit 4)")
  {
    DemoCopy a("restore-twice");
    ClusterB b(a);
    const fs::path repo_dir = a.dir / "repo";
    const auto snap = make_repository(a, repo_dir, first_three_days());
    // A second topology file of the same nodes, listed in another order under other names.
    const fs::path other = a.dir / "cluster-b-other.yaml";
    {
      std::string y = "cluster: demo-b\nreplication: 2\nnodes:\n";
      for (std::size_t i = b.topo->nodes.size(); i-- > 0;) {
        y += "  - name: other" + std::to_string(i) + "\n    host: local\n    volumes: [\"" +
             b.volume(i) + "\"]\n";
      }
      y += "databases:\n  Level1:\n    levels: [date, hash]\n  Level1_TSDB:\n"
           "    levels: [date, hash]\n";
      test::write_file(other, y);
    }
    const std::string from = " restore --from '" + repo_dir.string() + "'";
    const fs::path gate = a.dir / "gate";
    fs::create_directories(gate);
    auto first = std::async(std::launch::async, [&] {
      std::string out;
      const int rc = test::run_clsync(args_b(a, b) + from + " --json", &out,
                                      "CLSYNC_TEST_PAUSE_AT=mid_copy:" + gate.string());
      return std::pair{rc, out};
    });
    REQUIRE(wait_for(gate / "mid_copy.reached"));
    // While the first is writing: the same topology, then the other one, are refused.
    auto same = run_json(args_b(a, b) + from, 4);
    CHECK(same.dump().find("another run is writing") != std::string::npos);
    auto renamed = run_json("-c '" + other.string() + "' --state-dir '" +
                                (a.dir / "state-other").string() + "'" + from,
                            4);
    CHECK(renamed.dump().find("another run is writing") != std::string::npos);
    test::write_file(gate / "mid_copy.go", "");
    const auto first_result = first.get();
    const auto& rc = first_result.first; // named, not bound: doctest's lambdas
    const auto& out = first_result.second; // capture them (clang 14)
    CHECK_MESSAGE(rc == 0, out);
    check_restored(b, snap, 2);
    CHECK(leftovers(a.dir / "b").empty());
    // Afterwards the other topology finds everything in place.
    auto after = run_json("-c '" + other.string() + "' --state-dir '" +
                              (a.dir / "state-other").string() + "'" + from,
                          0);
    CHECK(after["kept"] == 30);
    check_restored(b, snap, 2);
  }
}
