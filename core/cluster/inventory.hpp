// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/compact.hpp"
#include "core/cluster/topology.hpp"
#include "transport/types.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// The cluster's inventory: every replica of every managed chunk, gathered from all nodes in
/// parallel, and the health of each chunk (SPEC §3). Pure values; planners work on these.
namespace clsync::core {

class NodeSet;
class Events;

/// One replica. Repeated strings are interned and digests kept as bytes (core/cluster/compact.hpp):
/// the inventory of a million replicas is what planning and status need, not a scan's detail.
struct Replica {
  Name node;
  Name volume;
  std::uint64_t bytes = 0;
  /// Bytes on disk (sparse files count their data only), when the scan reported them.
  OptionalCount allocated_bytes;
  std::int64_t newest_mtime_ns = 0;
  Rare<std::string> special;            ///< the special files' relative paths
  Rare<transport::FileEntry> file_list; ///< with InventoryOptions::with_files only
  RareHash content_hash;  ///< with --verify only: a pointer, not 33 bytes, without it
  // The 33-byte digests and the flags last, packed without padding between them.
  HashText fingerprint;
  HashText layout_hash;
  bool has_special = false;  ///< holds symlinks/devices/FIFOs/sockets: never moved
  bool duplicate = false;    ///< a second copy on the same node (not counted as a replica)
  /// After the flags, where it fills the padding (136 B a replica, not 144). A chunk of more
  /// than 2^32 - 1 files (more inodes than an ext4 file system holds) shows that many.
  std::uint32_t files = 0;
};

enum class ChunkHealth : std::uint8_t {
  healthy,
  under_replicated,
  over_replicated,
  duplicate_on_node,
  divergent,
  /// Replicas share a zone while a zone none of them is in could hold one (SPEC §3): where
  /// zones allow (some node has a zone, ≥ 2 distinct zones among reachable nodes, ≥ 2
  /// replicas), fewer distinct zones than min(replicas, replication, reachable zones). Nodes
  /// without a zone each count as a zone of their own.
  zone_unsafe,
};
const char* to_string(ChunkHealth h) noexcept;

/// The conditions of a chunk as bits: one byte where a vector cost 24 and often a heap block
/// (issue 10: memory). Reads like a std::vector<ChunkHealth> that is always in precedence
/// order (see Chunk::issues), whatever order they were added in.
class HealthIssues {
public:
  /// Most urgent first (Chunk::health's precedence).
  static constexpr ChunkHealth k_precedence[] = {
      ChunkHealth::under_replicated, ChunkHealth::divergent, ChunkHealth::zone_unsafe,
      ChunkHealth::duplicate_on_node, ChunkHealth::over_replicated};

  class iterator {
  public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = ChunkHealth;
    using difference_type = std::ptrdiff_t;
    using pointer = const ChunkHealth*;
    using reference = ChunkHealth;
    iterator() = default;
    iterator(std::uint8_t bits, std::size_t k) : m_bits(bits), m_k(k) { skip(); }
    ChunkHealth operator*() const { return k_precedence[m_k]; }
    iterator& operator++() { ++m_k; skip(); return *this; }
    iterator operator++(int) { iterator old = *this; ++*this; return old; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.m_k == b.m_k; }

  private:
    void skip()
    {
      while (m_k < std::size(k_precedence) && !(m_bits & bit(k_precedence[m_k]))) {
        ++m_k;
      }
    }
    std::uint8_t m_bits = 0;
    std::size_t m_k = std::size(k_precedence);
  };

  HealthIssues() = default;
  HealthIssues(std::initializer_list<ChunkHealth> issues)
  {
    for (ChunkHealth h : issues) {
      push_back(h);
    }
  }
  void push_back(ChunkHealth h) { m_bits = static_cast<std::uint8_t>(m_bits | bit(h)); }
  void clear() { m_bits = 0; }
  bool empty() const { return m_bits == 0; }
  std::size_t size() const { return static_cast<std::size_t>(std::popcount(m_bits)); }
  iterator begin() const { return {m_bits, 0}; }
  iterator end() const { return {m_bits, std::size(k_precedence)}; }
  ChunkHealth front() const { return *begin(); }
  ChunkHealth operator[](std::size_t i) const
  {
    auto it = begin();
    std::advance(it, static_cast<std::ptrdiff_t>(i));
    return *it;
  }
  friend bool operator==(const HealthIssues& a, const HealthIssues& b) = default;
  friend bool operator==(const HealthIssues& a, const std::vector<ChunkHealth>& b)
  {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

private:
  static constexpr std::uint8_t bit(ChunkHealth h)
  {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(h));
  }
  std::uint8_t m_bits = 0;
};

struct Chunk {
  std::string key;  ///< "<db>/<level values…>/<table>"
  Name db;
  Name table;
  /// The database's partition levels; their values are the parts of `key` between db and
  /// table, so they are not stored again (issue 10: memory).
  LevelNames levels;
  std::uint64_t bytes = 0;  ///< size of one replica (the largest, if they differ)
  std::vector<Replica> replicas;  ///< sorted by node order, then volume
  int replication = 0;      ///< wanted replica count
  /// The most urgent condition in `issues`, or healthy. Precedence (most urgent first):
  /// under_replicated (data at risk), divergent (no copy can be trusted as the source),
  /// zone_unsafe (one failure domain holds every copy), duplicate_on_node, over_replicated.
  ChunkHealth health = ChunkHealth::healthy;
  /// Every condition that applies, in the precedence order above; empty when healthy.
  HealthIssues issues;
  /// True when a replica holds special files (never moved, SPEC §3).
  bool has_special() const;

