// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/backup.hpp"

#include "core/cluster/filter.hpp"
#include "core/exceptions.hpp"
#include "core/fault.hpp"
#include "core/plan/plan_check.hpp"
#include "core/repo/backup_object.hpp"
#include "core/repo/backup_select.hpp"
#include "core/repo/node_pool.hpp"
#include "core/repo/object_records.hpp"
#include "core/repo/backup_cache.hpp"
#include "core/repo/repo_lock.hpp"
#include "core/run/executor.hpp"
#include "core/run/journal.hpp"
#include "core/run/transfer.hpp"
#include "core/units.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unistd.h>

namespace clsync::core::repo {
namespace {

void validate(const BackupOptions& o)
{
  if (o.to.empty()) {
    throw UsageError("backup needs --to REPO", "a directory, or ssh://[user@]host[:port]/path");
  }
  if (o.compress_level < 1 || o.compress_level > 19) {
    throw UsageError("--compress-level must be 1 to 19");
  }
  if (o.zstd_threads < 0) {
    throw UsageError("--zstd-threads must be 0 or more");
  }
  if (o.concurrency < 0) {
    throw UsageError("--concurrency must be 0 (2 x nodes) or more");
  }
  if (o.per_node < 1) {
    throw UsageError("--per-node must be 1 or more");
  }
}

/// The cache key of a replica: with --columns the object holds other content, so it is another
/// entry of the cache than the whole chunk's.
std::string cache_key(const std::string& key, const std::vector<std::string>& columns)
{
  if (columns.empty()) {
    return key;
  }
  std::vector<std::string> sorted = columns;
  std::sort(sorted.begin(), sorted.end());
  std::string k = key + "\ncolumns=";
  for (const auto& c : sorted) {
    k += c + ",";
  }
  return k;
}

std::string host_name()
{
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) {
    return "unknown";
  }
  return buf;
}

/// The shared state of the packing jobs.
struct RunState {
  std::mutex m;
  std::vector<SnapshotChunk> chunks;
  std::vector<BackupProblem> failed;
  std::uint64_t new_objects = 0, reused_objects = 0, interrupted_jobs = 0;
  std::atomic<std::uint64_t> bytes_read{0}, bytes_written{0}, done{0};
  std::atomic<int> local_in_flight{0};  ///< objects being packed on local nodes
};

/// Counts one object in flight for as long as it is packed (nothing counted for null).
class InFlight {
public:
  explicit InFlight(std::atomic<int>* counter) : m_counter(counter), m_now(counter ? ++*counter : 0)
  {
  }
  ~InFlight()
  {
    if (m_counter) {
      --*m_counter;
    }
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  int now() const { return m_now; }

private:
  std::atomic<int>* m_counter;
  int m_now;
};

} // namespace

/// Objects of killed runs that never reached their name (tmp/backup-*): safe to remove while
/// this run holds the repository lock.
static void remove_stale_temps(const Repository& repo)
{
  for (const auto& e : repo.node().list_dir(repo.root(), "tmp")) {
    if (!e.is_dir && e.name.rfind("backup-", 0) == 0) {
      repo.node().remove_file(repo.root(), "tmp/" + e.name);
    }
  }
}

BackupResult backup(Context& ctx, const BackupOptions& opts)
{
  const auto t0 = std::chrono::steady_clock::now();
  const Topology& topo = ctx.topo();
  validate(opts);
  const auto until = parse_until(opts.until);
  if (!opts.prefer_node.empty() && !topo.find_node(opts.prefer_node)) {
    throw UsageError("--prefer-node " + opts.prefer_node + ": no such node in " + topo.file);
  }
  ChunkFilter filter(opts.filter, topo);
  BackupResult res;
  res.dry_run = opts.dry_run;
  res.repository = opts.to;

  const RepoLocation where = parse_repo_location(opts.to);
  std::optional<Repository> repo;
  if (opts.dry_run) {
    try {
      repo.emplace(Repository::open(where, opts.connect, false));
    } catch (const Error&) {
      res.notes.push_back("the repository " + opts.to + " does not exist yet: every chunk is new");
    }
  } else {
    repo.emplace(Repository::open(where, opts.connect, true));
  }

  InventoryOptions io;
  io.exclude_nodes = opts.exclude_nodes;
  io.with_files = true;  // each file's mtime and owner for chunks that are not read
  Inventory inv = take_inventory(topo, *ctx.nodes, io, *ctx.events);
  check_reachable(inv);

  std::vector<const Chunk*> chosen;
  for (const auto& c : inv.chunks) {
    if (filter.matches(c)) {
      chosen.push_back(&c);
    }
  }
  // The repository lock keeps prune from sweeping objects this run writes before its snapshot.
  std::optional<RepoLock> lock;
  if (!opts.dry_run) {
    lock.emplace(*repo, "backup", *ctx.events);
    remove_stale_temps(*repo);
  }
  BackupCache bcache = repo ? BackupCache::load(*repo, topo.cluster) : BackupCache();
  CacheLookup cache = [&](const std::string& node, const std::string& volume,
                          const std::string& key,
                          const std::string& fp) -> std::optional<std::string> {
    return bcache.lookup(node, volume, cache_key(key, opts.filter.columns), fp);
  };
  RecordLookup records = [&](const std::string& object) -> std::optional<SnapshotChunk> {
    if (!repo || !bcache.has_object(object)) {
      return std::nullopt;
    }
    return load_object_record(*repo, object);
  };
  // The cache is saved now and then while objects arrive, so that a killed run's successor
  // does not read again what it already sent; and at the end.
  std::mutex save_mutex;
  auto last_save = std::chrono::steady_clock::now();
  auto save_cache_now_and_then = [&] {
    std::lock_guard l(save_mutex);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_save >= std::chrono::seconds(2)) {
      bcache.save(*repo);
      last_save = now;
    }
  };
  SelectParams sp;
  sp.prefer_node = opts.prefer_node;
  sp.columns = !opts.filter.columns.empty();
  ctx.events->phase("select");
  std::vector<BackupItem> items = select_backup(chosen, inv, sp, cache, records);

