// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Contract cases for renames, trash, intents, leases, path refusals and repository files.
#include "tests/integration/transport_suite_util.hpp"
#include "transport/local_node.hpp"

#include <ctime>
#include <map>
#include <set>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

namespace clsync::test {

using namespace contract;

void run_contract_rename_chunk(const NodeMaker& make)
{
  fs::path base = scratch_dir("rename");
  fs::path v1 = base / "v1";
  fs::path v2 = base / "v2";
  fs::create_directories(v2);
  const std::string k0 = "Level1/20200601/0/Snapshot";
  const std::string k1 = "Level1/20200601/1/Snapshot";
  auto entries = make_small_chunk(v1, k0);
  make_small_chunk(v1, k1);
  auto node = make({v1.string(), v2.string()});
  using transport::RenameOutcome;

  CHECK(node->rename_chunk(v1.string(), k0, v2.string()) == RenameOutcome::renamed);
  CHECK_FALSE(fs::exists(v1 / k0));
  CHECK_FALSE(fs::exists(v1 / "Level1/20200601/0"));  // emptied parent removed
  CHECK(fs::exists(v1 / k1));                           // a parent still in use stays
  CHECK(node->fingerprint(v2.string(), k0) == transport::quick_fingerprint(entries));

  expect_failure([&] { node->rename_chunk(v1.string(), k0, v2.string()); },
                 FailureKind::not_found);

  make_small_chunk(v1, k0, "other");
  CHECK(node->rename_chunk(v1.string(), k0, v2.string()) == RenameOutcome::destination_exists);
  CHECK(fs::exists(v1 / k0 / "a.col"));
  CHECK(read_file(v2 / k0 / "a.col") == "alpha");

  // The last chunk of a database leaves no empty directories behind at the source.
  CHECK(node->rename_chunk(v1.string(), k1, v2.string()) == RenameOutcome::renamed);
  fs::remove_all(v1 / "Level1");
  CHECK(node->rename_chunk(v2.string(), k1, v1.string()) == RenameOutcome::renamed);
  CHECK(fs::exists(v1 / k1));
  CHECK(node->rename_chunk(v1.string(), k1, v2.string()) == RenameOutcome::renamed);
  CHECK(fs::exists(v1));  // the volume root itself is never removed
  CHECK(fs::is_empty(v1));

  expect_failure([&] { node->rename_chunk(v2.string(), k1, v2.string()); }, FailureKind::refused);

  // Another filesystem, and a bind mount of this one (same st_dev, still EXDEV).
  TmpfsMount t(base / "tmpfs", "8m");
  fs::path bind_src = base / "bind-src";
  fs::create_directories(bind_src);
  BindMount bound(bind_src, base / "bound");
  auto multi = make({v2.string(), t.path().string(), (base / "bound").string()});
  CHECK(multi->rename_chunk(v2.string(), k1, t.path().string()) == RenameOutcome::cross_device);
  CHECK(multi->rename_chunk(v2.string(), k1, (base / "bound").string()) ==
        RenameOutcome::cross_device);
  CHECK(fs::exists(v2 / k1 / "a.col"));
  CHECK(fs::is_empty(t.path()));
  CHECK(fs::is_empty(bind_src));
}

void run_contract_trash_untrash(const NodeMaker& make)
{
  fs::path v = scratch_dir("trash");
  auto entries = make_small_chunk(v, k_key);
  auto node = make({v.string()});
  const std::string vol = v.string();

  // The fingerprint returned is the trash's, taken after the rename: equal to the chunk's when
  // nothing changed.
  const std::string before = node->fingerprint(vol, k_key);
  REQUIRE_FALSE(before.empty());
  CHECK(node->trash_chunk(vol, k_key, "tr1") == before);
  CHECK_FALSE(fs::exists(v / k_key));
  CHECK_FALSE(fs::exists(v / "Level1"));
  CHECK(read_file(v / ".clsync-trash-tr1/a.col") == "alpha");
  transport::NodeScan scan = node->scan(test_spec());
  CHECK(scan.replicas.empty());
  REQUIRE(scan.leftovers.size() == 1);
  CHECK(scan.leftovers[0].kind == "trash");
  CHECK(scan.leftovers[0].task == "tr1");

  node->untrash_chunk(vol, "tr1", k_key);
  CHECK(node->fingerprint(vol, k_key) == transport::quick_fingerprint(entries));
  CHECK_FALSE(fs::exists(v / ".clsync-trash-tr1"));

  // A file written since the fingerprint was taken shows in the one the trash returns.
  write_file(v / k_key / "late.col", "late");
  const std::string changed = node->trash_chunk(vol, k_key, "tr2");
  CHECK_FALSE(changed.empty());
  CHECK(changed != before);
  write_small(*node, vol, "tr2", {{"x", "y"}});
  CHECK(fs::exists(v / ".clsync-tmp-tr2"));
  node->remove_task_dirs(vol, "tr2");
  CHECK_FALSE(has_entry_starting(v, ".clsync"));
  node->remove_task_dirs(vol, "tr2");  // nothing left: still fine

  expect_failure([&] { node->trash_chunk(vol, k_key, "tr3"); }, FailureKind::not_found);
  expect_failure([&] { node->untrash_chunk(vol, "tr3", k_key); }, FailureKind::not_found);

  // Untrash never overwrites a chunk that reappeared meanwhile.
  make_small_chunk(v, k_key);
  node->trash_chunk(vol, k_key, "tr4");
  make_small_chunk(v, k_key, "new");
  expect_failure([&] { node->untrash_chunk(vol, "tr4", k_key); }, FailureKind::error);
  CHECK(read_file(v / k_key / "a.col") == "alphanew");
  CHECK(fs::exists(v / ".clsync-trash-tr4"));
}

void run_contract_intents(const NodeMaker& make)
{
  fs::path v = scratch_dir("intents");
  auto node = make({v.string()});
  const std::string vol = v.string();
  node->write_intent(vol, "i1", R"({"v":1})");
  CHECK(read_file(v / ".clsync-intent-i1") == R"({"v":1})");
  node->write_intent(vol, "i1", R"({"v":2})");
  CHECK(read_file(v / ".clsync-intent-i1") == R"({"v":2})");
  CHECK_FALSE(has_entry_starting(v, ".clsync-part"));
  node->remove_intent(vol, "i1");
  CHECK_FALSE(fs::exists(v / ".clsync-intent-i1"));
  node->remove_intent(vol, "i1");
  CHECK_FALSE(has_entry_starting(v, ".clsync"));
  expect_failure([&] { node->write_intent(vol, "a/b", "{}"); }, FailureKind::refused);
}

void run_contract_holds_and_identity(const NodeMaker& make)
{
  fs::path base = scratch_dir("holds");
  fs::path v1 = base / "v1";
  fs::path v2 = base / "v2";
  const std::string k = "Level1/20200601/0/Snapshot";
  make_small_chunk(v1, k);
  make_small_chunk(v2, k);
  fs::create_directories(base / "plain");
  BindMount bound(v1, base / "bound");
  fs::create_directory_symlink(v2, base / "link");
  auto node = make({v1.string(), v2.string(), (base / "plain").string(),
                    (base / "bound").string(), (base / "link").string()});
  const std::string vol = v1.string();

  CHECK(node->place_hold(vol, k, R"({"task":"a"})").empty());
  CHECK(node->place_hold(vol, k, R"({"task":"a"})").empty());  // a retry
  CHECK(node->place_hold(vol, k, R"({"task":"b"})") == R"({"task":"a"})");
  CHECK(node->place_hold(v2.string(), k, R"({"task":"b"})").empty());
  node->release_hold(vol, k, R"({"task":"b"})");  // not ours: stays
  CHECK(node->place_hold(vol, k, R"({"task":"c"})") == R"({"task":"a"})");
  CHECK_FALSE(has_entry_starting(v1, ".clsync-part"));

  transport::ScanSpec spec;
  spec.databases = {{"Level1", 2}};
  auto scan = node->scan(spec);
  int holds = 0;
  for (const auto& l : scan.leftovers) {
    // The bind mount and the symlink show the same two holds again: count the originals.
    if (l.kind == "hold" && (l.volume == v1.string() || l.volume == v2.string())) {
      ++holds;
      CHECK(l.name.rfind(".clsync-hold-", 0) == 0);
      CHECK((l.content == R"({"task":"a"})" || l.content == R"({"task":"b"})"));
    }
  }
  CHECK(holds == 2);
  std::map<std::string, const transport::VolumeScan*> by_path;
  for (const auto& vs : scan.volumes) {
    by_path[vs.path] = &vs;
    CHECK_FALSE(vs.machine_id.empty());
    CHECK(vs.inode != 0);
  }
  REQUIRE(by_path.size() == 5);
  auto same = [&](const fs::path& a, const fs::path& b) {
    const auto* x = by_path.at(a.string());
    const auto* y = by_path.at(b.string());
    return x->machine_id == y->machine_id && x->device == y->device && x->inode == y->inode;
  };
  CHECK(same(v1, base / "bound"));
  CHECK(same(v2, base / "link"));
  CHECK_FALSE(same(v1, v2));
  CHECK_FALSE(same(v1, base / "plain"));

  auto found = node->locate_chunk(k);
  std::set<std::string> vols;
  for (const auto& l : found) {
    vols.insert(l.volume);
    CHECK(l.fingerprint == node->fingerprint(l.volume, k));
  }
  CHECK(vols.count(v1.string()) == 1);
  CHECK(vols.count(v2.string()) == 1);
  CHECK(vols.count((base / "plain").string()) == 0);
  // The re-count's questions: where the chunk is (no fingerprints), and a hold with the
  // fingerprint taken after it, in one request where the node is an agent.
  auto where = node->volumes_holding(k);
  CHECK(std::set<std::string>(where.begin(), where.end()) == vols);
  const bool agent = dynamic_cast<transport::LocalNode*>(node.get()) == nullptr;
  auto placed = node->place_hold_fingerprint(vol, k, R"({"task":"a"})");  // a retry of a's
  CHECK(placed.holder.empty());
  CHECK(placed.fingerprint.has_value() == agent);
  if (placed.fingerprint) {
    CHECK(*placed.fingerprint == node->fingerprint(vol, k));
    CHECK_FALSE(placed.fingerprint->empty());
  }
  auto refused = node->place_hold_fingerprint(vol, k, R"({"task":"d"})");
  CHECK(refused.holder == R"({"task":"a"})");
  CHECK_FALSE(refused.fingerprint.has_value());
  const std::string plain = (base / "plain").string();
  auto nothing = node->place_hold_fingerprint(plain, k, R"({"task":"e"})");
  CHECK(nothing.holder.empty());
  CHECK(nothing.fingerprint.value_or("") == "");
  node->release_hold(plain, k, R"({"task":"e"})");
  CHECK_FALSE(has_entry_starting(base / "plain", ".clsync"));
  expect_failure([&] { node->volumes_holding("../x"); }, FailureKind::refused);

  node->release_hold(vol, k, R"({"task":"a"})");
  node->release_hold(v2.string(), k, R"({"task":"b"})");
  CHECK_FALSE(has_entry_starting(v1, ".clsync"));
  CHECK_FALSE(has_entry_starting(v2, ".clsync"));
  expect_failure([&] { node->place_hold(vol, "../x", "{}"); }, FailureKind::refused);
}

void run_contract_leases(const NodeMaker& make)
{
  fs::path v1 = scratch_dir("lease-v1");
  fs::path v2 = scratch_dir("lease-v2");
  const std::string vol = v1.string();
  auto node = make({v1.string(), v2.string()});
  auto other = make({v1.string(), v2.string()});  // a second run on the same node
  transport::LeaseInfo a{"host-a", 11,  "run-A",     "rebalance-nodes", 0, 0, 0,
                         600,      "machine-a", "boot-a", 1234};
  transport::LeaseInfo b{"host-b", 22, "run-B", "repair", 0, 0, 0, 30, "machine-b", "boot-b", 5};

  CHECK_FALSE(node->read_lease(vol).has_value());
  REQUIRE(node->acquire_lease(vol, a, "").acquired);
  CHECK(fs::exists(v1 / ".clsync-lease"));
  CHECK_FALSE(fs::exists(v2 / ".clsync-lease"));  // one lease per volume
  auto json = nlohmann::json::parse(read_file(v1 / ".clsync-lease"));
  CHECK(json["run_id"] == "run-A");
  CHECK(json["host"] == "host-a");
  CHECK(json["pid"] == 11);
  CHECK(json["ttl"] == 600);
  CHECK(json["machine_id"] == "machine-a");
  CHECK(json["boot_id"] == "boot-a");
  CHECK(json["pid_start"] == 1234);
  CHECK(json.contains("heartbeat"));
  CHECK(json.contains("started"));

  transport::LeaseResult r = other->acquire_lease(vol, b, "");
  CHECK_FALSE(r.acquired);
  REQUIRE(r.holder.has_value());
  CHECK(r.holder->run_id == "run-A");
  CHECK(r.holder->host == "host-a");
  CHECK(r.holder->pid == 11);
  CHECK(r.holder->command == "rebalance-nodes");
  CHECK(r.holder->ttl_s == 600);
  CHECK(r.holder->machine_id == "machine-a");
  CHECK(r.holder->boot_id == "boot-a");
  CHECK(r.holder->pid_start == 1234);
  CHECK(r.holder->age_seconds >= 0);
  CHECK(r.holder->age_seconds < 3600);
  CHECK(node->acquire_lease(vol, a, "").acquired);  // ours already: idempotent
  // The other volume has a lease of its own.
  REQUIRE(other->acquire_lease(v2.string(), b, "").acquired);
  CHECK(node->read_lease(v2.string())->run_id == "run-B");
  CHECK(node->read_lease(vol)->run_id == "run-A");
  other->release_lease(v2.string(), "run-B", false);
  CHECK_FALSE(fs::exists(v2 / ".clsync-lease"));

  // Taking over a lease the caller judged stale, named by its run id.
  CHECK_FALSE(other->acquire_lease(vol, b, "run-X").acquired);
  REQUIRE(other->acquire_lease(vol, b, "run-A").acquired);
  REQUIRE(node->read_lease(vol).has_value());
  CHECK(node->read_lease(vol)->run_id == "run-B");
  CHECK_THROWS_AS(node->refresh_lease(vol, a), transport::TransportError);
  CHECK_NOTHROW(other->refresh_lease(vol, b));

  node->release_lease(vol, "run-A", false);  // not ours: stays
  CHECK(other->read_lease(vol)->run_id == "run-B");
  other->release_lease(vol, "run-B", false);
  CHECK_FALSE(node->read_lease(vol).has_value());
  CHECK_FALSE(fs::exists(v1 / ".clsync-lease"));
  expect_failure([&] { other->refresh_lease(vol, b); }, FailureKind::not_found);
  expect_failure([&] { node->read_lease((v1 / "elsewhere").string()); }, FailureKind::refused);

  // Age comes from the heartbeat in the file, on the node's clock; a lease of an older clsync
  // (no ttl, machine or boot) reads with those empty.
  auto old = static_cast<std::int64_t>(std::time(nullptr)) - 7200;
  write_file(v1 / ".clsync-lease",
             nlohmann::json{{"host", "h"}, {"pid", 1}, {"run_id", "run-old"}, {"command", "c"},
                            {"started", old}, {"heartbeat", old}}
                 .dump());
  r = node->acquire_lease(vol, a, "");
  CHECK_FALSE(r.acquired);
  REQUIRE(r.holder.has_value());
  CHECK(r.holder->age_seconds >= 7199);
  CHECK(r.holder->ttl_s == 0);
  CHECK(r.holder->machine_id.empty());
  // An unreadable lease ages with the file's mtime; --break-lock removes whatever is there.
  write_file(v1 / ".clsync-lease", "");
  set_mtime(v1 / ".clsync-lease", (old - 100) * 1'000'000'000LL);
  REQUIRE(node->read_lease(vol).has_value());
  CHECK(node->read_lease(vol)->age_seconds >= 7299);
  node->release_lease(vol, "whoever", true);
  CHECK_FALSE(fs::exists(v1 / ".clsync-lease"));
  CHECK_FALSE(has_entry_starting(v1, ".clsync"));
}

void run_contract_lease_temps(const NodeMaker& make)
{
  fs::path v = scratch_dir("lease-temps");
  auto node = make({v.string()});
  // A writer killed between its temp and the link leaves `.clsync-part-lease-<pid>-<n>`.
  pid_t dead = ::fork();
  if (dead == 0) {
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(dead, &status, 0);
  const std::string of_dead = ".clsync-part-lease-" + std::to_string(dead) + "-0";
  const std::string of_live_old = ".clsync-part-lease-" + std::to_string(::getpid()) + "-7";
  const std::string of_live_new = ".clsync-part-lease-" + std::to_string(::getpid()) + "-8";
  write_file(v / of_dead, "{}");
  write_file(v / of_live_old, "{}");
  write_file(v / of_live_new, "{}");
  set_mtime(v / of_live_old, (static_cast<std::int64_t>(std::time(nullptr)) - 120) * 1'000'000'000LL);
  transport::LeaseInfo a{"host-a", 11, "run-A", "repair", 0, 0, 0, 600, "m", "b", 1};
  REQUIRE(node->acquire_lease(v.string(), a, "").acquired);
  CHECK_FALSE(fs::exists(v / of_dead));      // its writer is gone
  CHECK_FALSE(fs::exists(v / of_live_old));  // older than a minute
  CHECK(fs::exists(v / of_live_new));        // may be a live writer's (never: under the lock)
  write_file(v / of_dead, "{}");
  node->release_lease(v.string(), "run-A", false);
  CHECK_FALSE(fs::exists(v / of_dead));
  fs::remove(v / of_live_new);
  CHECK_FALSE(has_entry_starting(v, ".clsync"));
}

void run_contract_fencing(const NodeMaker& make)
{
  fs::path base = scratch_dir("fencing");
  fs::path v1 = base / "v1";
  fs::path v2 = base / "v2";
  const std::string s1 = v1.string();
  const std::string s2 = v2.string();
  const std::string k0 = "Level1/20200601/0/Snapshot";
  const std::string k1 = "Level1/20200601/1/Snapshot";
  make_small_chunk(v1, k0);
  make_small_chunk(v1, k1);
  fs::create_directories(v2);
  auto node = make({s1, s2});
  auto unfenced = make({s1, s2});  // a command that takes no lease sets no fence
  transport::LeaseInfo a{"host-a", 11, "run-A", "move-replicas", 0, 0, 0, 600, "m", "b", 1};
  REQUIRE(node->acquire_lease(s1, a, "").acquired);
  REQUIRE(node->acquire_lease(s2, a, "").acquired);
  node->set_fence("run-A");
  using transport::CommitMode;
  using transport::CommitOutcome;

  // Holding both leases, the run places and removes.
  write_small(*node, s2, "t1", {{"a.col", "x"}});
  CHECK(node->commit_chunk(s2, "t1", k0, CommitMode::no_replace) == CommitOutcome::placed);
  node->trash_chunk(s2, k0, "t1");
  node->remove_task_dirs(s2, "t1");
  CHECK_FALSE(fs::exists(v2 / k0));

  // Another run holds v2 now (the lease was broken and taken): nothing of run-A lands there
  // or leaves it, and each refusal names the volume and the holder.
  write_file(v2 / ".clsync-lease",
             nlohmann::json{{"host", "h"}, {"pid", 99}, {"run_id", "run-B"}, {"command", "repair"},
                            {"started", std::time(nullptr)}, {"heartbeat", std::time(nullptr)}}
                 .dump());
  write_small(*node, s2, "t2", {{"a.col", "y"}});  // a temp is not a replica: allowed
  auto m = expect_failure([&] { node->commit_chunk(s2, "t2", k1, CommitMode::no_replace); },
                          FailureKind::refused);
  CHECK_MESSAGE(m.find(s2) != std::string::npos, m);
  CHECK_MESSAGE(m.find("run-B") != std::string::npos, m);
  CHECK_FALSE(fs::exists(v2 / k1));
  expect_failure([&] { node->commit_chunk(s2, "t2", k1, CommitMode::exchange); },
                 FailureKind::refused);
  CHECK_FALSE(fs::exists(v2 / k1));
  expect_failure([&] { node->rename_chunk(s1, k1, s2); }, FailureKind::refused);
  CHECK(fs::exists(v1 / k1));
  expect_failure([&] { node->remove_task_dirs(s2, "t2"); }, FailureKind::refused);
  CHECK(fs::exists(v2 / ".clsync-tmp-t2"));
  try {
    node->commit_chunk(s2, "t2", k1, CommitMode::no_replace);
  } catch (const transport::TransportError& e) {
    CHECK_FALSE(e.retryable());
  }

  // v1's lease removed by hand: no trash, no untrash there either.
  node->trash_chunk(s1, k1, "t3");
  fs::remove(v1 / ".clsync-lease");
  m = expect_failure([&] { node->trash_chunk(s1, k0, "t4"); }, FailureKind::refused);
  CHECK_MESSAGE(m.find("gone") != std::string::npos, m);
  CHECK(fs::exists(v1 / k0));
  expect_failure([&] { node->untrash_chunk(s1, "t3", k1); }, FailureKind::refused);
  CHECK(fs::exists(v1 / ".clsync-trash-t3"));
  CHECK_FALSE(fs::exists(v1 / k1));

  // No fence, no check: the same operations go through.
  unfenced->untrash_chunk(s1, "t3", k1);
  CHECK(fs::exists(v1 / k1));
  CHECK(unfenced->commit_chunk(s2, "t2", k1, CommitMode::no_replace) == CommitOutcome::placed);
  node->set_fence("");
  node->remove_task_dirs(s2, "t2");
  CHECK(node->rename_chunk(s1, k0, s2) == transport::RenameOutcome::renamed);
}

void run_contract_path_refusals(const NodeMaker& make)
{
  fs::path base = scratch_dir("refusals");
  fs::path v = base / "vol";
  fs::path outside = base / "outside";
  make_small_chunk(outside, "Level1/20200601/0/Snapshot");
  make_small_chunk(outside, "Level2/20200601/0/Snapshot");
  make_small_chunk(v, k_key);
  fs::create_directories(v);
  fs::create_directory_symlink(outside / "Level1", v / "Level1x");
  fs::create_directories(v / "Level2/20200601/0");
  fs::create_directory_symlink(outside / "Level2/20200601/0/Snapshot", v / "Level2/20200601/0/Snapshot");
  auto node = make({v.string()});
  const std::string vol = v.string();
  RecordingSink sink;

  for (const std::string& bad : {std::string("../outside/Level1/20200601/0/Snapshot"),
                                 std::string("/etc"), std::string("Level1/../../outside"),
                                 std::string(".clsync-tmp-x"), std::string(""),
                                 std::string("Level1//20200601")}) {
    CAPTURE(bad);
    expect_failure([&] { node->read_chunk(vol, bad, sink); }, FailureKind::refused);
    expect_failure([&] { node->fingerprint(vol, bad); }, FailureKind::refused);
    expect_failure([&] { node->trash_chunk(vol, bad, "t"); }, FailureKind::refused);
  }
  // Symlinks on the way, or as the chunk itself, are never followed.
  expect_failure([&] { node->read_chunk(vol, "Level1x/20200601/0/Snapshot", sink); },
                 FailureKind::refused);
  expect_failure([&] { node->hash_chunk(vol, "Level2/20200601/0/Snapshot"); },
                 FailureKind::refused);
  expect_failure([&] { node->trash_chunk(vol, "Level1x/20200601/0/Snapshot", "t"); },
                 FailureKind::refused);
  write_small(*node, vol, "t9", {{"x", "y"}});
  expect_failure(
      [&] {
        node->commit_chunk(vol, "t9", "Level1x/20200601/5/Snapshot",
                           transport::CommitMode::no_replace);
      },
      FailureKind::refused);
  CHECK_FALSE(fs::exists(outside / "Level1/20200601/5"));
  CHECK(fs::exists(outside / "Level1/20200601/0/Snapshot/a.col"));
  CHECK(sink.seen.empty());

  // Volumes and roots that are not configured.
  expect_failure([&] { node->fingerprint(outside.string(), "Level1/20200601/0/Snapshot"); },
                 FailureKind::refused);
  expect_failure([&] { node->write_chunk(outside.string(), "t"); }, FailureKind::refused);
  expect_failure([&] { node->rename_chunk(vol, k_key, outside.string()); }, FailureKind::refused);
  expect_failure([&] { node->write_chunk(vol, "../../x"); }, FailureKind::refused);
  expect_failure([&] { node->list_dir(outside.string(), ""); }, FailureKind::refused);

  // Repository files follow the same rules.
  struct Null : transport::ByteSink {
    void write(std::span<const char>) override {}
  } null;
  expect_failure([&] { node->read_file(vol, "../outside/Level1/20200601/0/Snapshot/a.col", 0, null); },
                 FailureKind::refused);
  expect_failure([&] { node->read_file(vol, "Level1x/20200601/0/Snapshot/a.col", 0, null); },
                 FailureKind::refused);
  expect_failure([&] { node->create_file(vol, "Level1x/planted"); }, FailureKind::refused);
  expect_failure([&] { node->remove_file(vol, "Level1x/20200601/0/Snapshot/a.col"); },
                 FailureKind::refused);
  CHECK_FALSE(fs::exists(outside / "Level1/planted"));
  CHECK(fs::exists(outside / "Level1/20200601/0/Snapshot/a.col"));
  std::string msg = expect_failure([&] { node->read_chunk(vol, "/etc", sink); },
                                   FailureKind::refused);
  CHECK(msg.find(node->describe()) != std::string::npos);
}

void run_contract_repository_files(const NodeMaker& make)
{
  fs::path r = scratch_dir("repo");
  auto node = make({r.string()});
  const std::string root = r.string();
  struct Collect : transport::ByteSink {
    std::string data;
    void write(std::span<const char> d) override { data.append(d.data(), d.size()); }
  };

  auto w = node->create_file(root, "objects/ab/abc.tar.zst");
  w->write(std::span<const char>("hello ", 6));
  w->write(std::span<const char>("world", 5));
  CHECK(node->list_dir(root, "objects/ab").empty());  // not there until commit
  CHECK_FALSE(fs::exists(r / "objects/ab/abc.tar.zst"));
  CHECK(w->commit() == transport::sha256_hex("hello world"));
  CHECK(read_file(r / "objects/ab/abc.tar.zst") == "hello world");

  Collect all, tail;
  node->read_file(root, "objects/ab/abc.tar.zst", 0, all);
  node->read_file(root, "objects/ab/abc.tar.zst", 6, tail);
  CHECK(all.data == "hello world");
  CHECK(tail.data == "world");
  expect_failure([&] { node->read_file(root, "objects/ab/none", 0, all); },
                 FailureKind::not_found);

  auto top = node->list_dir(root, "");
  REQUIRE(top.size() == 1);
  CHECK(top[0].name == "objects");
  CHECK(top[0].is_dir);
  auto leaf = node->list_dir(root, "objects/ab");
  REQUIRE(leaf.size() == 1);
  CHECK(leaf[0].name == "abc.tar.zst");
  CHECK(leaf[0].size == 11);
  CHECK_FALSE(leaf[0].is_dir);
  CHECK(node->list_dir(root, "nope").empty());

  auto replaced = node->create_file(root, "objects/ab/abc.tar.zst");
  replaced->write(std::span<const char>("v2", 2));
  CHECK(replaced->commit() == transport::sha256_hex("v2"));
  CHECK(read_file(r / "objects/ab/abc.tar.zst") == "v2");

  auto aborted = node->create_file(root, "snapshots/s1.json");
  aborted->write(std::span<const char>("{}", 2));
  aborted->abort();
  {
    auto dropped = node->create_file(root, "snapshots/s2.json");
    dropped->write(std::span<const char>("{}", 2));
  }
  CHECK(fs::is_empty(r / "snapshots"));

  node->remove_file(root, "objects/ab/abc.tar.zst");
  CHECK_FALSE(fs::exists(r / "objects/ab/abc.tar.zst"));
  CHECK_NOTHROW(node->remove_file(root, "objects/ab/abc.tar.zst"));
  node->remove_file(root, "objects/ab");
  CHECK_FALSE(fs::exists(r / "objects/ab"));

  // rename_file places a file under a name known only once it is written (a backup object).
  auto temp = node->create_file(root, "tmp/t1", transport::FileDurability::content);
  temp->write(std::span<const char>("object", 6));
  temp->commit();
  node->rename_file(root, "tmp/t1", "objects/cd/cdef.tar.zst");
  // A cache file (an object record) is written unsynced, its new directories too: it arrives
  // all the same.
  auto cache =
      node->create_file(root, "cache/objects/cd/cdef.json", transport::FileDurability::none);
  cache->write(std::span<const char>("{\"x\":1}", 7));
  CHECK(cache->commit() == transport::sha256_hex("{\"x\":1}"));
  CHECK(read_file(r / "cache/objects/cd/cdef.json") == "{\"x\":1}");
  CHECK(read_file(r / "objects/cd/cdef.tar.zst") == "object");
  CHECK_FALSE(fs::exists(r / "tmp/t1"));
  expect_failure([&] { node->rename_file(root, "tmp/t1", "objects/cd/x"); },
                 FailureKind::not_found);
  expect_failure([&] { node->rename_file(root, "objects/cd/cdef.tar.zst", "../outside"); },
                 FailureKind::refused);
  CHECK(fs::exists(r / "objects/cd/cdef.tar.zst"));
  CHECK_FALSE(fs::exists(r.parent_path() / "outside"));
}

} // namespace clsync::test
