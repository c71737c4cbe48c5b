// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/snapshots.hpp"

#include <map>

namespace clsync::core::repo {

SnapshotsResult list_snapshots(const Repository& repo, const SnapshotsOptions& opts,
                               std::int64_t now)
{
  SnapshotsResult res;
  res.repository = repo.location().text;
  std::map<std::string, std::size_t> newest;  // group → index in res.snapshots
  std::map<std::string, std::int64_t> newest_time;
  std::map<std::string, std::uint64_t> counts;
  bool unreadable = false;
  for (const auto& id : repo.list_snapshots()) {
    SnapshotRow row;
    row.id = id;
    try {
      const Snapshot s = repo.read_snapshot(id);
      row.created = s.created;
      row.cluster = s.cluster;
      row.host = s.host;
      row.tag = s.tag;
      row.group = s.group();
      row.chunks = s.chunks.size();
      for (const auto& c : s.chunks) {
        row.bytes += c.bytes();
        row.object_bytes += c.object_size;
      }
      const std::int64_t t = parse_rfc3339_utc(s.created).value_or(0);
      auto it = newest_time.find(row.group);
      if (it == newest_time.end() || t >= it->second) {
        newest_time[row.group] = t;
        newest[row.group] = res.snapshots.size();
      }
      ++counts[row.group];
    } catch (const Error& e) {
      row.error = e.what();
      unreadable = true;
    }
    res.snapshots.push_back(std::move(row));
  }
  bool too_old = false;
  for (const auto& [group, index] : newest) {
    SnapshotRow& row = res.snapshots[index];
    row.latest = true;
    SnapshotGroupRow g;
    g.group = group;
    g.cluster = row.cluster;
    g.tag = row.tag;
    g.snapshots = counts[group];
    g.latest = row.id;
    g.latest_created = row.created;
    g.age_seconds = now - newest_time[group];
    if (opts.check_age && g.age_seconds > opts.check_age->count()) {
      g.too_old = true;
      too_old = true;
    }
    res.groups.push_back(std::move(g));
  }
  if (opts.check_age && (too_old || res.groups.empty())) {
    res.exit_code = ExitCode::unhealthy;
  } else if (unreadable) {
    res.exit_code = ExitCode::partial;
  }
  return res;
}

} // namespace clsync::core::repo
