// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/backup_select.hpp"

#include <algorithm>
#include <map>

namespace clsync::core::repo {
namespace {

/// The replicas a backup may read: one per node (duplicates are never sources), on nodes the
/// inventory reached.
std::vector<const Replica*> readable(const Chunk& c, const Inventory& inv)
{
  std::vector<const Replica*> out;
  for (const auto& r : c.replicas) {
    const NodeState* n = inv.node(r.node);
    if (!r.duplicate && n && n->reachable && !n->excluded) {
      out.push_back(&r);
    }
  }
  return out;
}

std::string node_list(const Chunk& c)
{
  std::string s;
  for (const auto& r : c.replicas) {
    s += (s.empty() ? "" : ", ") + r.node + ":" + r.volume;
  }
  return s;
}

bool is_divergent(const Chunk& c)
{
  return std::find(c.issues.begin(), c.issues.end(), ChunkHealth::divergent) != c.issues.end();
}

} // namespace

void fill_identity(SnapshotChunk& out, const Chunk& c)
{
  out.key = c.key;
  out.db = c.db;
  out.table = c.table;
  out.partition.clear();
  for (const auto& [level, value] : c.partition()) {
    out.partition.emplace_back(value);
  }
}

SnapshotChunk record_for(const Chunk& c, const Replica& r, const SnapshotChunk& record)
{
  SnapshotChunk out = record;
  fill_identity(out, c);
  if (!r.file_list.empty()) {
    std::map<std::string_view, const transport::FileEntry*> by_path;
    for (const auto& f : r.file_list) {
      by_path.emplace(f.path, &f);
    }
    for (auto& f : out.manifest.files) {
      auto it = by_path.find(f.entry.path);
      if (it != by_path.end()) {
        f.entry.mtime_ns = it->second->mtime_ns;
        f.entry.mode = it->second->mode;
        f.entry.uid = it->second->uid;
        f.entry.gid = it->second->gid;
      }
    }
  }
  return out;
}

std::vector<BackupItem> select_backup(const std::vector<const Chunk*>& chunks,
                                      const Inventory& inv,
                                      const SelectParams& params,
                                      const CacheLookup& cache,
                                      const RecordLookup& records)
{
  std::vector<BackupItem> items;
  items.reserve(chunks.size());
  for (const Chunk* c : chunks) {
    BackupItem item;
    item.chunk = c;
    std::vector<const Replica*> from = readable(*c, inv);
    if (c->has_special()) {
      item.action = BackupItem::Action::skip;
      item.reason = "holds symlinks, devices, FIFOs or sockets (" + node_list(*c) +
                    "): never backed up, as never moved";
      items.push_back(std::move(item));
      continue;
    }
    if (is_divergent(*c)) {
      std::erase_if(from, [&](const Replica* r) { return r->node != params.prefer_node; });
      if (from.empty()) {
        item.action = BackupItem::Action::skip;
        item.reason = "divergent: its replicas differ (" + node_list(*c) +
                      "); pass --prefer-node NODE to back up that node's replica";
        items.push_back(std::move(item));
        continue;
      }
    }
    if (from.empty()) {
      item.action = BackupItem::Action::skip;
      item.reason = "no replica on a reachable node (" + node_list(*c) + ")";
      items.push_back(std::move(item));
      continue;
    }
    // Incremental: a replica whose fingerprint the cache knows was packed as it is now; when its
    // object and record are in the repository the chunk is not even read.
    for (const Replica* r : from) {
      if (r->fingerprint.empty()) {
        continue;
      }
      auto hash = cache(r->node, r->volume, c->key, r->fingerprint);
      if (!hash) {
        continue;
      }
      auto rec = records(*hash);
      if (!rec) {
        continue;
      }
      item.action = BackupItem::Action::reuse;
      item.cached = r;
      item.record = record_for(*c, *r, *rec);
      break;
    }
    if (item.action != BackupItem::Action::reuse) {
      item.candidates = std::move(from);
    }
    items.push_back(std::move(item));
  }
  return items;
}

} // namespace clsync::core::repo
