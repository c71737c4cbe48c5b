// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/json_names.hpp"
#include "core/repo/backup_cache.hpp"
#include "core/repo/repository.hpp"
#include "core/repo/snapshot.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sys/stat.h>

using namespace clsync;
using namespace clsync::core::repo;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string k_hash_a(64, 'a');
const std::string k_hash_b(64, 'b');
const std::string k_hash_c(64, 'c');

Snapshot sample()
{
  Snapshot s;
  s.id = "20240601T020000Z-3f9a1c2e";
  s.created = "2024-06-01T02:00:00Z";
  s.cluster = "P1";
  s.host = "backup-host";
  s.tag = "daily";
  s.filters.dbs = {"Level1"};
  s.filters.where = {"date<=2020.06.03"};
  s.filters.columns = {"price", "qty"};
  SnapshotChunk c;
  c.key = "Level1/20200601/Key0/Snapshot";
  c.db = "Level1";
  c.table = "Snapshot";
  c.partition = {"20200601", "Key0"};
  transport::ObjectFile f;
  f.entry = {"price.col", 100, 1717207200123456789, 0644, 1000, 1000, ""};
  f.sha256 = k_hash_a;
  f.holes = {{0, 10}, {50, 20}};
  transport::ObjectFile l;
  l.entry = {"qty.col", 100, 1717207200123456789, 0644, 1000, 1000, "price.col"};
  l.sha256 = k_hash_a;
  c.manifest.files = {f, l};
  c.manifest.dirs = {{"sub", 5, 0755, 0, 0}, {"", 7, 0750, 1, 2}};
  c.object = k_hash_b;
  c.object_sha256 = k_hash_c;
  c.object_size = 1234;
  s.chunks.push_back(c);
  return s;
}

void check_same(const Snapshot& a, const Snapshot& b)
{
  CHECK(a.id == b.id);
  CHECK(a.created == b.created);
  CHECK(a.cluster == b.cluster);
  CHECK(a.host == b.host);
  CHECK(a.tag == b.tag);
  CHECK(a.filters.dbs == b.filters.dbs);
  CHECK(a.filters.where == b.filters.where);
  CHECK(a.filters.columns == b.filters.columns);
  REQUIRE(a.chunks.size() == b.chunks.size());
  for (std::size_t i = 0; i < a.chunks.size(); ++i) {
    const auto& x = a.chunks[i];
    const auto& y = b.chunks[i];
    CHECK(x.key == y.key);
    CHECK(x.db == y.db);
    CHECK(x.table == y.table);
    CHECK(x.partition == y.partition);
    CHECK(x.object == y.object);
    CHECK(x.object_sha256 == y.object_sha256);
    CHECK(x.object_size == y.object_size);
    REQUIRE(x.manifest.files.size() == y.manifest.files.size());
    for (std::size_t k = 0; k < x.manifest.files.size(); ++k) {
      const auto& p = x.manifest.files[k];
      const auto& q = y.manifest.files[k];
      CHECK(p.entry.path == q.entry.path);
      CHECK(p.entry.size == q.entry.size);
      CHECK(p.entry.mtime_ns == q.entry.mtime_ns);
      CHECK(p.entry.mode == q.entry.mode);
      CHECK(p.entry.uid == q.entry.uid);
      CHECK(p.entry.gid == q.entry.gid);
      CHECK(p.entry.link_to == q.entry.link_to);
      CHECK(p.sha256 == q.sha256);
      CHECK(p.holes == q.holes);
    }
    REQUIRE(x.manifest.dirs.size() == y.manifest.dirs.size());
    for (std::size_t k = 0; k < x.manifest.dirs.size(); ++k) {
      CHECK(x.manifest.dirs[k].path == y.manifest.dirs[k].path);
      CHECK(x.manifest.dirs[k].mode == y.manifest.dirs[k].mode);
      CHECK(x.manifest.dirs[k].uid == y.manifest.dirs[k].uid);
      CHECK(x.manifest.dirs[k].gid == y.manifest.dirs[k].gid);
      CHECK(x.manifest.dirs[k].mtime_ns == y.manifest.dirs[k].mtime_ns);
    }
  }
}

