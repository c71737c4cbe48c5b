// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// `backup` and `verify --against` (suite `backup`) on copies of the demo's cluster-a, with the
// nodes local and again behind loopback sshd, through the real binary: objects that GNU tar and
// sha256sum check without clsync, incremental runs that read nothing, divergent chunks, a
// backup killed with SIGKILL, and a cluster compared with its snapshot.
#include "core/demo.hpp"
#include "core/repo/repository.hpp"
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using namespace clsync;
using clsync::test::DemoCopy;
using nlohmann::json;

namespace {

const std::string k_first30 = "--db Level1 --where 'date<=2020.06.03'";

std::string q(const fs::path& p)
{
  return "'" + p.string() + "'";
}

/// Runs `clsync -c YAML --json ARGS`, returns the exit code and the parsed document.
int clsync_json(const DemoCopy& d, const std::string& args, json& doc, const std::string& env = "")
{
  std::string out;
  const int rc = test::run_clsync("-c " + q(d.yaml) + " --state-dir " + q(d.ctx.state_dir) +
                                      " --json " + args,
                                  &out, env);
  doc = json::parse(out, nullptr, false);
  INFO("stdout: " << out);
  CHECK_FALSE(doc.is_discarded());
  return rc;
}

core::repo::Repository open_repo(const fs::path& p)
{
  return core::repo::Repository::open(core::repo::parse_repo_location(p.string()), {}, false);
}

/// Every object file under `repo`/objects.
std::set<std::string> object_files(const fs::path& repo)
{
  std::set<std::string> out;
  if (!fs::exists(repo / "objects")) {
    return out;
  }
  for (const auto& e : fs::recursive_directory_iterator(repo / "objects")) {
    if (e.is_regular_file()) {
      out.insert(e.path().filename().string());
    }
  }
  return out;
}

/// Overwrites the first bytes of `file` of chunk `key` on every volume holding it (the same
/// bytes everywhere, as a database writes both replicas).
void change_chunk(const DemoCopy& d, const std::string& key, const std::string& file)
{
  int changed = 0;
  for (const auto& n : d.topo->nodes) {
    for (const auto& v : n.volumes) {
      const fs::path f = fs::path(v) / key / file;
      if (fs::exists(f)) {
        std::fstream s(f, std::ios::in | std::ios::out | std::ios::binary);
        s.seekp(0);
        s.write("CHANGED!", 8);
        ++changed;
      }
    }
  }
  REQUIRE(changed == 2);
}

/// Lists the file names in the tar+zstd object at `object` with GNU tar.
std::string tar_list(const fs::path& object)
{
  std::string out;
  REQUIRE(test::run_command("tar --zstd -tf " + q(object) + " | sort", &out) == 0);
  return out;
}

/// Extracts every object the snapshot names with `tar --zstd -xf` and checks each file with
/// sha256sum against the snapshot; returns the number of files checked.
int check_objects_with_tar(const fs::path& repo, const core::repo::Snapshot& snap)
{
  int files = 0;
  for (const auto& c : snap.chunks) {
    const fs::path obj = repo / core::repo::Repository::object_path(c.object);
    REQUIRE_MESSAGE(fs::exists(obj), c.key);
    const fs::path into = test::scratch_dir("backup-untar") / c.object.substr(0, 16);
    fs::create_directories(into);
    REQUIRE(test::run_command("tar --zstd -xf " + q(obj) + " -C " + q(into)) == 0);
    if (c.manifest.files.empty()) {
      continue;
    }
    // One sha256sum for the chunk's files: it prints a line per file, in argument order (a
    // leading backslash marks an escaped name). A process per file made this check most of the
    // suite's time under ASan.
    std::string cmd = "sha256sum";
    for (const auto& f : c.manifest.files) {
      cmd += " " + q(into / f.entry.path);
    }
    std::string out;
    REQUIRE(test::run_command(cmd, &out) == 0);
    std::istringstream lines(out);
    for (const auto& f : c.manifest.files) {
      std::string line;
      REQUIRE_MESSAGE(std::getline(lines, line), (c.key + "/" + f.entry.path));
      const std::string sum = line.substr(line.rfind('\\', 0) == 0 ? 1 : 0, 64);
      CHECK_MESSAGE(sum == f.sha256, (c.key + "/" + f.entry.path));
      ++files;
    }
  }
  return files;
}

core::repo::Snapshot only_snapshot(const fs::path& repo, const std::string& id)
{
  auto r = open_repo(repo);
  return r.read_snapshot(id);
}

/// The demo's topology with node i behind SSH host i of `sshd` (same volumes).
void to_ssh(DemoCopy& d, const test::SshdHarness& sshd)
{
  std::string y = "cluster: demo-a\nreplication: 2\nssh:\n  user: root\n  identity: " +
                  sshd.client_key().string() + "\n  known_hosts: " + sshd.known_hosts().string() +
                  "\n  agent_command: " CLSYNC_BINARY "\n  connect_timeout: 5\n  io_timeout: 30\n"
                  "nodes:\n";
  for (std::size_t i = 0; i < d.topo->nodes.size(); ++i) {
    const auto& n = d.topo->nodes[i];
    y += "  - name: " + n.name + "\n    host: " + sshd.host(static_cast<int>(i)).address +
         "\n    port: " + std::to_string(sshd.host(static_cast<int>(i)).port) +
         "\n    volumes: [\"" + n.volumes[0] + "\"]\n";
  }
  y += "databases:\n  Level1:\n    levels: [date, hash]\n  Level1_TSDB:\n    levels: [date, hash]\n";
  d.edit_yaml([&](std::string& text) { text = y; });
  REQUIRE(!d.topo->nodes[0].is_local());
}

/// The done-when sequence of issue 8 for backup: 30 chunks, objects GNU tar reads, a second run
/// that reads nothing, one changed chunk gives one object, verify --against finds it.
void backup_sequence(DemoCopy& d)
{
  const fs::path repo = d.dir / "repo";
  json doc;
  REQUIRE(clsync_json(d, "backup --to " + q(repo) + " " + k_first30, doc) == 0);
  CHECK(doc["chunks"] == 30);
  CHECK(doc["new_objects"] == 30);
  CHECK(doc["reused_objects"] == 0);
  CHECK(doc["skipped"] == 0);
  CHECK(doc["failed"] == 0);
  CHECK(doc["bytes_read"] == 30 * 4096);
  CHECK(doc["bytes_written"].get<std::uint64_t>() > 0);
  REQUIRE(doc["snapshot"].is_string());
  CHECK(object_files(repo).size() == 30);
  CHECK((fs::status(repo).permissions() & fs::perms::all) == fs::perms::owner_all);
  const auto snap = only_snapshot(repo, doc["snapshot"]);
  REQUIRE(snap.chunks.size() == 30);
  std::set<std::string> keys;
  for (const auto& c : snap.chunks) {
    keys.insert(c.key);
    CHECK(c.key.rfind("Level1/2020060", 0) == 0);
  }
  CHECK(keys.size() == 30);
  CHECK(snap.cluster == "demo-a");
  CHECK(check_objects_with_tar(repo, snap) == 30 * static_cast<int>(core::demo_columns().size()));

  // Unchanged: nothing read, nothing written, a new snapshot of the same objects.
  REQUIRE(clsync_json(d, "backup --to " + q(repo) + " " + k_first30, doc) == 0);
  CHECK(doc["chunks"] == 30);
  CHECK(doc["new_objects"] == 0);
  CHECK(doc["reused_objects"] == 30);
  CHECK(doc["bytes_read"] == 0);
  CHECK(doc["bytes_written"] == 0);
  CHECK(object_files(repo).size() == 30);

  // One file of one chunk changes (on both replicas): exactly one new object, one chunk read.
  const std::string changed = "Level1/20200602/5/Snapshot";
  change_chunk(d, changed, core::demo_columns()[0] + ".col");
  REQUIRE(clsync_json(d, "backup --to " + q(repo) + " " + k_first30, doc) == 0);
  CHECK(doc["new_objects"] == 1);
  CHECK(doc["reused_objects"] == 29);
  CHECK(doc["bytes_read"] == 4096);
  CHECK(object_files(repo).size() == 31);

  // The cluster against the first snapshot: exactly that chunk differs.
  const int rc = clsync_json(d, "verify --against " + q(repo) + " --snapshot " + snap.id, doc);
  CHECK(rc == 3);
  CHECK(doc["chunks"] == 30);
  CHECK(doc["same"] == 29);
  REQUIRE(doc["differ"].size() == 1);
  CHECK(doc["differ"][0]["chunk"] == changed);
  CHECK(doc["missing"].empty());
  CHECK(doc["absent"].empty());
  // And against the latest, which holds the change: the same.
  CHECK(clsync_json(d, "verify --against " + q(repo), doc) == 0);
  CHECK(doc["same"] == 30);
}

} // namespace

