// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/integration/restore_fixture.hpp"

#include "core/repo/repository.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fcntl.h>
#include <map>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace clsync::core;

namespace clsync::test {

FilterOptions first_three_days()
{
  FilterOptions f;
  f.dbs = {"Level1"};
  f.where = {"date<=2020.06.03"};
  return f;
}

repo::Snapshot make_repository(DemoCopy& a,
                               const fs::path& dir,
                               const FilterOptions& f,
                               const FilterOptions* recorded)
{
  auto r = repo::Repository::open(repo::parse_repo_location(dir.string()), {}, true);
  repo::Snapshot snap;
  snap.id = repo::new_snapshot_id();
  snap.created = "2026-01-01T00:00:00Z";
  snap.cluster = a.topo->cluster;
  snap.host = "test";
  snap.filters = recorded ? *recorded : f;
  ChunkFilter filter(f, *a.topo);
  for (const auto& c : a.inventory().chunks) {
    if (!filter.matches(c)) {
      continue;
    }
    const Replica& rep = c.replicas.front();
    auto node = a.nodes->get(rep.node);
    const std::string hash = node->hash_chunk(rep.volume, c.key).content_hash;
    auto w = r.node().create_file(r.root(), repo::Repository::object_path(hash));
    auto packed = node->pack_chunk(rep.volume, c.key, {}, *w);
    w->commit();
    REQUIRE(packed.digest.content_hash == hash);
    repo::SnapshotChunk sc;
    sc.key = c.key;
    sc.db = c.db;
    sc.table = c.table;
    for (const auto& [level, value] : c.partition()) {
      sc.partition.emplace_back(value);
    }
    sc.manifest = packed.manifest;
    sc.object = hash;
    sc.object_sha256 = packed.object_sha256;
    sc.object_size = packed.object_size;
    snap.chunks.push_back(std::move(sc));
  }
  std::sort(snap.chunks.begin(), snap.chunks.end(),
            [](const auto& x, const auto& y) { return x.key < y.key; });
  r.write_snapshot(snap);
  return snap;
}

ClusterB::ClusterB(DemoCopy& a) : yaml(a.dir / "cluster-b.yaml")
{
  // DemoCopy rewrote only cluster-a.yaml: point B at the copy's own volumes too.
  std::string text = test::read_file(yaml);
  const auto start = text.find("volumes: [\"");
  REQUIRE(start != std::string::npos);
  const auto path_at = start + 11;
  const auto b_at = text.find("/b/", path_at);
  REQUIRE(b_at != std::string::npos);
  const std::string tmpl = text.substr(path_at, b_at - path_at);
  for (std::size_t p = 0; (p = text.find(tmpl, p)) != std::string::npos;) {
    text.replace(p, tmpl.size(), a.dir.string());
    p += a.dir.string().size();
  }
  reload(text);
}

void ClusterB::reload(const std::string& text)
{
  test::write_file(yaml, text);
  topo = std::make_shared<Topology>(load_topology(yaml));
  nodes = std::make_shared<NodeSet>(*topo);
}

Inventory ClusterB::inventory(bool verify)
{
  InventoryOptions o;
  o.verify = verify;
  NullEvents quiet;
  return take_inventory(*topo, *nodes, o, quiet);
}

std::string ClusterB::volume(std::size_t i) const
{
  return topo->nodes.at(i).volumes.at(0);
}

std::string args_b(DemoCopy& a, const ClusterB& b)
{
  return "-c '" + b.yaml.string() + "' --state-dir '" + (a.dir / "state-b").string() + "' ";
}

nlohmann::json run_json(const std::string& args, int expect, const std::string& env)
{
  std::string out;
  const int rc = test::run_clsync(args + " --json", &out, env);
  CHECK_MESSAGE(rc == expect, out);
  auto j = nlohmann::json::parse(out, nullptr, false);
  REQUIRE_MESSAGE(j.is_object(), out);
  return j;
}

std::vector<std::string> leftovers(const fs::path& root)
{
  std::vector<std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    if (it->path().filename().string().rfind(".clsync-", 0) == 0) {
      out.push_back(it->path().string());
    }
  }
  return out;
}

void check_restored(ClusterB& b, const repo::Snapshot& snap, int want)
{
  auto inv = b.inventory(true);
  std::map<std::string, const Chunk*> by_key;
  for (const auto& c : inv.chunks) {
    by_key[c.key] = &c;
  }
  CHECK(inv.chunks.size() == snap.chunks.size());
  for (const auto& sc : snap.chunks) {
    auto it = by_key.find(sc.key);
    REQUIRE_MESSAGE(it != by_key.end(), sc.key);
    std::set<std::string> nodes;
    for (const auto& r : it->second->replicas) {
      CHECK_MESSAGE(r.content_hash == sc.object, (sc.key + " on " + r.node));
      nodes.insert(r.node);
    }
    CHECK_MESSAGE(static_cast<int>(nodes.size()) == want, sc.key);
    CHECK_MESSAGE(static_cast<int>(it->second->replicas.size()) == want, sc.key);
  }
}

namespace {

/// The data extents of an open file (SEEK_DATA / SEEK_HOLE), as "offset+length" pairs.
std::string extents(int fd, off_t size)
{
  std::string out;
  for (off_t at = 0; at < size;) {
    const off_t data = ::lseek(fd, at, SEEK_DATA);
    if (data < 0) {
      break;
    }
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) {
      hole = size;
    }
    out += std::to_string(data) + "+" + std::to_string(hole - data) + " ";
    at = hole;
  }
  return out;
}

/// One entry's attributes (and, for a file, its extents) as text, for comparison.
std::string describe_entry(const fs::path& p)
{
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  std::string d = std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + ":" +
                  std::to_string(st.st_gid) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                  std::to_string(st.st_mtim.tv_nsec);
  if (S_ISREG(st.st_mode)) {
    d += " size " + std::to_string(st.st_size) + " nlink " + std::to_string(st.st_nlink);
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    d += " extents " + extents(fd, st.st_size);
    ::close(fd);
  }
  return d;
}

} // namespace

std::string tree_difference(const fs::path& original, const fs::path& copy)
{
  std::map<std::string, fs::path> a, b;
  for (const auto& [root, out] : {std::pair{original, &a}, std::pair{copy, &b}}) {
    (*out)[""] = root;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      (*out)[e.path().lexically_relative(root).string()] = e.path();
    }
  }
  for (const auto& [rel, p] : a) {
    auto it = b.find(rel);
    if (it == b.end()) {
      return "'" + rel + "' is missing from " + copy.string();
    }
    const std::string da = describe_entry(p), db = describe_entry(it->second);
    if (da != db) {
      return "'" + rel + "': " + da + " in the original, " + db + " in " + copy.string();
    }
    if (fs::is_regular_file(p) && read_file(p) != read_file(it->second)) {
      return "'" + rel + "': the bytes differ in " + copy.string();
    }
  }
  for (const auto& [rel, p] : b) {
    if (!a.count(rel)) {
      return "'" + rel + "' in " + copy.string() + " is not in the original";
    }
  }
  return "";
}

} // namespace clsync::test
