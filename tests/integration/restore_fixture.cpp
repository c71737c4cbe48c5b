// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/integration/restore_fixture.hpp"

#include "core/cluster/node_set.hpp"
#include "core/cluster/topology.hpp"
#include "core/repo/repository.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <algorithm>

namespace fs = std::filesystem;

namespace clsync::test {

core::repo::Snapshot make_repository(DemoCopy& a, const fs::path& dir, const core::FilterOptions& f)
{
  namespace repo = core::repo;
  auto r = repo::Repository::open(repo::parse_repo_location(dir.string()), {}, true);
  repo::Snapshot snap;
  snap.id = repo::new_snapshot_id();
  snap.created = "2026-01-01T00:00:00Z";
  snap.cluster = a.topo->cluster;
  snap.host = "test";
  snap.filters = f;
  core::ChunkFilter filter(f, *a.topo);
  for (const auto& c : a.inventory().chunks) {
    if (!filter.matches(c)) {
      continue;
    }
    const core::Replica& rep = c.replicas.front();
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
    for (const auto& [level, value] : c.partition) {
      sc.partition.push_back(value);
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
  std::string text = read_file(yaml);
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
  write_file(yaml, text);
  topo = std::make_shared<core::Topology>(core::load_topology(yaml));
  nodes = std::make_shared<core::NodeSet>(*topo);
}

core::Inventory ClusterB::inventory(bool verify)
{
  core::InventoryOptions o;
  o.verify = verify;
  core::NullEvents quiet;
  return core::take_inventory(*topo, *nodes, o, quiet);
}

std::string ClusterB::volume(const std::string& node) const
{
  for (const auto& n : topo->nodes) {
    if (n.name == node) {
      return n.volumes.front();
    }
  }
  FAIL("no node " << node << " in cluster B");
  return {};
}

std::string args_b(DemoCopy& a, const ClusterB& b)
{
  return "-c '" + b.yaml.string() + "' --state-dir '" + (a.dir / "state-b").string() + "' ";
}

std::vector<std::string> clsync_leftovers(const fs::path& root)
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

} // namespace clsync::test
