// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

/// Plain option structs, one per command, filled by cli/ and read by core/. No CLI11 types.
namespace clsync::core {

/// SPEC §4 filters, shared by status, backup, restore, sync-online, move-replicas.
struct FilterOptions {
  std::vector<std::string> dbs;
  std::vector<std::string> tables;
  std::vector<std::string> partitions;  ///< globs over the partition path, ORed
  std::vector<std::string> where;       ///< "LEVEL OP VALUE", ANDed
  std::vector<std::string> chunks;      ///< exact keys, ORed
  std::vector<std::string> columns;     ///< backup / sync-online: file names without extension
  bool utc = false;                     ///< today/yesterday in UTC instead of local time
};

/// Options of every command that writes to nodes (SPEC §5, §8).
struct WriteOptions {
  bool dry_run = false;
  int concurrency = 0;  ///< 0: 2 × nodes (at least 8 with a local node and per_node 0)
  int per_node = 0;     ///< concurrent transfers touching one node; 0: 2, or 8 for a local node
  std::uint64_t bwlimit = 0;           ///< bytes/s over the run, 0 = none
  std::uint64_t bwlimit_per_node = 0;  ///< bytes/s per node, 0 = none
  std::uint64_t max_bytes = 0;         ///< stop scheduling after this many bytes, 0 = none
  std::string until;                   ///< "HH:MM" or RFC 3339: no new task after it
  double headroom = 0.05;              ///< free space kept on destinations
  bool allow_degraded = false;
  std::vector<std::string> exclude_nodes;
  int lease_ttl_s = 600;
  bool break_lock = false;
  std::string pre_hook, post_hook, on_move;
  int hook_timeout_s = 600;  ///< a hook still running after this is killed (its process group)
  int retries = 3;
  bool compress = false;
  std::uint64_t max_memory = 256ull << 20;
  /// A node-to-node task that cannot go `transfer: direct` fails instead of being relayed
  /// (--direct-only).
  bool direct_only = false;
};

struct StatusOptions {
  FilterOptions filter;
  std::string by;       ///< "", "db", "table", "volume"
  bool chunks = false;  ///< one row per chunk
  bool verify = false;  ///< content hashes
  bool check = false;   ///< exit 5 when unhealthy
  bool tasks = false;   ///< the task journal
  std::vector<std::string> exclude_nodes;
};

struct PlanOptions {
  std::string by = "bytes";  ///< "bytes" | "count"
  std::optional<double> threshold;  ///< bytes or replicas; default one average chunk
  std::string min_age;              ///< duration: leave younger chunks alone
  std::string plan_out;             ///< save the plan here
  std::string plan_in;              ///< run this saved plan
};

struct RebalanceNodesOptions {
  WriteOptions write;
  PlanOptions plan;
  FilterOptions filter;
};

struct RebalanceDisksOptions {
  WriteOptions write;
  PlanOptions plan;
  std::vector<std::string> nodes;
  bool all_nodes = false;
};

struct MoveReplicasOptions {
  WriteOptions write;
  PlanOptions plan;  ///< --by, --plan-out, --plan (a drain has no threshold nor minimum age)
  FilterOptions filter;
  std::string from_node, to_node;
  std::string node, from_volume, to_volume;
};

struct RepairOptions {
  WriteOptions write;
  PlanOptions plan;  ///< --by, --plan-out, --plan (a repair has no threshold nor minimum age)
  FilterOptions filter;
  bool fix_duplicates = false;
};

struct DemoOptions {
  std::string dir;
  std::uint64_t chunk_size = 16 * 1024;  ///< bytes per chunk (200 chunks x 2 replicas: 6.25 MiB)
  double skew = 0.0;                     ///< 0: equal sizes; 0.5: sizes vary ±50%
  bool force = false;
  unsigned seed = 1;
  /// Declare an empty second volume (ssd1) on P1-dn1 and P2-dn1: the seed's disk scenario.
  bool new_disks = false;
};

} // namespace clsync::core
