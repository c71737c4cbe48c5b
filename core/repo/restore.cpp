// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/restore.hpp"

#include "core/cluster/filter.hpp"
#include "core/cluster/inventory.hpp"
#include "core/error.hpp"
#include "core/plan/plan_check.hpp"
#include "core/repo/placement.hpp"
#include "core/run/fan_out.hpp"
#include "core/run/fan_out_task.hpp"
#include "core/units.hpp"
#include "transport/digest.hpp"
#include "transport/errors.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

namespace clsync::core::repo {
namespace {


/// Restore's fan-out source: the snapshot's object, read once from the repository and unpacked
/// on every destination (compressed bytes cross the network; each agent checks the manifest).
class RestoreSource : public FanOutSource {
public:
  RestoreSource(const Repository& repo, const Snapshot& snap) : m_repo(repo), m_snap(snap)
  {
    for (const auto& c : snap.chunks) {
      m_by_key[c.key] = &c;
    }
  }

  std::unique_ptr<transport::ObjectWriter> open(transport::Node& dst,
                                                const std::string& volume,
                                                const std::string& task,
                                                const Move& m) override
  {
    const SnapshotChunk& sc = of(m);
    return named(sc, [&] { return dst.unpack_chunk(volume, task, sc.manifest); });
  }

  void read(const Move& m, transport::ByteSink& out) override
  {
    const SnapshotChunk& sc = of(m);
    named(sc, [&] {
      m_repo.node().read_file(m_repo.root(), Repository::object_path(sc.object), 0, out);
      return 0;
    });
  }

  transport::ChunkDigest finish(transport::ObjectWriter& w, const Move& m) override
  {
    const SnapshotChunk& sc = of(m);
    return named(sc, [&] { return w.finish(sc.object_sha256); });
  }

  std::string content_hash(const Move& m) const override { return of(m).object; }

  std::uint64_t read_size(const Move& m) const override { return of(m).object_size; }

private:
  const SnapshotChunk& of(const Move& m) const
  {
    auto it = m_by_key.find(m.chunk);
    if (it == m_by_key.end()) {
      throw std::runtime_error("chunk " + m.chunk + " is not in snapshot " + m_snap.id);
    }
    return *it->second;
  }

  /// Runs `f`, putting the snapshot and object in front of any error's message (the entry is
  /// named by the codec), keeping a transport error's kind so that retries still apply.
  template <typename F>
  auto named(const SnapshotChunk& sc, F&& f) -> decltype(f())
  {
    const std::string what = "snapshot " + m_snap.id + ", object " + sc.object + ": ";
    try {
      return f();
    } catch (const FanOutStopped&) {
      throw;  // a stop request, not an error of the object
    } catch (const transport::TransportError& e) {
      if (std::string(e.what()).find(sc.object) != std::string::npos) {
        throw;
      }
      throw transport::TransportError(e.kind(), what + e.what(), e.retryable());
    } catch (const std::exception& e) {
      if (std::string(e.what()).find(sc.object) != std::string::npos) {
        throw;
      }
      throw std::runtime_error(what + e.what());
    }
  }

  const Repository& m_repo;
  const Snapshot& m_snap;
  std::map<std::string, const SnapshotChunk*> m_by_key;
};

/// One selected chunk of the snapshot, with what is known before the cluster is looked at.
struct Selected {
  const SnapshotChunk* sc = nullptr;
  Chunk chunk;          ///< key parsed against the target topology (replication, db…)
  std::string problem;  ///< set: the chunk fails whatever the cluster holds
  std::string fingerprint;  ///< quick fingerprint a faithful restore of it has
};

std::vector<transport::FileEntry> entries_of(const SnapshotChunk& sc)
{
  std::vector<transport::FileEntry> out;
  out.reserve(sc.manifest.files.size());
  for (const auto& f : sc.manifest.files) {
    out.push_back(f.entry);
  }
  return out;
}

/// Decides one chunk against the live inventory (see restore()).
class ChunkDecider {
public:
  ChunkDecider(Context& ctx, const RestoreOptions& opts, Placement& placement)
      : m_ctx(ctx), m_opts(opts), m_place(placement)
  {
  }

