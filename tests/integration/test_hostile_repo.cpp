// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Hostile repositories through the clsync binary: a real backup's snapshot spoiled field by
// field (keys, files and object ids that climb or are absolute, sizes of 2^64-1, duplicates,
// another format or version, another id), its object replaced by a tar whose member climbs
// out, is absolute or is a hard link to /etc/shadow, and a clsync-repo.json of another format
// or version. restore, verify, snapshots and push must each refuse with a documented exit
// code and a message naming the snapshot or object, and write nothing outside the target.
// (Parsers are covered field by field by the unit suites core::snapshot and
// transport::object_hostile; this proves the commands stop on what they refuse.)
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>

namespace fs = std::filesystem;
using clsync::test::contains;
using nlohmann::json;

namespace {

/// Runs `clsync <args>`; stdout + stderr in `out`; the exit code.
int hostile_repo_clsync(const std::string& args, std::string& out)
{
  out.clear();
  return clsync::test::run_command("timeout 120 " CLSYNC_BINARY " " + args + " 2>&1", &out);
}

/// Every path under `dir`, sorted, one per line.
std::string hostile_repo_listing(const fs::path& dir)
{
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out.push_back(e.path().lexically_relative(dir).string());
  }
  std::sort(out.begin(), out.end());
  std::string s;
  for (const auto& p : out) {
    s += p + "\n";
  }
  return s;
}

/// A tar.zst (made by GNU tar) holding one member named `name`; with `link_to`, a regular
/// member b.col and then `name` as a hard link whose target reads `link_to`.
std::string hostile_tar(const fs::path& work, const std::string& name, const std::string& link_to = "")
{
  const fs::path t = work / "tar-src";
  fs::remove_all(t);
  fs::create_directories(t);
  clsync::test::write_file(t / "f", "hostile\n");
  std::string cmd = "cd '" + t.string() + "' && ";
  if (link_to.empty()) {
    cmd += "tar --zstd -cf ../t.tar.zst --absolute-names --transform 's,^f$," + name + ",' f";
  } else {
    // r: member names, h: hard link targets (S/H/R: not those).
    cmd += "ln f g && tar --zstd -cf ../t.tar.zst --absolute-names "
           "--transform 's,^f$,b.col,rSH' --transform 's,^f$," + link_to + ",RSh' "
           "--transform 's,^g$," + name + ",rSH' f g";
  }
  std::string out;
  const int rc = clsync::test::run_command("(" + cmd + ") 2>&1", &out);
  REQUIRE_MESSAGE(rc == 0, out);
  clsync::test::run_command("tar --zstd -tvf '" + (work / "t.tar.zst").string() + "' 2>&1", &out);
  INFO("tar: " << out);
  return clsync::test::read_file(work / "t.tar.zst");
}

} // namespace

