// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Building the inventory from the nodes' scans, one node at a time as each scan arrives, so a
// scan's replica list is freed as soon as it is folded in (issue 10: memory that does not grow
// with detail).
#include "core/cluster/inventory.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <tuple>

namespace clsync::core {
namespace {


/// Position of `volume` in the node's configured volumes; unknown volumes sort last.
std::size_t volume_index(const NodeSpec& spec, const std::string& volume)
{
  auto it = std::find(spec.volumes.begin(), spec.volumes.end(), volume);
  return static_cast<std::size_t>(it - spec.volumes.begin());
}

/// True when two non-empty values of `field` differ among the replicas.
template <typename Field>
bool values_differ(const std::vector<Replica>& replicas, Field field)
{
  // Compared as the fields' own type: a HashText read as std::string is a temporary, and a
  // pointer kept to it dangled (two different digests then compared equal).
  const Replica* first = nullptr;
  for (const auto& r : replicas) {
    if ((r.*field).empty()) {
      continue;
    }
    if (!first) {
      first = &r;
    } else if (!(first->*field == r.*field)) {
      return true;
    }
  }
  return false;
}

void classify(Chunk& c, bool verify, const ZoneMap& zones)
{
  c.issues.clear();
  const int count = c.replica_count();
  const bool divergent = values_differ(c.replicas, &Replica::layout_hash) ||
                         (verify && values_differ(c.replicas, &Replica::content_hash));
  const bool duplicate = std::any_of(c.replicas.begin(), c.replicas.end(),
                                     [](const Replica& r) { return r.duplicate; });
  if (count < c.replication) {
    c.issues.push_back(ChunkHealth::under_replicated);
  }
  if (divergent) {
    c.issues.push_back(ChunkHealth::divergent);
  }
  if (zone_unsafe(c, zones)) {
    c.issues.push_back(ChunkHealth::zone_unsafe);
  }
  if (duplicate) {
    c.issues.push_back(ChunkHealth::duplicate_on_node);
  }
  if (count > c.replication) {
    c.issues.push_back(ChunkHealth::over_replicated);
  }
  c.health = c.issues.empty() ? ChunkHealth::healthy : c.issues.front();
}

NodeState make_node_state(const NodeSpec& spec, const NodeScanResult& result)
{
  NodeState n;
  n.name = spec.name;
  n.host = spec.host;
  n.reachable = result.reachable && !result.excluded;
  n.excluded = result.excluded;
  n.error = result.excluded && result.error.empty() ? "excluded" : result.error;
  if (!n.reachable) {
    for (const auto& path : spec.volumes) {
      VolumeState v;
      v.path = path;
      v.ok = false;
      v.error = n.excluded ? "node excluded" : "node unreachable";
      n.volumes.push_back(std::move(v));
    }
    return n;
  }
  // Configured volumes first, in topology order; anything else the node reported after them.
  std::vector<const transport::VolumeScan*> ordered;
  for (const auto& path : spec.volumes) {
    for (const auto& vs : result.scan.volumes) {
      if (vs.path == path) {
        ordered.push_back(&vs);
      }
    }
  }
  for (const auto& vs : result.scan.volumes) {
    if (volume_index(spec, vs.path) == spec.volumes.size()) {
      ordered.push_back(&vs);
    }
  }
  for (const auto& path : spec.volumes) {
    bool seen = std::any_of(ordered.begin(), ordered.end(),
                            [&](const transport::VolumeScan* vs) { return vs->path == path; });
    if (!seen) {
      VolumeState v;
      v.path = path;
      v.ok = false;
      v.error = "not reported by the node";
      n.volumes.push_back(std::move(v));
    }
  }
  std::set<std::uint64_t> filesystems;
  for (const auto* vs : ordered) {
    VolumeState v;
    v.path = vs->path;
    v.ok = vs->ok;
    v.error = vs->error;
    v.capacity_bytes = vs->capacity_bytes;
    v.free_bytes = vs->free_bytes;
    v.filesystem_id = vs->filesystem_id;
    v.machine_id = vs->machine_id;
    v.device = vs->device;
    v.inode = vs->inode;
    // Volumes sharing a filesystem share its capacity: count it once (SPEC §3). An id of 0
    // means the node could not tell, so that volume is counted on its own.
    if (v.ok && (v.filesystem_id == 0 || filesystems.insert(v.filesystem_id).second)) {
      n.capacity_bytes += v.capacity_bytes;
      n.free_bytes += v.free_bytes;
    }
    n.volumes.push_back(std::move(v));
  }
  // Keep the topology order even when a configured volume was missing from the scan.
  std::stable_sort(n.volumes.begin(), n.volumes.end(),
                   [&](const VolumeState& a, const VolumeState& b) {
                     return volume_index(spec, a.path) < volume_index(spec, b.path);
                   });
  return n;
}

/// Refuses a topology where one physical directory is two volumes (SPEC §3): its replicas
/// would be counted twice, and removing "a duplicate" would remove the only copy.
void check_volume_identity(const Topology& topo, const Inventory& inv)
{
  std::map<std::tuple<std::string, std::uint64_t, std::uint64_t>, std::string> seen;
  for (const auto& n : inv.nodes) {
    for (const auto& v : n.volumes) {
      if (!v.ok || v.inode == 0 || v.machine_id.empty()) {
        continue;
      }
      const std::string here = n.name + ":" + v.path;
      auto [it, inserted] = seen.try_emplace({v.machine_id, v.device, v.inode}, here);
      if (!inserted) {
        throw TopologyError(
            topo.file + ": volumes " + it->second + " and " + here +
                " are one directory (same machine, device " + std::to_string(v.device) +
                ", inode " + std::to_string(v.inode) +
                ": a bind mount, a symlink or the same path twice); nothing was changed",
            "list each physical directory once, under one node");
      }
    }
  }
}

} // namespace

ScanFolder::ScanFolder(const Topology& topo, const InventoryOptions& opts)
    : m_topo(topo), m_opts(opts), m_added(topo.nodes.size(), false),
      m_batched(topo.nodes.size(), false), m_strays(topo.nodes.size()),
      m_problems(topo.nodes.size()), m_unmanaged(topo.nodes.size()),
      m_leftovers(topo.nodes.size())
{
  m_inv.nodes.resize(topo.nodes.size());
}

std::uint32_t ScanFolder::find(std::string_view key) const
{
  if (m_slots.empty()) {
    return k_none;
  }
  const std::size_t mask = m_slots.size() - 1;
  for (std::size_t s = std::hash<std::string_view>{}(key) & mask;; s = (s + 1) & mask) {
    const std::uint32_t c = m_slots[s];
    if (c == k_none || m_chunks[c].key == key) {
      return c;
    }
  }
}

void ScanFolder::index_insert(std::uint32_t c)
{
  if (2 * (m_chunks.size() + 1) > m_slots.size()) {
    std::vector<std::uint32_t> old(std::max<std::size_t>(64, 2 * m_slots.size()), k_none);
    old.swap(m_slots);
    for (std::uint32_t k : old) {
      if (k != k_none) {
        index_insert(k);
      }
    }
  }
  const std::size_t mask = m_slots.size() - 1;
  std::size_t s = std::hash<std::string_view>{}(m_chunks[c].key) & mask;
  while (m_slots[s] != k_none) {
    s = (s + 1) & mask;
  }
  m_slots[s] = c;
}

void ScanFolder::check_node(std::size_t i, const char* what) const
{
  if (i >= m_topo.nodes.size() || m_added[i]) {
    throw std::invalid_argument(std::string("ScanFolder::") + what + ": node " +
                                std::to_string(i) + " is out of range or added twice");
  }
}

bool ScanFolder::fold(std::size_t node, transport::ReplicaScan& rs)
{
  std::uint32_t c = find(rs.key);
  if (c == k_none) {
    Chunk parsed;
    if (!parse_chunk_key(m_topo, rs.key, parsed)) {
      return false;
    }
    m_chunks.push_back(std::move(parsed));
    c = static_cast<std::uint32_t>(m_chunks.size() - 1);
    index_insert(c);
  }
  Replica r;
  r.node = m_topo.nodes[node].name;
  r.volume = rs.volume;
  r.bytes = rs.bytes;
  r.allocated_bytes = rs.allocated_bytes;
  constexpr std::uint64_t most_files = std::numeric_limits<std::uint32_t>::max();
  r.files = static_cast<std::uint32_t>(std::min(rs.files, most_files));
  r.newest_mtime_ns = rs.newest_mtime_ns;
  r.fingerprint = rs.fingerprint;
  r.layout_hash = rs.layout_hash;
  r.content_hash = rs.content_hash;
  r.has_special = !rs.special.empty();
  r.special = std::move(rs.special);
  if (m_opts.with_files) {
    r.file_list = std::move(rs.file_list);
  }
  auto& replicas = m_chunks[c].replicas;
  // Room for the wanted replicas at once: one allocation a chunk, not one per replica (each
  // freeing the last, in whichever scan thread's malloc arena it came from). Past that, grow
  // one at a time, not by doubling.
  replicas.reserve(replicas.empty() ? static_cast<std::size_t>(std::max(1, m_chunks[c].replication))
                                    : replicas.size() + 1);
  replicas.push_back(std::move(r));
  return true;
}

void ScanFolder::add_replicas(std::size_t i, std::vector<transport::ReplicaScan>& batch)
{
  check_node(i, "add_replicas");
  m_batched[i] = true;
  for (auto& rs : batch) {
    if (!fold(i, rs)) {
      m_strays[i].push_back({std::move(rs.volume), std::move(rs.key)});
    }
  }
  batch.clear();
}

void ScanFolder::drop_replicas(std::size_t i)
{
  const std::string& name = m_topo.nodes[i].name;
  for (auto& c : m_chunks) {
    std::erase_if(c.replicas, [&](const Replica& r) { return r.node == name; });
  }
  // Chunks left without replicas are dropped by finish().
  std::vector<Stray>().swap(m_strays[i]);
}

void ScanFolder::add(std::size_t i, NodeScanResult&& result)
{
  check_node(i, "add");
  m_added[i] = true;
  const NodeSpec& spec = m_topo.nodes[i];
  m_inv.nodes[i] = make_node_state(spec, result);
  if (!m_inv.nodes[i].reachable) {
    if (m_batched[i]) {
      drop_replicas(i);
    }
    return;
  }
  transport::NodeScan scan = std::move(result.scan);
  auto& problems = m_problems[i];
  for (const auto& vs : scan.volumes) {
    if (!vs.ok) {
      // The node's error names the volume already; say it once even if the node also
      // listed it among its problems.
      std::string message =
          vs.error.empty() ? "volume " + vs.path + " cannot be read" : vs.error;
      if (std::find(scan.problems.begin(), scan.problems.end(), message) ==
          scan.problems.end()) {
        problems.emplace_back(spec.name, message);
      }
    }
  }
  for (auto& p : scan.problems) {
    problems.emplace_back(spec.name, std::move(p));
  }
  for (auto& u : scan.unmanaged) {
    m_unmanaged[i].emplace_back(spec.name, std::move(u));
  }
  for (auto& l : scan.leftovers) {
    m_leftovers[i].emplace_back(spec.name, std::move(l));
  }
  auto not_a_chunk = [&](const std::string& volume, const std::string& key) {
    problems.emplace_back(spec.name,
                          "volume " + volume + ": " + key + " is not a chunk of a declared database");
  };
  // Batches came in any order; a whole scan lists volumes in their order, then keys.
  auto volume_of = [&](const Stray& s) {
    return std::find_if(scan.volumes.begin(), scan.volumes.end(),
                        [&](const transport::VolumeScan& v) { return v.path == s.volume; }) -
           scan.volumes.begin();
  };
  auto& strays = m_strays[i];
  std::sort(strays.begin(), strays.end(), [&](const Stray& a, const Stray& b) {
    const auto va = volume_of(a);
    const auto vb = volume_of(b);
    return va != vb ? va < vb : a.key < b.key;
  });
  for (const auto& s : strays) {
    not_a_chunk(s.volume, s.key);
  }
  std::vector<Stray>().swap(strays);
  for (auto& rs : scan.replicas) {
    if (!fold(i, rs)) {
      not_a_chunk(rs.volume, rs.key);
    }
    // What was folded in is freed now, not when the whole scan is.
    rs = transport::ReplicaScan{};
  }
}

Inventory ScanFolder::finish()
{
  for (std::size_t i = 0; i < m_topo.nodes.size(); ++i) {
    if (!m_added[i]) {
      throw std::invalid_argument("ScanFolder::finish: node " + m_topo.nodes[i].name +
                                  " has no scan result");
    }
  }
  std::vector<std::uint32_t>().swap(m_slots);
  Inventory inv = std::move(m_inv);
  // A chunk left without replicas had them only on a node that turned unreachable.
  std::erase_if(m_chunks, [](const Chunk& c) { return c.replicas.empty(); });
  inv.chunks = std::move(m_chunks);
  check_volume_identity(m_topo, inv);
  for (std::size_t i = 0; i < m_topo.nodes.size(); ++i) {
    for (auto& p : m_problems[i]) {
      inv.problems.push_back(std::move(p));
    }
    for (auto& u : m_unmanaged[i]) {
      inv.unmanaged.push_back(std::move(u));
    }
    for (auto& l : m_leftovers[i]) {
      inv.leftovers.push_back(std::move(l));
    }
  }
  std::sort(inv.chunks.begin(), inv.chunks.end(),
            [](const Chunk& a, const Chunk& b) { return a.key < b.key; });

  std::map<std::string, std::size_t, std::less<>> node_index;
  for (std::size_t i = 0; i < m_topo.nodes.size(); ++i) {
    node_index[m_topo.nodes[i].name] = i;
  }
  const ZoneMap zones = zone_map(m_topo, inv.nodes);
  for (auto& c : inv.chunks) {
    auto order = [&](const Replica& r) {
      std::size_t ni = node_index.find(r.node)->second;
      return std::make_pair(ni, volume_index(m_topo.nodes[ni], r.volume));
    };
    std::stable_sort(c.replicas.begin(), c.replicas.end(),
                     [&](const Replica& a, const Replica& b) { return order(a) < order(b); });
    // After the sort, the first copy of a node is on its first volume in topology order: it
    // counts, later copies on the same node are duplicates (SPEC §3).
    for (std::size_t i = 1; i < c.replicas.size(); ++i) {
      if (c.replicas[i].node == c.replicas[i - 1].node) {
        c.replicas[i].duplicate = true;
      }
    }
    for (const auto& r : c.replicas) {
      c.bytes = std::max(c.bytes, r.bytes);
      if (r.has_special) {
        inv.problems.emplace_back(
            r.node, "chunk " + c.key + " on " + r.volume + " holds " +
                        std::to_string(r.special.size()) +
                        " special file(s) (symlink, device, FIFO or socket), e.g. " +
                        r.special.front() + ": it is never moved");
      }
    }
    classify(c, m_opts.verify, zones);
  }
  recount(inv);
  return inv;
}

Inventory build_inventory(const Topology& topo,
                          const std::vector<NodeScanResult>& scans,
                          const InventoryOptions& opts)
{
  if (scans.size() != topo.nodes.size()) {
    throw std::invalid_argument("build_inventory: " + std::to_string(scans.size()) +
                                " scans for " + std::to_string(topo.nodes.size()) + " nodes");
  }
  ScanFolder builder(topo, opts);
  for (std::size_t i = 0; i < scans.size(); ++i) {
    builder.add(i, NodeScanResult(scans[i]));
  }
  return builder.finish();
}

} // namespace clsync::core