/// The error snapshot_from_json gives for `j` (empty when it accepts it).
std::string refusal(const json& j)
{
  try {
    snapshot_from_json(j.dump(), "snapshot X in repository R");
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

json sample_json() { return json::parse(snapshot_to_json(sample())); }

} // namespace

TEST_SUITE("repo")
{
  TEST_CASE("snapshot ids taken one after another sort in the order they were taken")
  {
    // "latest" is the last id in order; the CI run that found this took two backups in one second.
    std::string prev = new_snapshot_id();
    for (int i = 0; i < 200; ++i) {
      const std::string id = new_snapshot_id();
      REQUIRE_MESSAGE(prev < id, prev << " then " << id);
      CHECK(is_snapshot_id(id));
      prev = id;
    }
  }

  TEST_CASE("a snapshot survives a round trip through its JSON")
  {
    const Snapshot s = sample();
    const std::string text = snapshot_to_json(s);
    check_same(s, snapshot_from_json(text, "test"));
    CHECK(s.chunks[0].bytes() == 200);
  }

  TEST_CASE("names that are not UTF-8 survive a round trip (as _b64)")
  {
    Snapshot s = sample();
    const std::string odd = "20200601\xff\xfe";
    s.chunks[0].key = "Level1/" + odd + "/Key0/Snapshot";
    s.chunks[0].partition = {odd, "Key0"};
    s.chunks[0].manifest.files[0].entry.path = "pr\xc0ice.col";
    s.chunks[0].manifest.files[1].entry.link_to = "pr\xc0ice.col";
    s.chunks[0].manifest.dirs[0].path = "s\xffub";
    s.cluster = "P\x80";
    s.tag = "t\xfe";
    s.filters.chunks = {"Level1/\xff"};
    const std::string text = snapshot_to_json(s);
    CHECK(core::is_utf8(text));
    const json j = json::parse(text);
    CHECK(j["chunks"][0].contains("key_b64"));
    CHECK(j["chunks"][0].contains("partition_b64"));
    CHECK(j["chunks"][0]["files"][0].contains("path_b64"));
    CHECK(j.contains("cluster_b64"));
    check_same(s, snapshot_from_json(text, "test"));
    CHECK(snapshot_from_json(text, "test").filters.chunks == s.filters.chunks);
  }

  TEST_CASE("groups: cluster, filters and tag")
  {
    Snapshot a = sample();
    Snapshot b = sample();
    b.id = "other";
    b.host = "elsewhere";
    b.chunks.clear();
    CHECK(a.group() == b.group());
    b.tag = "weekly";
    CHECK(a.group() != b.group());
    b = sample();
    b.filters.where = {"date>today-7"};
    CHECK(a.group() != b.group());
    b = sample();
    b.cluster = "P2";
    CHECK(a.group() != b.group());
  }

  TEST_CASE("hostile snapshots are refused naming the snapshot and the entry")
  {
    auto chunk = [](json& j) -> json& { return j["chunks"][0]; };
    auto file = [&](json& j, int i) -> json& { return chunk(j)["files"][i]; };
    struct Case {
      const char* name;
      std::function<void(json&)> spoil;
      const char* says;
    };
    const std::vector<Case> cases = {
        {"key climbs", [&](json& j) { chunk(j)["key"] = "Level1/../../etc/Snapshot"; }, "'..'"},
        {"absolute key", [&](json& j) { chunk(j)["key"] = "/etc/passwd"; }, "absolute"},
        {"empty component", [&](json& j) { chunk(j)["key"] = "Level1//Snapshot"; }, "empty"},
        {"empty key", [&](json& j) { chunk(j)["key"] = ""; }, "chunk"},
        {"clsync key", [&](json& j) { chunk(j)["key"] = "Level1/.clsync-tmp-x/Snapshot"; }, ".clsync"},
        {"file climbs", [&](json& j) { file(j, 0)["path"] = "../../x"; }, "file"},
        {"absolute file", [&](json& j) { file(j, 0)["path"] = "/root/.ssh/authorized_keys"; }, "file"},
        {"directory climbs", [&](json& j) { chunk(j)["directories"][0]["path"] = "a/../.."; }, "directory"},
        {"link to a later file", [&](json& j) { file(j, 1)["link_to"] = "zzz"; }, "link_to"},
        {"link out of the chunk", [&](json& j) { file(j, 1)["link_to"] = "../../etc/shadow"; }, "link_to"},
        {"link to itself", [&](json& j) { file(j, 1)["link_to"] = "qty.col"; }, "link_to"},
        {"hole beyond size", [&](json& j) { file(j, 0)["holes"] = json::array({json::array({90, 20})}); }, "hole"},
        {"hole overflow", [&](json& j) { file(j, 0)["holes"] = json::array({json::array({1, UINT64_MAX})}); }, "hole"},
        {"holes overlap", [&](json& j) { file(j, 0)["holes"] = json::array({json::array({0, 30}), json::array({20, 5})}); }, "overlap"},
        {"negative size", [&](json& j) { file(j, 0)["size"] = -1; }, "size"},
        {"sizes overflow", [&](json& j) { file(j, 0)["size"] = UINT64_MAX; file(j, 0).erase("holes"); file(j, 1)["size"] = UINT64_MAX; file(j, 1).erase("link_to"); }, "2^64"},
        {"hash not hex", [&](json& j) { file(j, 0)["sha256"] = std::string(64, 'g'); }, "sha256"},
        {"short hash", [&](json& j) { file(j, 0)["sha256"] = "abc"; }, "sha256"},
        {"object not a hash", [&](json& j) { chunk(j)["object"] = "../../../etc/passwd"; }, "object"},
        {"object upper case", [&](json& j) { chunk(j)["object"] = std::string(64, 'A'); }, "object"},
        {"object_sha256 bad", [&](json& j) { chunk(j)["object_sha256"] = 5; }, "object_sha256"},
        {"mode too big", [&](json& j) { file(j, 0)["mode"] = 0170000; }, "mode"},
        {"duplicate key", [&](json& j) { j["chunks"].push_back(chunk(j)); }, "twice"},
        {"duplicate file", [&](json& j) { file(j, 1) = file(j, 0); }, "twice"},
        {"id climbs", [&](json& j) { j["id"] = "../x"; }, "id"},
        {"wrong format", [&](json& j) { j["format"] = "restic"; }, "format"},
        {"future version", [&](json& j) { j["version"] = 2; }, "version"},
        {"bad created", [&](json& j) { j["created"] = "yesterday"; }, "created"},
        {"missing files", [&](json& j) { chunk(j).erase("files"); }, "files"},
        {"db not the key's", [&](json& j) { chunk(j)["db"] = "Other"; }, "db"},
        {"bad base64", [&](json& j) { chunk(j)["key_b64"] = "***"; }, "key"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      json j = sample_json();
      CHECK(refusal(j).empty());
      c.spoil(j);
      const std::string why = refusal(j);
      CHECK_MESSAGE(why.find("snapshot X in repository R") != std::string::npos, why);
      CHECK_MESSAGE(why.find(c.says) != std::string::npos, why);
    }
    CHECK(refusal(json::array()).find("not a JSON object") != std::string::npos);
  }

  TEST_CASE("a snapshot written entry by entry is what nlohmann writes of it as one document")
  {
    // The writer never builds the document (a chunk of 100,000 files took 200 MB of it); its
    // text must still be the document's own indented dump, byte for byte.
    std::vector<Snapshot> cases;
    cases.push_back(sample());
    Snapshot odd = sample();
    odd.chunks[0].key = "Level1/x\xff/Key0/Snapshot";
    odd.chunks[0].partition = {"x\xff", "Key0"};
    odd.chunks[0].manifest.files[0].entry.path = "a\nb\"c\xc0.col";
    odd.chunks[0].manifest.files[1].entry.link_to = "a\nb\"c\xc0.col";
    odd.tag = "t\xfe";
    cases.push_back(odd);
    Snapshot empty = sample();
    empty.chunks.clear();
    empty.filters = {};
    cases.push_back(empty);
    Snapshot bare = sample();
    bare.chunks[0].manifest = {};
    bare.chunks[0].partition.clear();
    SnapshotChunk second = sample().chunks[0];
    second.key = "Level1/20200601/Key0/Alpha";
    second.table = "Alpha";
    bare.chunks.push_back(second);
    cases.push_back(bare);
    for (const auto& s : cases) {
      const std::string text = snapshot_to_json(s);
      CAPTURE(text);
      CHECK(core::dump_json(json::parse(text), 1) + "\n" == text);
      CHECK(snapshot_to_json(snapshot_from_json(text, "t")) == text);
    }
    // Chunks are written in key order, whatever the order given.
    const json j = json::parse(snapshot_to_json(cases[3]));
    CHECK(j["chunks"][0]["table"] == "Alpha");
    CHECK(j["chunks"][1]["files"] == json::array());
  }

  TEST_CASE("the streamed reader keeps a whole document's rules: last member wins, entries in order")
  {
    // Text a document writer would not produce, so spelled out: members given twice, entries
    // that are not objects, and a "files" array where no chunk is.
    const std::string good = snapshot_to_json(sample());
    auto with = [&](const std::string& from, const std::string& to) {
      std::string t = good;
      const auto at = t.find(from);
      REQUIRE(at != std::string::npos);
      return t.replace(at, from.size(), to);
    };
    auto refused = [](const std::string& text) {
      try {
        snapshot_from_json(text, "snapshot X");
      } catch (const Error& e) {
        return std::string(e.what());
      }
      return std::string();
    };
    // A "files" member given twice: only the last counts (here empty, so the chunk has none).
    const Snapshot twice = snapshot_from_json(with("\"files\": [", "\"files\": [], \"files\": ["), "t");
    CHECK(twice.chunks[0].manifest.files.size() == 2);
    const Snapshot last_empty =
        snapshot_from_json(with("\"key\":", "\"files\": [],\n   \"key\":"), "t");
    CHECK(last_empty.chunks[0].manifest.files.empty());
    // The first "chunks" is replaced by the second, problems and all.
    CHECK(snapshot_from_json(with("\"chunks\": [", "\"chunks\": [5], \"chunks\": ["), "t").chunks.size() == 1);
    CHECK(snapshot_from_json(with("\"created\":", "\"chunks\": [], \"created\":"), "t").chunks.empty());
    CHECK(refused(with("\"created\":", "\"chunks\": 7, \"created\":")).find("'chunks' is not an array") !=
          std::string::npos);
    // Entries that are not objects, where files and chunks are.
    CHECK(refused(with("\"files\": [", "\"files\": [[1, {\"a\": 2}], ")).find(
              "chunk 'Level1/20200601/Key0/Snapshot': a file entry is not an object") != std::string::npos);
    CHECK(refused(with("\"files\": [", "\"files\": [null, ")).find("a file entry is not an object") !=
          std::string::npos);
    CHECK(refused(with("\"chunks\": [", "\"chunks\": [\"x\", ")).find("chunk #0: not an object") !=
          std::string::npos);
    // A file's problem names its chunk by key, though the key comes after the files.
    CHECK(refused(with("\"size\": 100", "\"size\": -3")).find(
              "snapshot X: chunk 'Level1/20200601/Key0/Snapshot', file 'price.col': field 'size'") !=
          std::string::npos);
    // The header's problems come first, as before: here the format, then the bad file.
    CHECK(refused(with("\"format\": \"clsync-snapshot\"", "\"format\": \"x\"")
                      .replace(good.find("\"size\": 100"), 11, "\"size\": -3"))
              .find("format") != std::string::npos);
    // "files" elsewhere than in a chunk is not a chunk's.
    const Snapshot elsewhere = snapshot_from_json(
        with("\"utc\":", "\"files\": [{\"path\": \"../x\"}],\n  \"utc\":"), "t");
    CHECK(elsewhere.chunks[0].manifest.files.size() == 2);
    CHECK(refused(good + "x").find("not a JSON object") != std::string::npos);
  }

  TEST_CASE("a snapshot text larger than the limit is refused before parsing")
  {
    std::string huge(k_max_snapshot_bytes + 1, ' ');
    CHECK_THROWS_WITH_AS(snapshot_from_json(huge, "snapshot H"),
                         doctest::Contains("larger than"), Error);
  }

  TEST_CASE("repository locations")
  {
    auto l = parse_repo_location("ssh://backup@host.example:2222/srv/repo/");
    CHECK(l.remote);
    CHECK(l.user == "backup");
    CHECK(l.host == "host.example");
    CHECK(l.port == 2222);
    CHECK(l.path == "/srv/repo");
    l = parse_repo_location("ssh://127.0.0.2/a/./b/../repo");
    CHECK(l.remote);
    CHECK(l.user.empty());
    CHECK(l.port == 22);
    CHECK(l.path == "/a/repo");
    l = parse_repo_location("ssh://[::1]:2200/r");
    CHECK(l.host == "::1");
    CHECK(l.port == 2200);
    l = parse_repo_location("/var/backups/clsync//");
    CHECK_FALSE(l.remote);
    CHECK(l.path == "/var/backups/clsync");
    l = parse_repo_location("rel/repo");
    CHECK(l.path == (fs::current_path() / "rel/repo").string());
    for (const char* bad : {"", "ssh://host", "ssh:///path", "ssh://host:99999/p", "ssh://host:x/p",
                            "ssh://@host/p", "s3://bucket/p", "rsync://host/p", "host:/path"}) {
      CAPTURE(bad);
      CHECK_THROWS_AS(parse_repo_location(bad), UsageError);
    }
  }

  TEST_CASE("a local repository is created 0700, and a foreign directory is refused")
  {
    const auto dir = test::scratch_dir("repo-create");
    const auto where = parse_repo_location((dir / "deep/repo").string());
    CHECK_THROWS_WITH_AS(Repository::open(where, {}, false), doctest::Contains("does not exist"),
                         Error);
    auto repo = Repository::open(where, {}, true);
    struct stat st {};
    REQUIRE(::stat(where.path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
    const json marker = json::parse(test::read_file(dir / "deep/repo/clsync-repo.json"));
    CHECK(marker["format"] == "clsync-repo");
    CHECK(marker["version"] == 1);
    CHECK_NOTHROW(Repository::open(where, {}, false));

    test::write_file(dir / "other/file", "x");
    CHECK_THROWS_WITH_AS(Repository::open(parse_repo_location((dir / "other").string()), {}, true),
                         doctest::Contains("is not a clsync repository"), Error);
    test::write_file(dir / "future/clsync-repo.json", R"({"format":"clsync-repo","version":9})");
    CHECK_THROWS_WITH_AS(Repository::open(parse_repo_location((dir / "future").string()), {}, false),
                         doctest::Contains("version 9"), Error);
    test::write_file(dir / "restic/clsync-repo.json", R"({"format":"restic"})");
    CHECK_THROWS_WITH_AS(Repository::open(parse_repo_location((dir / "restic").string()), {}, false),
                         doctest::Contains("not a clsync repository"), Error);
  }

  TEST_CASE("objects and snapshots of a local repository")
  {
    const auto dir = test::scratch_dir("repo-objects");
    auto repo = Repository::open(parse_repo_location((dir / "r").string()), {}, true);
    CHECK(repo.list_objects().empty());
    CHECK(repo.list_snapshots().empty());
    auto w = repo.node().create_file(repo.root(), Repository::object_path(k_hash_a));
    w->write(std::span<const char>("12345", 5));
    w->commit();
    // A partial object (a writer's temp, or a push's) is never listed.
    auto partial = repo.node().create_file(repo.root(), Repository::object_path(k_hash_b));
    partial->write(std::span<const char>("12", 2));
    test::write_file(dir / "r/objects/cc" / (k_hash_c + ".tar.zst.partial"), "1");
    test::write_file(dir / "r/objects/cc/notanobject", "1");
    const auto objects = repo.list_objects();
    REQUIRE(objects.size() == 1);
    CHECK(objects[0].first == k_hash_a);
    CHECK(objects[0].second == 5);
    CHECK(repo.object_size(k_hash_a) == std::optional<std::uint64_t>(5));
    CHECK_FALSE(repo.object_size(k_hash_b));
    partial->abort();

    Snapshot s = sample();
    repo.write_snapshot(s);
    CHECK(repo.list_snapshots() == std::vector<std::string>{s.id});
    check_same(s, repo.read_snapshot(s.id));
    CHECK_THROWS_WITH_AS(repo.read_snapshot("nope"), doctest::Contains("does not exist"), Error);
    // A file whose id differs from its name is refused.
    fs::copy_file(dir / "r/snapshots" / (s.id + ".json"), dir / "r/snapshots/other.json");
    CHECK_THROWS_WITH_AS(repo.read_snapshot("other"), doctest::Contains("says it is"), Error);
    repo.remove_snapshot(s.id);
    repo.remove_object(k_hash_a);
    CHECK(repo.list_objects().empty());
    CHECK(repo.list_snapshots() == std::vector<std::string>{"other"});
  }

  TEST_CASE("a snapshot file over the limit is refused unread (by its listed size)")
  {
    const auto dir = test::scratch_dir("repo-huge");
    auto repo = Repository::open(parse_repo_location((dir / "r").string()), {}, true);
    fs::create_directories(dir / "r/snapshots");
    {
      std::FILE* f = std::fopen((dir / "r/snapshots/huge.json").c_str(), "w");
      REQUIRE(f);
      REQUIRE(::ftruncate(fileno(f), static_cast<off_t>(k_max_snapshot_bytes + 1)) == 0);
      std::fclose(f);
    }
    CHECK_THROWS_WITH_AS(repo.read_snapshot("huge"), doctest::Contains("refused unread"), Error);
  }

  TEST_CASE("the backup cache maps replica states to content hashes while the object exists")
  {
    const auto dir = test::scratch_dir("repo-cache");
    auto repo = Repository::open(parse_repo_location((dir / "r").string()), {}, true);
    auto w = repo.node().create_file(repo.root(), Repository::object_path(k_hash_a));
    w->commit();
    const std::string odd_key = "Level1/\xff/T";
    {
      auto cache = BackupCache::load(repo, "P1");
      CHECK(cache.size() == 0);
      CHECK_FALSE(cache.lookup("n1", "/v", odd_key, "fp1"));
      cache.insert("n1", "/v", odd_key, "fp1", k_hash_a);
      cache.insert("n1", "/v", "Level1/x/T", "fp2", k_hash_b);  // its object goes missing
      CHECK(cache.lookup("n1", "/v", odd_key, "fp1") == std::optional<std::string>(k_hash_a));
      CHECK_FALSE(cache.lookup("n1", "/v", odd_key, "fp-other"));
      CHECK_FALSE(cache.lookup("n2", "/v", odd_key, "fp1"));
      cache.save(repo);
    }
    auto cache = BackupCache::load(repo, "P1");
    CHECK(cache.lookup("n1", "/v", odd_key, "fp1") == std::optional<std::string>(k_hash_a));
    // b's object was never in the repository: its entry is not trusted (nor kept).
    CHECK_FALSE(cache.lookup("n1", "/v", "Level1/x/T", "fp2"));
    repo.remove_object(k_hash_a);
    CHECK_FALSE(BackupCache::load(repo, "P1").lookup("n1", "/v", odd_key, "fp1"));
    // A damaged line is ignored, not fatal.
    test::write_file(dir / "r/cache/P2.jsonl", "garbage\n{\"node\":1}\n");
    auto other = BackupCache::load(repo, "P2");
    CHECK(other.ignored_lines() == 2);
    CHECK(BackupCache::path_for("../evil") != "cache/../evil.jsonl");
  }
}