  RestoreChunk decide(const Selected& s, const Inventory& inv, const std::string& snap_id)
  {
    RestoreChunk rc;
    rc.key = s.sc->key;
    rc.bytes = s.sc->bytes();
    if (!s.problem.empty()) {
      return fail(rc, s.problem);
    }
    std::vector<Place> differ;
    std::vector<std::string> holding;
    if (const Chunk* have = inv.chunk(rc.key)) {
      for (const auto& r : have->replicas) {
        if (r.duplicate) {
          continue;
        }
        const Place p{r.node, r.volume};
        holding.push_back(r.node);
        try {
          if (same_content(r, s)) {
            rc.kept.push_back(p);
          } else {
            differ.push_back(p);
          }
        } catch (const std::exception& e) {
          return fail(rc, "could not compare the replica on " + place_str(p) + ": " + e.what());
        }
      }
    }
    if (!differ.empty() && !m_opts.force) {
      std::string where;
      for (const auto& p : differ) {
        where += (where.empty() ? "" : ", ") + place_str(p);
      }
      return fail(rc, "chunk " + rc.key + " on " + where + " differs from snapshot " + snap_id +
                          "; left alone (--force replaces it)");
    }
    for (const auto& p : differ) {
      if (!m_place.reserve(p, rc.bytes)) {
        return fail(rc, "no room on " + place_str(p) + " for the new version of " + rc.key);
      }
      rc.targets.push_back({p, true});
    }
    const int have = static_cast<int>(rc.kept.size() + differ.size());
    const int need = std::max(1, s.chunk.replication) - have;
    if (need > 0) {
      auto places = m_place.choose(need, rc.bytes, holding);
      for (const auto& p : places) {
        rc.targets.push_back({p, false});
      }
      if (static_cast<int>(places.size()) < need) {
        rc.error = "only " + std::to_string(have + places.size()) + " of " +
                   std::to_string(s.chunk.replication) + " replicas of " + rc.key +
                   " fit: no further node has room (with headroom) or takes it";
      }
    }
    if (rc.targets.empty()) {
      rc.action = rc.error.empty() ? "keep" : "fail";
    } else {
      rc.action = differ.empty() ? "write" : "replace";
    }
    return rc;
  }

private:
  static RestoreChunk fail(RestoreChunk& rc, std::string why)
  {
    rc.action = "fail";
    rc.error = std::move(why);
    rc.targets.clear();
    return rc;
  }

  /// A replica carrying the fingerprint a faithful restore has is identical (rsync's quick
  /// check); any other is hashed on its node and compared with the snapshot's object.
  bool same_content(const Replica& r, const Selected& s)
  {
    if (!r.fingerprint.empty() && r.fingerprint == s.fingerprint) {
      return true;
    }
    if (!r.content_hash.empty()) {
      return r.content_hash == s.sc->object;
    }
    return m_ctx.nodes->get(r.node)->hash_chunk(r.volume, s.sc->key).content_hash ==
           s.sc->object;
  }