TEST_SUITE("hostile")
{
  TEST_CASE("a hostile repository: restore, verify, snapshots and push refuse, naming it")
  {
    const fs::path dir = clsync::test::scratch_dir("hostile-repo");
    for (const char* v : {"a1", "d1", "work"}) {
      fs::create_directories(dir / v);
    }
    clsync::test::write_file(dir / "a1/db/20200601/t/a.col", "alpha");
    clsync::test::write_file(dir / "a1/db/20200601/t/sub/b.col", "beta");
    auto topology = [&](const std::string& name, const std::string& vol) {
      const fs::path f = dir / (name + ".yaml");
      clsync::test::write_file(f, "cluster: " + name + "\nreplication: 1\nnodes:\n  - name: " +
                                      name + "1\n    host: local\n    volumes: [" +
                                      (dir / vol).string() + "]\ndatabases:\n  db:\n"
                                      "    levels: [date]\n");
      return f.string();
    };
    const std::string a = topology("a", "a1"), d = topology("d", "d1");
    const std::string repo = (dir / "repo").string();
    std::string out;
    REQUIRE_MESSAGE(hostile_repo_clsync("-c " + a + " --state-dir " + (dir / "st").string() +
                                            " backup --to " + repo,
                                        out) == 0,
                    out);
    const fs::path snap_dir = dir / "repo/snapshots";
    REQUIRE(std::distance(fs::directory_iterator(snap_dir), fs::directory_iterator()) == 1);
    const fs::path snap = fs::directory_iterator(snap_dir)->path();
    const std::string id = snap.stem().string();
    const json good = json::parse(clsync::test::read_file(snap));
    const std::string object_id = good["chunks"][0]["object"];
    const fs::path object = dir / "repo/objects" / object_id.substr(0, 2) / (object_id + ".tar.zst");
    const std::string object_bytes = clsync::test::read_file(object);

    // Each run must refuse with `code` and name the snapshot (or object); the target volume
    // stays empty and nothing appears beside the scratch directory.
    std::size_t runs = 0;
    auto expect_refused = [&](const std::string& what, const std::string& args, int code,
                              const std::string& says) {
      CAPTURE(what);
      CAPTURE(args);
      fs::remove_all(dir / "d1");
      fs::create_directories(dir / "d1");
      const int rc = hostile_repo_clsync(args, out);
      ++runs;
      CHECK_MESSAGE(rc == code, out);
      CHECK_MESSAGE(contains(out, says), out);
      CHECK(fs::is_empty(dir / "d1"));
      fs::remove_all(dir / "repo2");
    };
    const std::string restore = "-c " + d + " --state-dir " + (dir / "st2").string() +
                                " restore --from " + repo;
    const std::string push = "push " + repo + " " + (dir / "repo2").string();

    struct Spoil {
      const char* name;
      std::function<void(json&)> edit;
    };
    const std::vector<Spoil> spoils = {
        {"key climbs", [](json& j) { j["chunks"][0]["key"] = "db/../../../../tmp/evil"; }},
        {"key absolute", [](json& j) { j["chunks"][0]["key"] = "/etc/cron.d/evil"; }},
        {"file climbs", [](json& j) { j["chunks"][0]["files"][0]["path"] = "../../../evil"; }},
        {"file absolute", [](json& j) { j["chunks"][0]["files"][0]["path"] = "/tmp/evil"; }},
        {"object climbs", [](json& j) { j["chunks"][0]["object"] = "../../../../etc/passwd"; }},
        {"object with a slash", [&](json& j) { j["chunks"][0]["object"] = object_id.substr(0, 30) + "/" + object_id.substr(31); }},
        {"file size 2^64-1", [](json& j) { j["chunks"][0]["files"][0]["size"] = UINT64_MAX; }},
        {"sizes that sum past 2^64",
         [](json& j) {
           for (auto& f : j["chunks"][0]["files"]) {
             f["size"] = UINT64_MAX / 2 + 7;
           }
         }},
        {"chunk twice", [](json& j) { j["chunks"].push_back(j["chunks"][0]); }},
        {"file twice", [](json& j) { j["chunks"][0]["files"][1] = j["chunks"][0]["files"][0]; }},
        {"another format", [](json& j) { j["format"] = "restic-snapshot"; }},
        {"another version", [](json& j) { j["version"] = 99; }},
        {"another id", [](json& j) { j["id"] = "20200101T000000.000000Z-00000000"; }},
        {"id climbs", [](json& j) { j["id"] = "../../../x"; }},
        {"not an object", [](json& j) { j = json::array({1, 2}); }},
    };
    for (const auto& s : spoils) {
      json j = good;
      s.edit(j);
      clsync::test::write_file(snap, j.dump());
      expect_refused(std::string(s.name) + " / restore", restore, 1, "snapshot " + id);
      expect_refused(std::string(s.name) + " / push", push, 1, "snapshot " + id);
      expect_refused(std::string(s.name) + " / verify", "verify " + repo, 3, id);
      expect_refused(std::string(s.name) + " / snapshots", "snapshots " + repo, 3, id);
    }
    // An object size of 2^64-1 is only a lie about a size: restore and push check the object
    // by its hash, verify reports the mismatch.
    {
      json j = good;
      j["chunks"][0]["object_size"] = UINT64_MAX;
      clsync::test::write_file(snap, j.dump());
      expect_refused("object size 2^64-1 / verify", "verify " + repo, 3, "18446744073709551615");
    }
    clsync::test::write_file(snap, good.dump());

    // The object replaced by hostile tars: restore refuses inside the object (exit 1: the
    // only chunk failed), verify reports it (exit 3), push refuses to carry it (exit 3).
    const std::vector<std::pair<std::string, std::string>> tars = {
        {"a member that climbs", hostile_tar(dir / "work", "../../evil")},
        {"an absolute member", hostile_tar(dir / "work", (dir / "evil").string())},
        {"a hard link to /etc/shadow", hostile_tar(dir / "work", "a.col", "/etc/shadow")},
        {"a hard link that climbs", hostile_tar(dir / "work", "a.col", "../../../etc/shadow")},
    };
    for (const auto& [name, bytes] : tars) {
      clsync::test::write_file(object, bytes);
      expect_refused(name + " / restore", restore, 1, object_id);
      expect_refused(name + " / verify", "verify " + repo, 3, object_id.substr(0, 16));
      expect_refused(name + " / push", push, 3, object_id);
    }
    clsync::test::write_file(object, object_bytes);

    // clsync-repo.json of another format or version.
    const fs::path marker = dir / "repo/clsync-repo.json";
    const std::string marker_good = clsync::test::read_file(marker);
    for (const std::string& m : {std::string(R"({"format":"clsync-repo","version":7})"),
                                 std::string(R"({"format":"borg","version":1})"),
                                 std::string("[]"), std::string("\xff\xfe")}) {
      clsync::test::write_file(marker, m);
      expect_refused("marker " + m + " / restore", restore, 1, "clsync-repo.json");
      expect_refused("marker " + m + " / verify", "verify " + repo, 1, "clsync-repo.json");
      expect_refused("marker " + m + " / push", push, 1, "clsync-repo.json");
    }
    clsync::test::write_file(marker, marker_good);

    // After all of it, the repository restores, and nothing appeared outside.
    REQUIRE_MESSAGE(hostile_repo_clsync(restore, out) == 0, out);
    CHECK(clsync::test::read_file(dir / "d1/db/20200601/t/a.col") == "alpha");
    CHECK(hostile_repo_listing(dir.parent_path()).find("evil") == std::string::npos);
    CHECK(runs > 80);
  }
}
