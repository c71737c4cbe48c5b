// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Backup repositories, local and ssh:// (real sshd on 127.0.0.x, the real agent): creation,
// `snapshots`, `prune` and its lock, `verify REPO` structure checks. Objects here are small
// fake files made through the Repository API: these commands never decode them.
#include "core/error.hpp"
#include "core/events.hpp"
#include "core/repo/repo_lock.hpp"
#include "core/repo/repository.hpp"
#include "core/repo/snapshot.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"
#include "transport/sha256.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <set>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace clsync;
using namespace clsync::core::repo;
using nlohmann::json;

namespace {

/// A repository reached either way, with the CLI arguments that reach it.
struct Where {
  std::string text;   ///< REPO argument
  std::string extra;  ///< connection options
  RepoConnect connect;
  fs::path local;     ///< where it is on this machine
};

Where local_where(const fs::path& dir)
{
  return {dir.string(), "", {}, dir};
}

Where ssh_where(const test::SshdHarness& sshd, const fs::path& dir)
{
  Where w;
  w.text = "ssh://root@" + sshd.host(0).address + ":" + std::to_string(sshd.host(0).port) +
           dir.string();
  w.connect.identity = sshd.client_key().string();
  w.connect.known_hosts = sshd.known_hosts().string();
  w.connect.agent_command = CLSYNC_BINARY;
  w.connect.connect_timeout_s = 5;
  w.connect.io_timeout_s = 30;
  w.extra = " --identity " + w.connect.identity + " --known-hosts " + w.connect.known_hosts +
            " --agent-command " + std::string(CLSYNC_BINARY);
  w.local = dir;
  return w;
}

Repository open_local_repo(const Where& w, bool create = false)
{
  return Repository::open(parse_repo_location(w.text), w.connect, create);
}

/// Writes a fake object of `bytes` and returns its id (the SHA-256 of the bytes stands in for a
/// content hash).
std::string put_object(const Repository& repo, const std::string& bytes)
{
  const std::string id = transport::sha256_hex(bytes);
  auto w = repo.node().create_file(repo.root(), Repository::object_path(id));
  w->write(std::span<const char>(bytes.data(), bytes.size()));
  w->commit();
  return id;
}

/// A snapshot of `cluster`/`tag` created at `unix_time`, naming `objects` (one chunk each).
Snapshot make_snapshot(const std::string& id_suffix, std::int64_t unix_time,
                       const std::string& cluster, const std::string& tag,
                       const std::vector<std::pair<std::string, std::string>>& objects)
{
  Snapshot s;
  s.created = format_rfc3339_utc(unix_time);
  std::string stamp = s.created;
  std::erase(stamp, '-');
  std::erase(stamp, ':');
  s.id = stamp + "-" + id_suffix;
  s.cluster = cluster;
  s.tag = tag;
  s.host = "test";
  s.filters.dbs = {"db"};
  int i = 0;
  for (const auto& [object, bytes] : objects) {
    SnapshotChunk c;
    c.key = "db/2020060" + std::to_string(++i) + "/t";
    c.db = "db";
    c.table = "t";
    c.partition = {"2020060" + std::to_string(i)};
    transport::ObjectFile f;
    f.entry.path = "a.col";
    f.entry.size = 3;
    f.entry.mode = 0644;
    f.sha256 = transport::sha256_hex("abc");
    c.manifest.files = {f};
    c.manifest.dirs = {{"", 0, 0755, 0, 0}};
    c.object = object;
    c.object_sha256 = object;
    c.object_size = bytes.size();
    s.chunks.push_back(c);
  }
  return s;
}

struct Cli {
  int code = -1;
  std::string out;
};

Cli clsync(const std::string& args)
{
  Cli r;
  r.code = test::run_command(std::string(CLSYNC_BINARY) + " " + args + " 2>/dev/null", &r.out);
  return r;
}

json parse(const Cli& c)
{
  auto j = json::parse(c.out, nullptr, false);
  REQUIRE_MESSAGE(!j.is_discarded(), c.out);
  return j;
}

constexpr std::int64_t k_day = 86400;

void check_create_and_list(const Where& w)
{
  CHECK_THROWS_WITH_AS(open_local_repo(w), doctest::Contains("does not exist"), Error);
  auto repo = open_local_repo(w, true);
  struct stat st {};
  REQUIRE(::stat(w.local.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  CHECK(fs::exists(w.local / "clsync-repo.json"));

  const std::string b1 = "object one", b2 = "object two";
  const auto o1 = put_object(repo, b1);
  const auto o2 = put_object(repo, b2);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  const auto s1 = make_snapshot("aaaa0001", now - 2 * k_day, "P1", "", {{o1, b1}});
  const auto s2 = make_snapshot("aaaa0002", now - k_day, "P1", "", {{o1, b1}, {o2, b2}});
  const auto s3 = make_snapshot("aaaa0003", now - 3 * k_day, "P1", "weekly", {{o2, b2}});
  for (const auto* s : {&s1, &s2, &s3}) {
    repo.write_snapshot(*s);
  }
  auto again = open_local_repo(w);
  CHECK(again.list_snapshots().size() == 3);
  CHECK(again.read_snapshot(s2.id).chunks.size() == 2);
  CHECK(again.list_objects().size() == 2);

  const Cli c = clsync("snapshots " + w.text + w.extra + " --json");
  CHECK(c.code == 0);
  const json j = parse(c);
  REQUIRE(j["snapshots"].size() == 3);
  REQUIRE(j["groups"].size() == 2);
  std::set<std::string> latest;
  for (const auto& s : j["snapshots"]) {
    if (s["latest"].get<bool>()) {
      latest.insert(s["id"].get<std::string>());
    }
    if (s["id"] == s2.id) {
      CHECK(s["chunks"] == 2);
      CHECK(s["bytes"] == 6);
    }
  }
  CHECK(latest == std::set<std::string>{s2.id, s3.id});
  const Cli text = clsync("snapshots " + w.text + w.extra);
  CHECK(text.code == 0);
  CHECK(text.out.find(s1.id) != std::string::npos);
  CHECK(text.out.find("latest") != std::string::npos);

  // The newest of the "weekly" group is 3 days old: a 26h check fails, a 4-day one passes.
  CHECK(clsync("snapshots " + w.text + w.extra + " --check-age 26h").code == 5);
  const Cli old = clsync("snapshots " + w.text + w.extra + " --check-age 26h --json");
  CHECK(old.code == 5);
  bool weekly_too_old = false;
  const json old_doc = parse(old);
  for (const auto& g : old_doc["groups"]) {
    weekly_too_old = weekly_too_old || (g["tag"] == "weekly" && g["too_old"].get<bool>());
  }
  CHECK(weekly_too_old);
  CHECK(clsync("snapshots " + w.text + w.extra + " --check-age 4d").code == 0);
}

/// Every object a remaining snapshot names exists.
void check_nothing_missing(const Repository& repo)
{
  std::set<std::string> have;
  for (const auto& [h, size] : repo.list_objects()) {
    have.insert(h);
  }
  for (const auto& snap_id : repo.list_snapshots()) {
    for (const auto& c : repo.read_snapshot(snap_id).chunks) {
      const std::string need = snap_id + " needs " + c.object;
      CHECK_MESSAGE(have.count(c.object) == 1, need);
    }
  }
}

void check_prune(const Where& w)
{
  auto repo = open_local_repo(w, true);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  const auto base = now - now % k_day + 3600;  // 01:00 UTC today
  // Group A (P1, no tag): two snapshots a day for 4 days; each names a shared object and its
  // own. Group B (P1, tag "partial"): one old snapshot whose object only it names.
  const std::string shared = "shared bytes";
  const auto o_shared = put_object(repo, shared);
  std::vector<Snapshot> a;
  std::map<std::string, std::string> own;  // snapshot id → its own object
  for (int day = 0; day < 4; ++day) {
    for (int k = 0; k < 2; ++k) {
      const std::string bytes = "own " + std::to_string(day) + "/" + std::to_string(k);
      const auto o = put_object(repo, bytes);
      auto s = make_snapshot("a" + std::to_string(day) + std::to_string(k),
                             base - day * k_day + k * 60, "P1", "",
                             {{o_shared, shared}, {o, bytes}});
      own[s.id] = o;
      repo.write_snapshot(s);
      a.push_back(s);
    }
  }
  const std::string bbytes = "group b";
  const auto ob = put_object(repo, bbytes);
  const auto b = make_snapshot("b0", base - 30 * k_day, "P1", "partial", {{ob, bbytes}});
  repo.write_snapshot(b);
  const std::string orphan = put_object(repo, "nobody names me");

  // Dry run: says what, changes nothing.
  const Cli dry = clsync("prune " + w.text + w.extra + " --keep-daily 2 --dry-run --json");
  CHECK(dry.code == 0);
  CHECK(parse(dry)["snapshots_removed"] == 6);
  CHECK(repo.list_snapshots().size() == 9);
  CHECK(repo.list_objects().size() == 11);

  const Cli c = clsync("prune " + w.text + w.extra + " --keep-daily 2 --json");
  CHECK(c.code == 0);
  const json j = parse(c);
  // Kept: the newest of today and of yesterday in group A; group B's only snapshot.
  const std::set<std::string> expect = {a[1].id, a[3].id, b.id};
  const auto left = repo.list_snapshots();
  CHECK(std::set<std::string>(left.begin(), left.end()) == expect);
  CHECK(j["snapshots_removed"] == 6);
  std::set<std::string> objects;
  for (const auto& [h, size] : repo.list_objects()) {
    objects.insert(h);
  }
  CHECK(objects == std::set<std::string>{o_shared, own[a[1].id], own[a[3].id], ob});
  CHECK(objects.count(orphan) == 0);
  CHECK(j["objects_removed"] == 7);
  check_nothing_missing(repo);

  // Usage: no policy.
  CHECK(clsync("prune " + w.text + w.extra).code == 2);
}

/// A child process that holds the repository lock until told to go (or is killed).
struct LockHolder {
  pid_t pid = -1;
  int go_fd = -1;

  explicit LockHolder(const Where& w)
  {
    int ready[2], go[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(go) == 0);
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(ready[0]);
      ::close(go[1]);
      try {
        core::NullEvents events;
        auto repo = Repository::open(parse_repo_location(w.text), w.connect, false);
        RepoLock lock(repo, "backup", events);
        char c = 'y';
        (void)::write(ready[1], &c, 1);
        (void)::read(go[0], &c, 1);
      } catch (...) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(go[0]);
    go_fd = go[1];
    char c = 0;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
  }

  int release()
  {
    ::close(go_fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
  }

  void kill()
  {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(go_fd);
  }
};

void check_prune_lock(const Where& w)
{
  auto repo = open_local_repo(w, true);
  const std::string bytes = "x";
  const auto o = put_object(repo, bytes);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  repo.write_snapshot(make_snapshot("l1", now - 10, "P1", "", {{o, bytes}}));
  put_object(repo, "unreferenced");
  {
    LockHolder holder(w);
    const Cli c = clsync("prune " + w.text + w.extra + " --keep-last 1 --json");
    CHECK(c.code == 4);
    const json j = parse(c);
    CHECK(j["error"].get<std::string>().find("pid " + std::to_string(holder.pid)) !=
          std::string::npos);
    CHECK(repo.list_objects().size() == 2);  // nothing removed
    CHECK(holder.release() == 0);
  }
  // A holder killed without releasing is gone on this machine: its lock is stale.
  {
    LockHolder holder(w);
    holder.kill();
    const Cli c = clsync("prune " + w.text + w.extra + " --keep-last 1 --json");
    CHECK(c.code == 0);
    CHECK(parse(c)["objects_removed"] == 1);
  }
  CHECK(repo.list_objects().size() == 1);
  CHECK_FALSE(fs::exists(w.local / ".clsync-lease"));
}

void check_verify(const Where& w)
{
  auto repo = open_local_repo(w, true);
  const std::string b1 = "first object", b2 = "second object", b3 = "third object";
  const auto o1 = put_object(repo, b1);
  const auto o2 = put_object(repo, b2);
  const auto o3 = put_object(repo, b3);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  const auto s = make_snapshot("v1", now, "P1", "", {{o1, b1}, {o2, b2}, {o3, b3}});
  repo.write_snapshot(s);
  const Cli good = clsync("verify " + w.text + w.extra + " --json");
  CHECK(good.code == 0);
  CHECK(parse(good)["objects_checked"] == 3);
  CHECK(parse(good)["problems"].empty());

  fs::remove(w.local / Repository::object_path(o2));
  fs::resize_file(w.local / Repository::object_path(o3), 2);
  const Cli bad = clsync("verify " + w.text + w.extra + " --json");
  CHECK(bad.code == 3);
  const json j = parse(bad);
  REQUIRE(j["problems"].size() == 2);
  std::map<std::string, std::string> by_object;
  for (const auto& p : j["problems"]) {
    CHECK(p["snapshot"] == s.id);
    by_object[p["object"].get<std::string>()] = p["problem"].get<std::string>();
  }
  CHECK(by_object[o2].find("missing") != std::string::npos);
  CHECK(by_object[o3].find("2 bytes") != std::string::npos);
  const Cli text = clsync("verify " + w.text + w.extra + " --snapshot " + s.id);
  CHECK(text.code == 3);
  CHECK(text.out.find("missing") != std::string::npos);
  CHECK(clsync("verify " + w.text + w.extra + " --snapshot nope").code == 1);

  // A hostile snapshot is a problem naming it, not a crash.
  test::write_file(w.local / "snapshots/evil.json",
                   R"({"format":"clsync-snapshot","version":1,"id":"evil","created":"2024-01-01T00:00:00Z",)"
                   R"("cluster":"P1","host":"h","tag":"","chunks":[{"key":"../../etc","db":"","table":"",)"
                   R"("files":[],"directories":[],"object":")" + o1 + R"(","object_sha256":")" + o1 +
                       R"(","object_size":12}]})");
  const Cli evil = clsync("verify " + w.text + w.extra + " --json");
  CHECK(evil.code == 3);
  bool named = false;
  const json evil_doc = parse(evil);
  for (const auto& p : evil_doc["problems"]) {
    named = named || (p["snapshot"] == "evil" &&
                      p["problem"].get<std::string>().find("snapshot evil") != std::string::npos);
  }
  CHECK(named);
}