  Context& m_ctx;
  const RestoreOptions& m_opts;
  Placement& m_place;
};

/// Refuses a cluster degraded outside the chunks being restored (restore heals those).
void check_others_healthy(const Inventory& inv,
                          const std::set<std::string>& selected,
                          bool allow_degraded)
{
  if (allow_degraded) {
    return;
  }
  Inventory others = inv;
  std::erase_if(others.chunks, [&](const Chunk& c) { return selected.count(c.key) > 0; });
  check_not_degraded(others, false);
}

std::vector<Selected>
select_chunks(const Snapshot& snap, const Topology& topo, const RestoreOptions& opts,
              const std::set<std::string>& objects)
{
  ChunkFilter filter(opts.filter, topo);
  std::vector<Selected> out;
  for (const auto& sc : snap.chunks) {
    Selected s;
    s.sc = &sc;
    if (!parse_chunk_key(topo, sc.key, s.chunk)) {
      if (!filter.selects_all()) {
        continue;  // filters speak of the target's databases; this chunk is none of them
      }
      s.problem = "chunk " + sc.key + " of snapshot " + snap.id +
                  " belongs to no database of " + topo.file + " at that depth";
    } else if (!filter.matches(s.chunk)) {
      continue;
    } else if (!objects.count(sc.object)) {
      s.problem = "object " + sc.object + " of chunk " + sc.key + " (snapshot " + snap.id +
                  ") is missing from the repository";
    }
    s.fingerprint = transport::quick_fingerprint(entries_of(sc));
    out.push_back(std::move(s));
  }
  return out;
}

/// What the snapshot speaks of: the chunks its own filters select (compiled against the target
/// topology, `today` as on the day it was taken). A chunk outside them is absent from the
/// snapshot because the backup never looked at it, not because the source lacked it.
ChunkFilter snapshot_scope(const Snapshot& snap, const Topology& topo)
{
  FilterOptions f = snap.filters;
  f.columns.clear();
  const auto created = parse_rfc3339_utc(snap.created);
  const auto when = created ? std::chrono::system_clock::time_point(std::chrono::seconds(*created))
                            : std::chrono::system_clock::now();
  try {
    return ChunkFilter(f, topo, when);
  } catch (const std::exception& e) {
    throw Error(ExitCode::failed,
                "--delete: the filters of snapshot " + snap.id + " do not apply to " + topo.file +
                    " (" + e.what() + "); nothing was changed",
                "restore without --delete");
  }
}

/// --delete: the cluster's chunks that both the options and the snapshot's own filters select
/// and that the snapshot does not hold, one `remove` task per replica (trashed under its hold;
/// a replica that changed since this plan is kept, core/run/task_steps.cpp). The re-count does
/// not apply: the operator asked for every replica to go. Refuses (nothing changed) beyond
/// --max-delete, counted against the chunks selected.
void plan_deletes(const Inventory& inv,
                  const Topology& topo,
                  const RestoreOptions& opts,
                  const Snapshot& snap,
                  Plan& plan,
                  std::vector<RestoreChunk>& decisions)
{
  std::set<std::string> in_snapshot;
  for (const auto& c : snap.chunks) {
    in_snapshot.insert(c.key);
  }
  ChunkFilter filter(opts.filter, topo);
  const ChunkFilter scope = snapshot_scope(snap, topo);
  std::uint64_t selected = 0;
  std::vector<const Chunk*> gone;
  for (const auto& c : inv.chunks) {
    if (!filter.matches(c)) {
      continue;
    }
    ++selected;
    if (!in_snapshot.count(c.key) && scope.matches(c)) {
      gone.push_back(&c);
    }
  }
  const std::uint64_t limit = parse_count_or_percent(opts.max_delete, selected, "--max-delete");
  if (gone.size() > limit) {
    throw Error(ExitCode::failed,
                "--delete would remove " + std::to_string(gone.size()) + " of the " +
                    std::to_string(selected) + " selected chunks, more than --max-delete " +
                    opts.max_delete + " (" + std::to_string(limit) + "); nothing was changed",
                "check the filters and the snapshot, or raise --max-delete");
  }
  for (const Chunk* c : gone) {
    RestoreChunk rc;
    rc.key = c->key;
    rc.action = "delete";
    rc.bytes = c->bytes;
    for (const auto& r : c->replicas) {
      Move m;
      m.kind = MoveKind::remove;
      m.chunk = c->key;
      m.from = m.to = {r.node, r.volume};
      m.bytes = r.bytes;
      m.fingerprint = r.fingerprint;
      plan.moves.push_back(std::move(m));
      rc.targets.push_back({{r.node, r.volume}, false});
    }
    decisions.push_back(std::move(rc));
  }
}

/// The run's note on a chunk it planned nothing for (held out: a commit set of it waits), else
/// "not planned".
std::string why_not_planned(const RunResult& run, const std::string& key)
{
  for (const auto& n : run.notes) {
    if (n.chunk == key) {
      return n.reason;
    }
  }
  return "not planned";
}

void tally(RestoreResult& res)
{
  std::map<std::string, std::vector<const TaskResult*>> task_of;
  if (res.run.exec) {
    for (const auto& t : res.run.exec->tasks) {
      task_of[t.move.chunk].push_back(&t);
    }
  }
  std::set<std::string> planned;
  for (const auto& m : res.run.plan.moves) {
    planned.insert(m.chunk);
  }
  for (auto& rc : res.chunks) {
    if (rc.action == "delete") {
      bool all = true;
      for (const auto* t : task_of[rc.key]) {
        if (t->state != "finished") {
          all = false;
          rc.error = t->state == "failed" ? t->error : "not done: " + t->state;
        }
      }
      if (res.run.dry_run || (all && !task_of[rc.key].empty())) {
        ++res.deleted;
      } else if (!rc.error.empty() && rc.error.rfind("not done", 0) != 0) {
        ++res.failed;
      }
      continue;
    }
    if (rc.action == "fail") {
      ++res.failed;
      continue;
    }
    if (rc.action == "keep") {
      ++res.kept;
      continue;
    }
    std::uint64_t written = rc.targets.size();
    bool ok = rc.error.empty();
    if (res.run.dry_run && !planned.count(rc.key)) {
      rc.error = "not done: " + why_not_planned(res.run, rc.key);  // held out of the plan
      continue;
    }
    if (!res.run.dry_run) {
      auto it = task_of.find(rc.key);
      const TaskResult* t = it == task_of.end() || it->second.empty() ? nullptr : it->second[0];
      if (!t || t->state != "finished") {
        written = t ? static_cast<std::uint64_t>(t->targets_written) : 0;
        if (t && t->state == "failed") {
          rc.error = t->error;
          ok = false;
        } else {
          rc.error = "not done: " + (t ? t->state : why_not_planned(res.run, rc.key)) +
                     "; run again to finish";
          res.replicas_written += written;
          res.bytes += written * rc.bytes;
          continue;
        }
      }
    }
    res.replicas_written += written;
    res.bytes += written * rc.bytes;
    if (!ok) {
      ++res.failed;
    } else if (rc.action == "replace") {
      ++res.replaced;
    } else {
      ++res.restored;
    }
  }
}

} // namespace

std::string resolve_snapshot(const Repository& repo, const std::string& wanted)
{
  const auto ids = repo.list_snapshots();
  if (wanted != "latest") {
    if (std::find(ids.begin(), ids.end(), wanted) == ids.end()) {
      throw Error(ExitCode::failed,
                  "snapshot " + wanted + " is not in " + repo.location().text,
                  "list them with: clsync snapshots " + repo.location().text);
    }
    return wanted;
  }
  if (ids.empty()) {
    throw Error(ExitCode::failed, "the repository " + repo.location().text + " holds no snapshot");
  }
  std::map<std::string, std::string> newest;  // group → newest id (ids sort by time)
  for (const auto& id : ids) {
    newest[repo.read_snapshot(id).group()] = id;
  }
  if (newest.size() == 1) {
    return newest.begin()->second;
  }
  std::string list;
  for (const auto& [group, id] : newest) {
    list += "\n  " + id + "  (" + group + ")";
  }
  throw UsageError("the repository " + repo.location().text + " holds " +
                       std::to_string(newest.size()) +
                       " groups of snapshots; 'latest' needs one. The newest of each:" + list,
                   "pass --snapshot ID");
}

RestoreResult restore(Context& ctx, const RestoreOptions& opts)
{
  const Topology& topo = ctx.topo();
  validate_write(opts.write);
  if (opts.from.empty()) {
    throw UsageError("restore needs --from REPO");
  }
  if (!opts.del && opts.max_delete != "50%") {
    throw UsageError("--max-delete goes with --delete");
  }
  if (opts.snapshot.empty()) {
    throw UsageError("--snapshot needs an id or 'latest'");
  }
  if (!opts.filter.columns.empty()) {
    throw UsageError("restore takes no --columns: a snapshot's objects hold the columns backed up");
  }
  RestoreResult res;
  ctx.events->phase("repository");
  const Repository repo = Repository::open(parse_repo_location(opts.from), opts.connect, false);
  res.repository = repo.location().text;
  res.snapshot = resolve_snapshot(repo, opts.snapshot);
  const Snapshot snap = repo.read_snapshot(res.snapshot);
  std::set<std::string> objects;
  for (const auto& [hash, size] : repo.list_objects()) {
    objects.insert(hash);
  }
  const std::vector<Selected> selected = select_chunks(snap, topo, opts, objects);
  std::set<std::string> keys;
  for (const auto& s : selected) {
    keys.insert(s.sc->key);
  }

  RestoreSource source(repo, snap);
  std::vector<RestoreChunk> decisions;
  WritingJob job{.command = "restore", .write = opts.write};
  job.exempt_from_degraded = true;
  job.source = &source;
  job.planner = [&](const Inventory& inv) {
    Placement placement(inv, topo, opts.write.headroom, opts.write.exclude_nodes);
    ChunkDecider decider(ctx, opts, placement);
    decisions.clear();
    Plan plan;
    for (const auto& s : selected) {
      RestoreChunk rc = decider.decide(s, inv, snap.id);
      if (!rc.error.empty()) {
        plan.notes.push_back({rc.key, rc.error});
      }
      if (!rc.targets.empty()) {
        Move m;
        m.kind = MoveKind::write;
        m.chunk = rc.key;
        m.from = {"", "snapshot " + snap.id};
        m.to = rc.targets.front().place;
        m.bytes = rc.bytes;
        m.targets = rc.targets;
        plan.moves.push_back(std::move(m));
      }
      decisions.push_back(std::move(rc));
    }
    if (opts.del) {
      plan_deletes(inv, topo, opts, snap, plan, decisions);
    }
    return plan;
  };
  job.check = [&](const Plan& plan, const Inventory& inv) {
    check_others_healthy(inv, keys, opts.write.allow_degraded);
    check_room(plan, inv, opts.write.headroom);
  };
  res.run = run_writing_job(ctx, job);
  res.chunks = std::move(decisions);
  tally(res);
  res.code = res.run.code;
  if (res.code != ExitCode::interrupted && res.failed > 0) {
    res.code = res.restored + res.kept + res.replaced + res.deleted > 0 ? ExitCode::partial
                                                                        : ExitCode::failed;
  }
  return res;
}

} // namespace clsync::core::repo