  RunState st;
  std::vector<std::size_t> to_pack;
  std::uint64_t bytes_total = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& it = items[i];
    if (it.action == BackupItem::Action::skip) {
      res.skipped.push_back({it.chunk->key, "", "", it.reason});
      ctx.events->warning("chunk " + it.chunk->key + " skipped: " + it.reason);
    } else if (it.action == BackupItem::Action::reuse) {
      st.chunks.push_back(it.record);
      ++st.reused_objects;
      ++res.not_read;
    } else {
      to_pack.push_back(i);
      bytes_total += it.chunk->bytes;
    }
  }

  if (opts.dry_run) {
    res.chunks = st.chunks.size() + to_pack.size();
    res.reused_objects = st.reused_objects;
    res.new_objects = to_pack.size();
    res.bytes_read = bytes_total;
    res.code = res.skipped.empty() ? ExitCode::ok : ExitCode::partial;
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
  }

  const std::string run_id = new_run_id();
  RateLimits limits(opts.bwlimit, opts.bwlimit_per_node);
  ObjectPacker packer{*repo, limits, run_id, opts.compress_level, opts.filter.columns,
                      [&ctx] { return ctx.stopping(); }};
  const std::uint64_t pack_count = to_pack.size();
  auto report = [&] {
    Progress p;
    p.bytes_done = st.bytes_read.load();
    p.bytes_total = bytes_total;
    p.tasks_done = st.done.load();
    p.tasks_total = pack_count;
    std::lock_guard l(st.m);
    p.tasks_failed = st.failed.size();
    ctx.events->progress(p);
  };

  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<PoolJob> jobs;
  jobs.reserve(to_pack.size());
  for (std::size_t n = 0; n < to_pack.size(); ++n) {
    BackupItem& item = items[to_pack[n]];
    PoolJob job;
    for (const Replica* r : item.candidates) {
      job.candidates.push_back(r->node);
    }
    job.bytes = item.chunk->bytes;
    job.run = [&, n, itemp = &item](const std::string& node, int busy) {
      const Chunk& c = *itemp->chunk;
      const Replica* r = *std::find_if(itemp->candidates.begin(), itemp->candidates.end(),
                                       [&](const Replica* x) { return x->node == node; });
      TaskEvent ev{run_id + "-" + std::to_string(n), c.key, "running", node + ":" + r->volume,
                   opts.to, c.bytes, ""};
      ctx.events->task(ev);
      const NodeSpec* tn = topo.find_node(node);
      const bool local = tn && tn->is_local();
      InFlight counted(local ? &st.local_in_flight : nullptr);
      const int threads = zstd_workers(opts.zstd_threads, busy, local, counted.now(), cores);
      try {
        PackedObject po = packer.pack(*ctx.nodes->get(node), node, r->volume, c.key,
                                      threads, n);
        SnapshotChunk rec = std::move(po.record);
        fill_identity(rec, c);
        save_object_record(*repo, rec);
        const std::string fp = opts.filter.columns.empty() && !po.fingerprint.empty()
                                   ? po.fingerprint
                                   : r->fingerprint.str();
        bcache.object_added(rec.object);
        bcache.insert(node, r->volume, cache_key(c.key, opts.filter.columns), fp, rec.object);
        save_cache_now_and_then();
        fault_point("backup_chunk_done");
        st.bytes_read += po.bytes_read;
        st.bytes_written += po.bytes_written;
        {
          std::lock_guard l(st.m);
          st.chunks.push_back(std::move(rec));
          ++(po.is_new ? st.new_objects : st.reused_objects);
        }
        ++st.done;
        ev.state = "finished";
        ctx.events->task(ev);
      } catch (const TransferCancelled&) {
        std::lock_guard l(st.m);
        ++st.interrupted_jobs;
        ev.state = "rolled_back";
        ctx.events->task(ev);
      } catch (...) {
        ev.state = "failed";
        ev.error = "chunk " + c.key + " on " + node + ":" + r->volume + ": " +
                   current_exception_text();
        ctx.events->task(ev);
        std::lock_guard l(st.m);
        st.failed.push_back({c.key, node, r->volume, ev.error});
      }
      report();
    };
    jobs.push_back(std::move(job));
  }

  PoolLimits pl;
  pl.per_node = opts.per_node;
  pl.concurrency =
      opts.concurrency > 0 ? opts.concurrency : 2 * static_cast<int>(topo.nodes.size());
  pl.hold = [&](std::uint64_t started) -> std::string {
    if (ctx.stopping()) {
      return "interrupted";
    }
    if (lock && lock->lost()) {
      return "lock lost";
    }
    if (until && std::chrono::system_clock::now() >= *until) {
      return "until";
    }
    if (opts.max_bytes > 0 && started >= opts.max_bytes) {
      return "max-bytes";
    }
    return {};
  };
  ctx.events->phase("backup");
  report();
  PoolOutcome out = run_pool(jobs, pl);
  if (ctx.stopping() && out.stopped_by.empty() && st.interrupted_jobs > 0) {
    out.stopped_by = "interrupted";
  }

  try {
    bcache.save(*repo);
  } catch (...) {
    res.notes.push_back("the backup cache could not be saved (" + current_exception_text() +
                        "): the next backup reads these chunks again");
  }
  res.new_objects = st.new_objects;
  res.reused_objects = st.reused_objects;
  res.failed = st.failed;
  res.bytes_read = st.bytes_read.load();
  res.bytes_written = st.bytes_written.load();
  res.not_started = out.not_started + st.interrupted_jobs;
  res.stopped_by = out.stopped_by;
  const bool complete = res.not_started == 0;
  if (!complete) {
    // No snapshot: it would name only part of what was asked for. The objects written stay,
    // recorded in the cache, so a rerun sends only what is missing.
    const char* why = out.stopped_by == "max-bytes" ? "--max-bytes reached"
                      : out.stopped_by == "until"   ? "--until passed"
                      : out.stopped_by == "lock lost" ? "the repository lock was lost"
                                                    : "interrupted";
    res.notes.push_back(std::to_string(res.not_started) + " chunks not backed up (" + why +
                        "): no snapshot was written; run again to continue (the " +
                        std::to_string(res.new_objects) + " objects written are kept)");
    res.code = out.stopped_by == "interrupted" ? ExitCode::interrupted : ExitCode::partial;
  } else if (st.chunks.empty() && (!res.failed.empty() || !res.skipped.empty())) {
    res.notes.push_back("nothing could be backed up: no snapshot was written");
    res.code = ExitCode::failed;
  } else {
    Snapshot snap;
    snap.id = new_snapshot_id();
    snap.created = format_rfc3339_utc(std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::system_clock::now().time_since_epoch()).count());
    snap.cluster = topo.cluster;
    snap.host = host_name();
    snap.tag = opts.tag;
    snap.filters = opts.filter;
    snap.chunks = std::move(st.chunks);
    std::sort(snap.chunks.begin(), snap.chunks.end(),
              [](const SnapshotChunk& a, const SnapshotChunk& b) { return a.key < b.key; });
    // Written last, and only when every object it names is in place.
    std::set<std::string> present;
    for (const auto& [hash, size] : repo->list_objects()) {
      present.insert(hash);
    }
    for (const auto& c : snap.chunks) {
      if (!present.count(c.object)) {
        throw Error(ExitCode::failed, "object " + c.object + " of chunk " + c.key +
                                          " is not in " + opts.to +
                                          ": no snapshot was written; run the backup again");
      }
    }
    fault_point("backup_before_snapshot");
    repo->write_snapshot(snap);
    fault_point("backup_after_snapshot");
    res.snapshot = snap.id;
    res.chunks = snap.chunks.size();
    if (!res.failed.empty() || !res.skipped.empty()) {
      res.code = ExitCode::partial;
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

} // namespace clsync::core::repo