  /// Replicas counted for replication: one per node (duplicates excluded).
  int replica_count() const;
  bool on_node(std::string_view node) const;
  /// (level name, value) in order; the values point into `key`.
  std::vector<std::pair<Name, std::string_view>> partition() const;
  /// The partition path: level values joined by '/' ("20200601/3").
  std::string partition_path() const;
};

/// One volume of a node. `chunks` and `bytes` count the volume's replicas, duplicates excluded.
struct VolumeState {
  std::string path;
  bool ok = true;
  std::string error;
  std::uint64_t capacity_bytes = 0;
  std::uint64_t free_bytes = 0;
  std::uint64_t filesystem_id = 0;
  /// Physical identity (SPEC §3): machine id, device and inode of the directory; 0 when unknown.
  std::string machine_id;
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t chunks = 0;
  std::uint64_t bytes = 0;
};

struct NodeState {
  std::string name;
  std::string host;
  bool reachable = true;
  bool excluded = false;  ///< left out with --exclude-node (then reachable is false too)
  std::string error;  ///< why it is unreachable ("excluded" for excluded nodes)
  std::vector<VolumeState> volumes;
  std::uint64_t chunks = 0;  ///< replicas on the node (duplicates excluded)
  std::uint64_t bytes = 0;
  /// Capacity and free bytes with each filesystem counted once.
  std::uint64_t capacity_bytes = 0;
  std::uint64_t free_bytes = 0;
};

struct HealthCounts {
  std::uint64_t chunks = 0, healthy = 0, under_replicated = 0, over_replicated = 0,
                duplicate_on_node = 0, divergent = 0, zone_unsafe = 0;
};

struct Inventory {
  std::vector<NodeState> nodes;  ///< topology order
  std::vector<Chunk> chunks;     ///< sorted by key
  std::vector<std::pair<std::string, transport::UnmanagedScan>> unmanaged;  ///< (node, entry)
  std::vector<std::pair<std::string, transport::LeftoverScan>> leftovers;  ///< (node, leftover)
  std::vector<std::pair<std::string, std::string>> problems;               ///< (node, sentence)
  HealthCounts health;

  const NodeState* node(std::string_view name) const;
  const Chunk* chunk(std::string_view key) const;
  /// The state of volume `path` of node `node`, or nullptr.
  const VolumeState* volume(std::string_view node, std::string_view path) const;
  bool all_reachable() const;
};

/// Recomputes every count of `inv` (NodeState/VolumeState chunks and bytes, HealthCounts)
/// from `inv.chunks`; used after filtering chunks out. Capacity and free space are kept.
void recount(Inventory& inv);

struct InventoryOptions {
  bool verify = false;      ///< compute content hashes; divergence by content
  bool with_files = false;  ///< keep file lists
  std::vector<std::string> exclude_nodes;  ///< not contacted; reported unreachable ("excluded")
  /// Declared databases whose directories are not looked into (ScanSpec::skip_databases): a
  /// caller that selects chunks by a filter skips those it cannot select (ChunkFilter).
  std::vector<std::string> skip_databases;
};

/// The failure domains of a topology's nodes, as health and the planners see them.
struct ZoneMap {
  bool zoned = false; ///< some node has a zone; else zone rules do not apply
  std::map<std::string, std::string, std::less<>> zone_of; ///< node → zone key
  int reachable_zones = 0; ///< distinct zones among the reachable nodes
  /// Distinct zones among `nodes` (node names; unknown names count as zones of their own).
  int distinct(const std::vector<std::string>& nodes) const;
};
/// Zones of `topo`'s nodes; the reachable ones of `nodes` count for reachable_zones.
ZoneMap zone_map(const Topology& topo, const std::vector<NodeState>& nodes);

/// Whether `c`'s counted replicas are zone-unsafe under `zones` (see ChunkHealth::zone_unsafe).
bool zone_unsafe(const Chunk& c, const ZoneMap& zones);

/// Splits a chunk key into db, partition values and table using the topology's databases.
/// Returns false when the key does not belong to a declared database at the right depth.
bool parse_chunk_key(const Topology& topo, std::string_view key, Chunk& out);

/// What one node's scan gave. `reachable == false` with an error means unreachable.
struct NodeScanResult {
  bool reachable = true;
  bool excluded = false;  ///< not contacted (--exclude-node)
  std::string error;
  transport::NodeScan scan;
};

/// Builds the inventory from per-node scans (pure: used by tests with hand-made scans).
/// `scans[i]` belongs to `topo.nodes[i]` (throws std::invalid_argument when the sizes differ).
/// Replicas whose key does not fit a declared database become problems, not chunks. When one
/// node holds a key on several volumes, the copy on the first volume in topology order counts
/// and the others are marked `duplicate` (excluded from every count). Divergence compares
/// layout hashes (paths and sizes), and content hashes under `opts.verify`; never mtimes or
/// quick fingerprints. Throws TopologyError (exit 2) when one physical directory (machine id,
/// device, inode) is reached as two volumes, on one node or on two (a bind mount, a symlink).
Inventory build_inventory(const Topology& topo,
                          const std::vector<NodeScanResult>& scans,
                          const InventoryOptions& opts);

/// Builds the inventory one node's scan at a time, in any order of nodes, so that a caller can
/// fold each scan in as it arrives and free it: the replica list of a scan is consumed by add().
/// A node's replicas may also come in batches before its add() (add_replicas), so that its
/// whole scan never exists at once. The result is exactly build_inventory's. Not thread-safe:
/// callers serialise add_replicas() and add().
class ScanFolder {
public:
  ScanFolder(const Topology& topo, const InventoryOptions& opts);
  ScanFolder(const ScanFolder&) = delete;
  ScanFolder& operator=(const ScanFolder&) = delete;