/// Sets the mtime of `p` to `age_s` seconds ago.
void age_file(const fs::path& p, std::int64_t age_s)
{
  timespec times[2];
  times[0].tv_sec = ::time(nullptr) - age_s;
  times[0].tv_nsec = 0;
  times[1] = times[0];
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
}

/// prune removes partial objects of interrupted pushes and backups older than
/// --keep-partial-for (24 h by default), only under the repository lock, never an object.
void check_prune_partials(const Where& w)
{
  auto repo = open_local_repo(w, true);
  const std::string bytes = "kept object";
  const auto o = put_object(repo, bytes);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  repo.write_snapshot(make_snapshot("p1", now - 10, "P1", "", {{o, bytes}}));
  const std::string old_hash = transport::sha256_hex("an old partial");
  const std::string young_hash = transport::sha256_hex("a young partial");
  const fs::path old_partial = w.local / (Repository::object_path(old_hash) + ".partial");
  const fs::path young_partial = w.local / (Repository::object_path(young_hash) + ".partial");
  const fs::path old_temp = w.local / "tmp" / "backup-20260101T000000-1.tar.zst";
  for (const auto& p : {old_partial, young_partial, old_temp}) {
    fs::create_directories(p.parent_path());
    test::write_file(p, "partial bytes");
  }
  age_file(old_partial, 2 * k_day);
  age_file(old_temp, 2 * k_day);
  age_file(young_partial, 3600);

  {
    // A push or backup in progress holds the lock: its partials are never taken.
    LockHolder holder(w);
    CHECK(clsync("prune " + w.text + w.extra + " --keep-last 1 --json").code == 4);
    CHECK(fs::exists(old_partial));
    CHECK(holder.release() == 0);
  }
  const Cli dry = clsync("prune " + w.text + w.extra + " --keep-last 1 --dry-run --json");
  CHECK(dry.code == 0);
  CHECK(parse(dry)["partials_removed"].size() == 2);
  CHECK(fs::exists(old_partial));
  CHECK(fs::exists(old_temp));

  const Cli c = clsync("prune " + w.text + w.extra + " --keep-last 1 --json");
  CHECK(c.code == 0);
  const json j = parse(c);
  std::set<std::string> removed;
  for (const auto& p : j["partials_removed"]) {
    removed.insert(p.get<std::string>());
  }
  CHECK(removed == std::set<std::string>{Repository::object_path(old_hash) + ".partial",
                                         "tmp/backup-20260101T000000-1.tar.zst"});
  CHECK_FALSE(fs::exists(old_partial));
  CHECK_FALSE(fs::exists(old_temp));
  CHECK(fs::exists(young_partial));
  CHECK(repo.list_objects().size() == 1);

  // A shorter grace period takes the younger one too.
  const Cli short_grace =
      clsync("prune " + w.text + w.extra + " --keep-last 1 --keep-partial-for 30m --json");
  CHECK(short_grace.code == 0);
  CHECK(parse(short_grace)["partials_removed"].size() == 1);
  CHECK_FALSE(fs::exists(young_partial));
  CHECK(repo.list_objects().size() == 1);
  check_nothing_missing(repo);
}

} // namespace

