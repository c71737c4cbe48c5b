// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/prune.hpp"

#include "core/exceptions.hpp"
#include "core/json_names.hpp"
#include "core/repo/repo_lock.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>

namespace clsync::core::repo {
namespace {

std::string bucket(std::int64_t t, const char* format)
{
  const auto tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

void keep_by(const std::vector<DatedSnapshot>& newest_first, int n, const char* format,
             std::set<std::string>& kept)
{
  std::string last;
  int count = 0;
  for (const auto& s : newest_first) {
    if (count >= n) {
      return;
    }
    std::string b = format ? bucket(s.created, format) : s.id;
    if (b != last) {
      kept.insert(s.id);
      last = std::move(b);
      ++count;
    }
  }
}

bool name_ends_with(const std::string& s, const std::string& tail)
{
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

/// The leftovers of interrupted transfers older than the grace period: a push's partial
/// objects (objects/<aa>/<hash>.tar.zst.partial) and a killed backup's tmp/backup-* files.
std::vector<std::pair<std::string, std::uint64_t>> stale_partials(const Repository& repo,
                                                                  std::int64_t older_than_s)
{
  const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  const std::int64_t limit_ns = now_ns - older_than_s * 1'000'000'000;
  std::vector<std::pair<std::string, std::uint64_t>> out;
  auto& node = repo.node();
  for (const auto& dir : node.list_dir(repo.root(), "objects")) {
    if (!dir.is_dir || dir.name.size() != 2) {
      continue;
    }
    for (const auto& f : node.list_dir(repo.root(), "objects/" + dir.name)) {
      if (!f.is_dir && name_ends_with(f.name, ".tar.zst.partial") && f.mtime_ns < limit_ns) {
        out.emplace_back("objects/" + dir.name + "/" + f.name, f.size);
      }
    }
  }
  for (const auto& f : node.list_dir(repo.root(), "tmp")) {
    if (!f.is_dir && f.name.rfind("backup-", 0) == 0 && f.mtime_ns < limit_ns) {
      out.emplace_back("tmp/" + f.name, f.size);
    }
  }
  return out;
}

} // namespace

std::set<std::string> apply_policy(std::vector<DatedSnapshot> group, const KeepPolicy& keep)
{
  std::sort(group.begin(), group.end(), [](const DatedSnapshot& a, const DatedSnapshot& b) {
    return a.created != b.created ? a.created > b.created : a.id > b.id;
  });
  std::set<std::string> kept;
  keep_by(group, keep.last, nullptr, kept);
  keep_by(group, keep.daily, "%Y-%m-%d", kept);
  keep_by(group, keep.weekly, "%G-W%V", kept);
  keep_by(group, keep.monthly, "%Y-%m", kept);
  return kept;
}

/// Removes stale_partials() under the repository lock: push and backup hold it while they
/// write, so no partial of a running transfer is taken, whatever its age.
static void remove_partials(const Repository& repo, const PruneOptions& opts, RepoLock* lock,
                            PruneResult& res, Events& events)
{
  events.phase("removing stale partial objects");
  for (const auto& [path, size] : stale_partials(repo, opts.keep_partial_for_s)) {
    if (!opts.dry_run) {
      if (lock->lost()) {
        throw Error(ExitCode::failed, "lost the lock of repository " +
                                          lossy_utf8(res.repository) + ": prune stopped");
      }
      try {
        repo.node().remove_file(repo.root(), path);
      } catch (const std::exception& e) {
        res.errors.push_back(path + ": " + e.what());
        continue;
      }
    }
    res.partials_removed.push_back(path);
    res.partial_bytes_freed += size;
  }
}

PruneResult prune(const Repository& repo, const PruneOptions& opts, Events& events)
{
  if (opts.keep.empty()) {
    throw UsageError("prune needs a policy: --keep-last, --keep-daily, --keep-weekly or "
                     "--keep-monthly with a count above 0",
                     "e.g. 'clsync prune REPO --keep-daily 7 --keep-weekly 4'");
  }
  PruneResult res;
  res.repository = repo.location().text;
  res.dry_run = opts.dry_run;
  std::unique_ptr<RepoLock> lock;
  if (!opts.dry_run) {
    lock = std::make_unique<RepoLock>(repo, "prune", events);
  }

  events.phase("reading snapshots");
  // Per group: the snapshots (id, time) and what each names.
  std::map<std::string, PruneGroup> groups;
  std::map<std::string, std::vector<DatedSnapshot>> dated;
  std::map<std::string, std::set<std::string>> names;  // snapshot id → objects
  for (const auto& id : repo.list_snapshots()) {
    Snapshot s;
    try {
      s = repo.read_snapshot(id);
    } catch (const Error& e) {
      res.unreadable.push_back(id + ": " + e.what());
      events.warning(std::string(e.what()) + "; kept, and no object is removed while it exists");
      continue;
    }
    const std::string g = s.group();
    auto& pg = groups[g];
    pg.group = g;
    pg.cluster = s.cluster;
    pg.tag = s.tag;
    dated[g].push_back({s.id, parse_rfc3339_utc(s.created).value_or(0)});
    auto& objs = names[s.id];
    for (const auto& c : s.chunks) {
      objs.insert(c.object);
    }
  }

  std::set<std::string> referenced;
  std::vector<std::string> to_remove;
  for (auto& [g, pg] : groups) {
    const auto kept = apply_policy(dated[g], opts.keep);
    auto snaps = dated[g];
    std::sort(snaps.begin(), snaps.end(), [](const DatedSnapshot& a, const DatedSnapshot& b) {
      return a.created != b.created ? a.created < b.created : a.id < b.id;
    });
    for (const auto& s : snaps) {
      if (kept.count(s.id) != 0) {
        pg.kept.push_back(s.id);
        referenced.insert(names[s.id].begin(), names[s.id].end());
      } else {
        pg.removed.push_back(s.id);
        to_remove.push_back(s.id);
      }
    }
    res.snapshots_kept += pg.kept.size();
    res.snapshots_removed += pg.removed.size();
    res.groups.push_back(pg);
  }
  res.snapshots_kept += res.unreadable.size();

  // Snapshots go first: a crash after this point leaves unreferenced objects (swept by the
  // next prune), never a snapshot whose objects are gone.
  std::set<std::string> failed_snapshots;
  if (!opts.dry_run) {
    events.phase("removing snapshots");
    for (const auto& id : to_remove) {
      if (lock->lost()) {
        throw Error(ExitCode::failed, "lost the lock of repository " +
                                          lossy_utf8(res.repository) + ": prune stopped");
      }
      try {
        repo.remove_snapshot(id);
      } catch (const std::exception& e) {
        res.errors.push_back(repo.describe_snapshot(id) + ": " + e.what());
        failed_snapshots.insert(id);
      }
    }
  }
  // A snapshot that could not be removed still names its objects.
  for (const auto& id : failed_snapshots) {
    referenced.insert(names[id].begin(), names[id].end());
  }

  const auto objects = repo.list_objects();
  res.objects_swept = res.unreadable.empty();
  if (!res.objects_swept) {
    res.objects_kept = objects.size();
  } else {
    events.phase("removing unreferenced objects");
    std::set<std::string> dirs;
    for (const auto& [hash, size] : objects) {
      if (referenced.count(hash) != 0) {
        ++res.objects_kept;
        continue;
      }
      if (!opts.dry_run) {
        if (lock->lost()) {
          throw Error(ExitCode::failed, "lost the lock of repository " +
                                            lossy_utf8(res.repository) + ": prune stopped");
        }
        try {
          repo.remove_object(hash);
          dirs.insert(hash.substr(0, 2));
        } catch (const std::exception& e) {
          res.errors.push_back("object " + hash + ": " + e.what());
          ++res.objects_kept;
          continue;
        }
      }
      ++res.objects_removed;
      res.bytes_freed += size;
    }
    for (const auto& d : dirs) {
      const std::string rel = "objects/" + d;
      if (repo.node().list_dir(repo.root(), rel).empty()) {
        try {
          repo.node().remove_file(repo.root(), rel);
        } catch (const std::exception&) {
          // an empty directory left behind costs nothing
        }
      }
    }
  }
  remove_partials(repo, opts, lock.get(), res, events);
  if (!res.unreadable.empty() || !res.errors.empty()) {
    res.exit_code = ExitCode::partial;
  }
  return res;
}

} // namespace clsync::core::repo
