// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/push.hpp"

#include "core/fault.hpp"
#include "core/repo/push_send.hpp"
#include "core/repo/repo_lock.hpp"
#include "core/run/transfer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace clsync::core::repo {

namespace {

using transport::DirEntry;
using detail::ObjectJob;

constexpr const char* k_tar_zst = ".tar.zst";
constexpr const char* k_partial = ".partial";

bool ends_with(const std::string& s, const std::string& suffix)
{
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_hex(const std::string& s)
{
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

/// What one side holds, from one listing of `objects/` and one of `snapshots/`.
struct Listing {
  std::map<std::string, std::uint64_t> objects;   ///< content hash → size (complete objects)
  std::map<std::string, std::uint64_t> partials;  ///< content hash → size of its .partial
  std::map<std::string, std::uint64_t> snapshots; ///< id → size of the JSON
};

/// "<aa>/<hash>.tar.zst[.partial]" → hash; "" for anything else (stray files are no objects).
std::string object_of(const std::string& name, bool& partial)
{
  std::string rest = name;
  partial = ends_with(rest, k_partial);
  if (partial) {
    rest.resize(rest.size() - std::string(k_partial).size());
  }
  if (!ends_with(rest, k_tar_zst) || rest.size() < 4 || rest[2] != '/') {
    return "";
  }
  std::string hash = rest.substr(3, rest.size() - 3 - std::string(k_tar_zst).size());
  if (hash.size() < 16 || !is_hex(hash) || hash.compare(0, 2, rest, 0, 2) != 0) {
    return "";
  }
  return hash;
}

Listing list_repository(const Repository& repo)
{
  Listing l;
  for (const auto& e : repo.node().list_tree(repo.root(), "objects")) {
    bool partial = false;
    auto hash = object_of(e.name, partial);
    if (!hash.empty()) {
      (partial ? l.partials : l.objects)[hash] = e.size;
    }
  }
  for (const auto& e : repo.node().list_dir(repo.root(), "snapshots")) {
    if (!e.is_dir && ends_with(e.name, ".json") && e.name.size() > 5 && e.name[0] != '.') {
      l.snapshots[e.name.substr(0, e.name.size() - 5)] = e.size;
    }
  }
  return l;
}

std::string snapshot_path(const std::string& id)
{
  return "snapshots/" + id + ".json";
}

struct Collect final : transport::ByteSink {
  std::string data;
  std::uint64_t limit = k_max_snapshot_bytes;
  std::string what;
  void write(std::span<const char> d) override
  {
    if (data.size() + d.size() > limit) {
      throw Error(ExitCode::failed, what + " is larger than " + std::to_string(limit) + " bytes");
    }
    data.append(d.data(), d.size());
  }
};

/// One snapshot of SRC as read: its bytes (copied as they are) and what it names.
struct SourceSnapshot {
  std::string id;
  std::string text;
  std::map<std::string, std::pair<std::string, std::uint64_t>> objects;  ///< hash → sha, size
};

SourceSnapshot read_source_snapshot(const Repository& src, const std::string& id, std::uint64_t size)
{
  SourceSnapshot s;
  s.id = id;
  const std::string what = "snapshot " + id + " in " + src.location().text;
  if (size > k_max_snapshot_bytes) {
    throw Error(ExitCode::failed, what + " is larger than " +
                                      std::to_string(k_max_snapshot_bytes) + " bytes");
  }
  Collect c;
  c.what = what;
  src.node().read_file(src.root(), snapshot_path(id), 0, c);
  s.text = std::move(c.data);
  Snapshot snap = snapshot_from_json(s.text, what);
  if (snap.id != id) {
    throw Error(ExitCode::failed, what + " holds the id '" + snap.id + "'");
  }
  for (const auto& ch : snap.chunks) {
    s.objects[ch.object] = {ch.object_sha256, ch.object_size};
  }
  return s;
}


/// Lists SRC and DEST (when it exists) at once: each is one round trip per directory kind.
void list_both(const Repository& src, const Repository* dest, Listing& s, Listing& d)
{
  std::exception_ptr dest_failure;
  std::thread list_dest([&] {
    try {
      if (dest != nullptr) {
        d = list_repository(*dest);
      }
    } catch (...) {
      dest_failure = std::current_exception();
    }
  });
  try {
    s = list_repository(src);
  } catch (...) {
    list_dest.join();
    throw;
  }
  list_dest.join();
  if (dest_failure) {
    std::rethrow_exception(dest_failure);
  }
}

/// The plan of a push, from the two listings and the snapshots of SRC it had to read.
struct PushPlan {
  std::vector<SourceSnapshot> new_snapshots;  ///< not at DEST, id order
  std::vector<ObjectJob> objects;             ///< missing at DEST, hash order
  std::uint64_t bytes = 0;                    ///< of the objects (whole sizes)
};

/// SRC's snapshots read so far (a plan made again under the lock reads none twice).
using SnapshotCache = std::map<std::string, SourceSnapshot>;

const SourceSnapshot& cached_snapshot(SnapshotCache& cache, const Repository& src,
                                      const std::string& id, std::uint64_t size)
{
  auto it = cache.find(id);
  if (it == cache.end()) {
    it = cache.emplace(id, read_source_snapshot(src, id, size)).first;
  }
  return it->second;
}

PushPlan make_push_plan(const Repository& src, const Listing& s, const Listing& d,
                        SnapshotCache& cache, PushResult& result)
{
  PushPlan plan;
  std::map<std::string, std::pair<std::string, std::uint64_t>> named;  // hash → sha, size
  for (const auto& [id, size] : s.snapshots) {
    if (d.snapshots.contains(id)) {
      ++result.snapshots_skipped;
      continue;
    }
    plan.new_snapshots.push_back(cached_snapshot(cache, src, id, size));
    for (const auto& [hash, v] : plan.new_snapshots.back().objects) {
      named.emplace(hash, v);
    }
  }
  std::vector<std::string> missing;
  for (const auto& [hash, size] : s.objects) {
    if (d.objects.contains(hash)) {
      ++result.objects_skipped;
    } else {
      missing.push_back(hash);
    }
  }
  // Objects only older snapshots (already at DEST) name: read those too, to learn their hashes.
  if (std::any_of(missing.begin(), missing.end(), [&](const auto& h) { return !named.contains(h); })) {
    for (const auto& [id, size] : s.snapshots) {
      if (d.snapshots.contains(id)) {
        for (const auto& [hash, v] : cached_snapshot(cache, src, id, size).objects) {
          named.emplace(hash, v);
        }
      }
    }
  }
  for (const auto& hash : missing) {
    auto it = named.find(hash);
    if (it == named.end()) {
      result.unreferenced.push_back(hash);
      continue;
    }
    plan.objects.push_back({hash, it->second.first, s.objects.at(hash)});
    plan.bytes += s.objects.at(hash);
  }
  return plan;
}

} // namespace

bool PushResult::nothing_to_push() const
{
  return objects_sent == 0 && snapshots_sent == 0 && errors.empty() && would_send.empty() &&
         resumed == 0;
}

PushResult push(Context& ctx, const PushOptions& o)
{
  const auto started = std::chrono::steady_clock::now();
  PushResult result;
  result.source = o.source;
  result.destination = o.destination;
  const RepoLocation src_where = parse_repo_location(o.source);
  const RepoLocation dest_where = parse_repo_location(o.destination);
  if (!src_where.remote && !dest_where.remote && src_where.path == dest_where.path) {
    throw UsageError("push: SRC and DEST are the same repository (" + src_where.path + ")");
  }
  ctx.events->phase("opening " + o.source);
  Repository src = Repository::open(src_where, o.connect, false);
  ctx.events->phase("opening " + o.destination);
  std::optional<Repository> dest_repo;
  try {
    dest_repo = Repository::open(dest_where, o.dest_connect, !o.dry_run);
  } catch (const Error& e) {
    if (!o.dry_run) {
      throw;
    }
    // A dry run creates nothing: a DEST that cannot be opened counts as empty.
    ctx.events->warning(std::string(e.what()) + " (a push would create it)");
  }

  ctx.events->phase("listing " + o.source + " and " + o.destination);
  Listing s;
  Listing d;
  list_both(src, dest_repo ? &*dest_repo : nullptr, s, d);
  SnapshotCache cache;
  PushPlan plan = make_push_plan(src, s, d, cache, result);

  // Prune must not sweep the objects this push writes before its snapshots name them. A push
  // with nothing to send takes no lock and so writes nothing at DEST; one with work lists DEST
  // again under the lock, since a prune that ended after the first listing may have removed
  // objects it showed (a snapshot must never name a missing object). A lease found at DEST is
  // met as before even with nothing to send: a killed run's is taken over and removed, a live
  // one's refused (exit 4).
  std::optional<RepoLock> lock;
  const bool work = !plan.objects.empty() || !plan.new_snapshots.empty();
  if (!o.dry_run && (work || dest_repo->lease_seen())) {
    lock.emplace(*dest_repo, "push", *ctx.events);
    d = list_repository(*dest_repo);
    result.snapshots_skipped = result.objects_skipped = 0;
    result.unreferenced.clear();
    plan = make_push_plan(src, s, d, cache, result);
  }
  for (const auto& hash : result.unreferenced) {
    ctx.events->warning("object " + hash + " of " + o.source +
                        " is named by no snapshot: not sent (prune removes such objects)");
  }
  std::set<std::string> at_dest;
  for (const auto& [hash, size] : d.objects) {
    at_dest.insert(hash);
  }
  if (o.dry_run) {
    for (const auto& j : plan.objects) {
      result.would_send.push_back(Repository::object_path(j.hash));
      at_dest.insert(j.hash);
      result.bytes += j.size - std::min(j.size, d.partials.contains(j.hash) ? d.partials.at(j.hash) : 0);
    }
  } else if (!plan.objects.empty()) {
    ctx.events->phase("sending " + std::to_string(plan.objects.size()) + " objects");
    for (const auto& h :
         detail::send_objects(ctx, src, *dest_repo, o, result, plan.objects, plan.bytes)) {
      at_dest.insert(h);
    }
    if (ctx.stopping()) {
      throw Interrupted("push interrupted: " + std::to_string(result.objects_sent) +
                        " objects sent, partials kept for the next push");
    }
  }

  if (lock && lock->lost()) {
    throw Error(ExitCode::lock_held, "push: the lock of " + o.destination +
                                         " was taken over during the push; no snapshot was sent");
  }
  // Snapshots last, each only when every object it names is at DEST.
  for (const auto& snap : plan.new_snapshots) {
    std::string lacking;
    for (const auto& [hash, v] : snap.objects) {
      if (!at_dest.contains(hash)) {
        lacking = hash;
        break;
      }
    }
    if (!lacking.empty()) {
      const bool at_src = s.objects.contains(lacking);
      result.errors.push_back("snapshot " + snap.id + ": not sent: object " + lacking +
                              (at_src ? " did not arrive at DEST " + o.destination
                                      : " is missing at SRC " + o.source));
      continue;
    }
    if (o.dry_run) {
      result.would_send.push_back(snapshot_path(snap.id));
      continue;
    }
    try {
      fault_point("push_before_snapshot");
      auto w = dest_repo->node().create_file(dest_repo->root(), snapshot_path(snap.id),
                                             transport::FileDurability::durable);
      w->write(std::span<const char>(snap.text.data(), snap.text.size()));
      w->commit();
      fault_point("push_snapshot_sent");
      ++result.snapshots_sent;
      result.bytes += snap.text.size();
    } catch (const std::exception& e) {
      result.errors.push_back("snapshot " + snap.id + ": at DEST " + o.destination + ": " +
                              e.what());
    }
  }
  result.code = result.errors.empty() ? ExitCode::ok : ExitCode::partial;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

} // namespace clsync::core::repo