TEST_SUITE("repo")
{
  TEST_CASE("a local repository: created 0700, snapshots listed, --check-age")
  {
    check_create_and_list(local_where(test::scratch_dir("repo-local") / "r"));
  }

  TEST_CASE("an ssh:// repository: created 0700, snapshots listed, --check-age")
  {
    test::SshdHarness sshd(1, "repo-ssh");
    check_create_and_list(ssh_where(sshd, test::scratch_dir("repo-ssh-list") / "r"));
  }

  TEST_CASE("prune keeps what the policy says per group and every object a kept snapshot needs")
  {
    check_prune(local_where(test::scratch_dir("repo-prune") / "r"));
  }

  TEST_CASE("prune of an ssh:// repository")
  {
    test::SshdHarness sshd(1, "repo-prune-ssh");
    check_prune(ssh_where(sshd, test::scratch_dir("repo-prune-ssh") / "r"));    check_prune_partials(ssh_where(sshd, test::scratch_dir("repo-prune-ssh") / "partials"));
  }

  TEST_CASE("prune removes stale partial objects, never under a running push's lock")
  {
    check_prune_partials(local_where(test::scratch_dir("repo-partials") / "r"));
  }

  TEST_CASE("prune is refused (exit 4) while another process holds the repository lock")
  {
    check_prune_lock(local_where(test::scratch_dir("repo-lock") / "r"));
  }

  TEST_CASE("the repository lock over ssh://")
  {
    test::SshdHarness sshd(1, "repo-lock-ssh");
    check_prune_lock(ssh_where(sshd, test::scratch_dir("repo-lock-ssh") / "r"));
  }

  TEST_CASE("verify finds a missing object, a wrong size and a hostile snapshot")
  {
    check_verify(local_where(test::scratch_dir("repo-verify") / "r"));
  }

  TEST_CASE("verify of an ssh:// repository")
  {
    test::SshdHarness sshd(1, "repo-verify-ssh");
    check_verify(ssh_where(sshd, test::scratch_dir("repo-verify-ssh") / "r"));
  }
}