TEST_SUITE("backup")
{
  TEST_CASE("local nodes: 30 chunks, tar and sha256sum check them, incremental, verify --against")
  {
    DemoCopy d("backup-local");
    backup_sequence(d);
  }

  TEST_CASE("nodes behind sshd: the same backup, packed in the agents")
  {
    test::SshdHarness sshd(3, "backup-ssh");
    DemoCopy d("backup-ssh");
    to_ssh(d, sshd);
    backup_sequence(d);
  }

  TEST_CASE("an ssh:// repository: objects renamed into place on the repository host")
  {
    // Local nodes, the repository behind sshd (the loopback host shares this filesystem, so
    // the test reads the result directly).
    test::SshdHarness sshd(1, "backup-ssh-repo");
    DemoCopy d("backup-ssh-repo");
    const fs::path dir = test::scratch_dir("backup-ssh-repo-dir") / "r";
    const std::string url = "ssh://root@" + sshd.host(0).address + ":" +
                            std::to_string(sshd.host(0).port) + dir.string();
    const std::string opts = " --identity " + q(sshd.client_key()) + " --known-hosts " +
                             q(sshd.known_hosts()) + " --agent-command " CLSYNC_BINARY;
    json doc;
    REQUIRE(clsync_json(d, "backup --to " + url + opts + " " + k_first30, doc) == 0);
    CHECK(doc["new_objects"] == 30);
    // What was sent is exactly what the objects hold.
    std::uint64_t objects = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir / "objects")) {
      if (e.is_regular_file()) {
        objects += e.file_size();
      }
    }
    CHECK(doc["bytes_written"].get<std::uint64_t>() == objects);
    CHECK(object_files(dir).size() == 30);
    CHECK((fs::status(dir).permissions() & fs::perms::all) == fs::perms::owner_all);
    if (fs::exists(dir / "tmp")) {
      CHECK(fs::is_empty(dir / "tmp"));  // every temp became an object
    }
    const auto snap = only_snapshot(dir, doc["snapshot"]);
    CHECK(check_objects_with_tar(dir, snap) ==
          30 * static_cast<int>(core::demo_columns().size()));
    // Again: nothing read, nothing sent.
    REQUIRE(clsync_json(d, "backup --to " + url + opts + " " + k_first30, doc) == 0);
    CHECK(doc["new_objects"] == 0);
    CHECK(doc["bytes_written"] == 0);
  }

  TEST_CASE("--columns keeps only those files; the object is their content")
  {
    DemoCopy d("backup-columns");
    const fs::path repo = d.dir / "repo";
    const auto& cols = core::demo_columns();
    json doc;
    REQUIRE(clsync_json(d,
                        "backup --to " + q(repo) + " --chunk Level1/20200601/0/Snapshot --columns " +
                            cols[0] + "," + cols[2],
                        doc) == 0);
    CHECK(doc["chunks"] == 1);
    CHECK(doc["bytes_read"].get<std::uint64_t>() > 0);
    CHECK(doc["bytes_read"].get<std::uint64_t>() < 4096 / 4);
    const auto snap = only_snapshot(repo, doc["snapshot"]);
    REQUIRE(snap.chunks.size() == 1);
    REQUIRE(snap.chunks[0].manifest.files.size() == 2);
    CHECK(snap.filters.columns == std::vector<std::string>{cols[0], cols[2]});
    const std::string listing =
        tar_list(repo / core::repo::Repository::object_path(snap.chunks[0].object));
    CHECK(listing.find(cols[0] + ".col") != std::string::npos);
    CHECK(listing.find(cols[2] + ".col") != std::string::npos);
    CHECK(listing.find(cols[1] + ".col") == std::string::npos);
    CHECK(check_objects_with_tar(repo, snap) == 2);
    // The whole chunk is another object; the column backup again reads nothing.
    REQUIRE(clsync_json(d, "backup --to " + q(repo) + " --chunk Level1/20200601/0/Snapshot", doc) ==
            0);
    CHECK(doc["new_objects"] == 1);
    REQUIRE(clsync_json(d,
                        "backup --to " + q(repo) + " --chunk Level1/20200601/0/Snapshot --columns " +
                            cols[0] + "," + cols[2],
                        doc) == 0);
    CHECK(doc["new_objects"] == 0);
    CHECK(doc["bytes_read"] == 0);
  }

  TEST_CASE("a divergent chunk is skipped (exit 3) unless --prefer-node names its source")
  {
    DemoCopy d("backup-divergent");
    const fs::path repo = d.dir / "repo";
    const std::string key = "Level1/20200603/7/Snapshot";
    {
      std::ofstream f(fs::path(d.volume("P1-dn1")) / key / (core::demo_columns()[1] + ".col"),
                      std::ios::app | std::ios::binary);
      f << "one more row";
    }
    json doc;
    CHECK(clsync_json(d, "backup --to " + q(repo) + " " + k_first30, doc) == 3);
    CHECK(doc["chunks"] == 29);
    CHECK(doc["skipped"] == 1);
    REQUIRE(doc["problems"].size() == 1);
    CHECK(doc["problems"][0]["chunk"] == key);
    CHECK(doc["problems"][0]["error"].get<std::string>().find("--prefer-node") !=
          std::string::npos);
    CHECK(doc["snapshot"].is_string());

    REQUIRE(clsync_json(d, "backup --to " + q(repo) + " --prefer-node P1-dn1 " + k_first30, doc) ==
            0);
    CHECK(doc["chunks"] == 30);
    CHECK(doc["skipped"] == 0);
    CHECK(doc["new_objects"] == 1);
    const auto snap = only_snapshot(repo, doc["snapshot"]);
    for (const auto& c : snap.chunks) {
      if (c.key == key) {
        CHECK(c.bytes() == 4096 + 12);
      }
    }
  }

  TEST_CASE("a backup killed with SIGKILL leaves no snapshot naming a missing object; a rerun "
            "sends only what is missing")
  {
    for (const char* point : {"backup_mid_object:5", "backup_chunk_done:10"}) {
      const std::string p = point;
      CAPTURE(p);
      DemoCopy d(std::string("backup-crash-") + p.substr(0, p.find(':')));
      const fs::path repo = d.dir / "repo";
      const std::string cmd = "-c " + q(d.yaml) + " backup --per-node 1 --concurrency 1 --to " +
                              q(repo) + " " + k_first30;
      REQUIRE(test::run_clsync(cmd, nullptr, "CLSYNC_TEST_CRASH_AT=" + p) == 128 + SIGKILL);
      CHECK((!fs::exists(repo / "snapshots") || fs::is_empty(repo / "snapshots")));
      const std::size_t kept = object_files(repo).size();
      CHECK(kept == (p.rfind("backup_mid", 0) == 0 ? 4u : 10u));
      json doc;
      REQUIRE(clsync_json(d, "backup --to " + q(repo) + " " + k_first30, doc) == 0);
      CHECK(doc["chunks"] == 30);
      CHECK(doc["new_objects"] == 30 - kept);
      CHECK(doc["reused_objects"] == kept);
      const auto snap = only_snapshot(repo, doc["snapshot"]);
      CHECK(check_objects_with_tar(repo, snap) ==
            30 * static_cast<int>(core::demo_columns().size()));
    }
  }

  TEST_CASE("--dry-run writes nothing and says what would be read")
  {
    DemoCopy d("backup-dry");
    const fs::path repo = d.dir / "repo";
    json doc;
    REQUIRE(clsync_json(d, "backup --dry-run --to " + q(repo) + " " + k_first30, doc) == 0);
    CHECK(doc["dry_run"] == true);
    CHECK(doc["chunks"] == 30);
    CHECK(doc["new_objects"] == 30);
    CHECK(doc["snapshot"].is_null());
    CHECK_FALSE(fs::exists(repo));
  }
}