  /// Folds in a batch of node `i`'s replicas, consuming them; the node's add() follows. When
  /// that add() says the node is unreachable, the node's batches are dropped again. Throws
  /// std::invalid_argument when `i` is out of range or was added before.
  void add_replicas(std::size_t i, std::vector<transport::ReplicaScan>& batch);
  /// Folds in the result of node `i` (topology order). Throws std::invalid_argument when `i` is
  /// out of range or was added before.
  void add(std::size_t i, NodeScanResult&& result);
  /// The inventory, once every node was added (else std::invalid_argument). Throws
  /// TopologyError as build_inventory does. Call once.
  Inventory finish();

private:
  /// A replica whose key is not a chunk of a declared database, from a batch: its problem is
  /// told in the scan's order (volume, then key) once the node's volumes are known.
  struct Stray {
    std::string volume;
    std::string key;
  };
  void check_node(std::size_t i, const char* what) const;
  /// Folds `rs` into its chunk (added when new). False when its key is not a chunk of a
  /// declared database.
  bool fold(std::size_t node, transport::ReplicaScan& rs);
  /// Node `i`'s replicas folded from batches, taken out again (the node turned unreachable).
  void drop_replicas(std::size_t i);
  /// The index of the chunk keyed `key`, or k_none.
  std::uint32_t find(std::string_view key) const;
  void index_insert(std::uint32_t c);

  static constexpr std::uint32_t k_none = 0xffffffffu;
  const Topology& m_topo;
  InventoryOptions m_opts;
  Inventory m_inv;  ///< nodes and counts; chunks are in m_chunks until finish()
  /// Chunks in arrival order, handed to the inventory as they are (sorted in place) by finish().
  /// A vector, not a deque: the deque's blocks and the inventory's vector then existed together
  /// at the peak, the whole chunk table twice; a vector's doubling holds its old array and the
  /// moved half of the new one only for a moment, while the scan is still short of its end.
  std::vector<Chunk> m_chunks;
  /// Open-addressed index of m_chunks by key (k_none: empty slot); a power of two, ≤ half full.
  std::vector<std::uint32_t> m_slots;
  std::vector<bool> m_added;
  std::vector<bool> m_batched;  ///< per node: replicas came in batches
  std::vector<std::vector<Stray>> m_strays;  ///< per node, from batches
  std::vector<std::vector<std::pair<std::string, std::string>>> m_problems;  ///< per node
  std::vector<std::vector<std::pair<std::string, transport::UnmanagedScan>>> m_unmanaged;
  std::vector<std::vector<std::pair<std::string, transport::LeftoverScan>>> m_leftovers;
};

/// Scans every node of `nodes` in parallel (one thread per node) and builds the inventory.
/// A node whose scan throws is reported unreachable with the message; excluded nodes are
/// reported unreachable with error "excluded". Throws UsageError when `opts.exclude_nodes`
/// names a node the topology does not have. Reports a phase and per-node progress to `events`.
Inventory take_inventory(const Topology& topo,
                         NodeSet& nodes,
                         const InventoryOptions& opts,
                         Events& events);

} // namespace clsync::core
