// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/options.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

/// `clsync demo`: local clusters that replay the seed scenario (SPEC §9, issue 2 item 6).
namespace clsync::core {

class Events;

/// One cluster the demo wrote.
struct DemoCluster {
  std::string name; ///< "demo-a"
  std::string file; ///< absolute path of its topology file
  int nodes = 0;
  std::uint64_t chunks = 0;   ///< distinct chunks
  std::uint64_t replicas = 0; ///< chunk copies over all nodes
  std::uint64_t bytes = 0;    ///< bytes of all replicas
};

struct DemoResult {
  std::string dir; ///< absolute
  std::vector<DemoCluster> clusters;
  std::vector<std::string> next; ///< commands to try next, ready to paste
};

/// The seed's 29 columns of the Snapshot table, in schema order; each chunk holds
/// `<Column>.col` for every one of them.
const std::vector<std::string>& demo_columns();

/// The demo's chunk keys in order: `<db>/<YYYYMMDD>/<hash>/Snapshot` for Level1 and Level1_TSDB,
/// 2020.06.01 to 2020.06.10, hash 0 to 9 (200 keys).
std::vector<std::string> demo_chunk_keys();

/// The size in bytes of the chunk `key` (`chunk_size`, or varied within ±skew).
std::uint64_t demo_chunk_size(const DemoOptions& opts, const std::string& key);

/// Builds the demo in `opts.dir`: cluster-a.yaml (demo-a: P1-dn1, P2-dn1, P3-dn1, replication 2,
/// 200 chunks with one replica on each of P1-dn1 and P2-dn1, byte-identical with equal mtimes)
/// and cluster-b.yaml (demo-b: B1, B2, B3, empty volumes). Content is pseudo-random from
/// `opts.seed`, the chunk key and the column, written in blocks. Creates `dir` if needed.
/// Throws UsageError when `dir` is not empty and `opts.force` is false, when it holds anything
/// but a previous demo's files (which --force removes), or for a bad skew; std::system_error
/// for I/O failures. Reports progress (bytes of replicas written) to `events` when given. When
/// `*stop` becomes true, starts no further chunk and throws Interrupted (the demo is partial;
/// rerun with --force).
DemoResult build_demo(const DemoOptions& opts,
                      Events* events = nullptr,
                      const std::atomic<bool>* stop = nullptr);

} // namespace clsync::core
