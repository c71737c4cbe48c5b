// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/push.hpp"

#include "core/fault.hpp"
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

/// Forwards an object's bytes to DEST's writer: rate limit, counts, progress, stop requests.
class ObjectStream final : public transport::ByteSink {
public:
  ObjectStream(transport::AppendWriter& w, TokenBucket& bucket, Context& ctx,
               std::function<void(std::uint64_t)> on_bytes)
      : m_w(w), m_bucket(bucket), m_ctx(ctx), m_on_bytes(std::move(on_bytes))
  {
  }
  void write(std::span<const char> data) override
  {
    if (m_ctx.stopping()) {
      throw TransferCancelled();
    }
    m_bucket.consume(data.size());
    m_in_dest = true;
    m_w.write(data);
    m_in_dest = false;
    m_sent += data.size();
    m_on_bytes(data.size());
    fault_point("push_mid_object");
  }
  bool in_dest() const { return m_in_dest; }
  std::uint64_t sent() const { return m_sent; }

private:
  transport::AppendWriter& m_w;
  TokenBucket& m_bucket;
  Context& m_ctx;
  std::function<void(std::uint64_t)> m_on_bytes;
  bool m_in_dest = false;
  std::uint64_t m_sent = 0;
};

struct ObjectJob {
  std::string hash;
  std::string sha256;
  std::uint64_t size = 0;
};

/// Sends the objects of `jobs` with `parallel` workers; returns the hashes that arrived.
class ObjectSender {
public:
  ObjectSender(Context& ctx, const Repository& src, const Repository& dest,
               const PushOptions& o, PushResult& result)
      : m_ctx(ctx), m_src(src), m_dest(dest), m_options(o), m_result(result),
        m_bucket(o.bwlimit)
  {
  }

  std::set<std::string> run(const std::vector<ObjectJob>& jobs, std::uint64_t total_bytes)
  {
    m_progress.tasks_total = jobs.size();
    m_progress.bytes_total = total_bytes;
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
      for (std::size_t i = next++; i < jobs.size() && !m_ctx.stopping(); i = next++) {
        send(jobs[i]);
      }
    };
    const auto n = std::clamp<std::size_t>(static_cast<std::size_t>(std::max(1, m_options.parallel)),
                                           1, std::max<std::size_t>(1, jobs.size()));
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < n; ++i) {
      threads.emplace_back(worker);
    }
    worker();
    for (auto& t : threads) {
      t.join();
    }
    return m_arrived;
  }

private:
  void send(const ObjectJob& job)
  {
    const std::string path = Repository::object_path(job.hash);
    TaskEvent ev;
    ev.task = job.hash.substr(0, 12);
    ev.chunk = path;
    ev.source = m_src.location().text;
    ev.destination = m_dest.location().text;
    ev.state = "running";
    m_ctx.events->task(ev);
    bool at_dest = true;
    std::uint64_t sent = 0;
    try {
      auto w = m_dest.node().append_file(m_dest.root(), path, job.sha256);
      std::uint64_t offset = w->offset();
      if (offset > job.size) {
        // Longer than the object: not a prefix of it. Start over.
        w->close();
        w.reset();
        m_dest.node().remove_file(m_dest.root(), path + k_partial);
        w = m_dest.node().append_file(m_dest.root(), path, job.sha256);
        offset = w->offset();
      }
      ObjectStream stream(*w, m_bucket, m_ctx, [this](std::uint64_t n) { add_bytes(n); });
      if (offset < job.size) {
        at_dest = false;
        try {
          m_src.node().read_file(m_src.root(), path, offset, stream);
        } catch (...) {
          at_dest = stream.in_dest();
          throw;
        }
        at_dest = true;
      }
      sent = stream.sent();
      w->commit();
      fault_point("push_object_placed");
      std::lock_guard lock(m_mutex);
      m_arrived.insert(job.hash);
      ++m_result.objects_sent;
      if (offset > 0) {
        ++m_result.resumed;
        m_result.resumed_bytes += offset;
      }
      ++m_progress.tasks_done;
      m_ctx.events->progress(m_progress);
    } catch (const TransferCancelled&) {
      return;
    } catch (const std::exception& e) {
      fail(ev, job, at_dest, e.what());
      return;
    }
    ev.state = "finished";
    ev.bytes = sent;
    m_ctx.events->task(ev);
  }

  void fail(TaskEvent ev, const ObjectJob& job, bool at_dest, const std::string& why)
  {
    const auto& end = at_dest ? m_dest : m_src;
    ev.state = "failed";
    ev.error = "object " + job.hash + ": at " + (at_dest ? "DEST " : "SRC ") +
               end.location().text + ": " + why;
    {
      std::lock_guard lock(m_mutex);
      m_result.errors.push_back(ev.error);
      ++m_progress.tasks_failed;
      m_ctx.events->progress(m_progress);
    }
    m_ctx.events->task(ev);
  }

  void add_bytes(std::uint64_t n)
  {
    std::lock_guard lock(m_mutex);
    m_result.bytes += n;
    m_progress.bytes_done += n;
    m_ctx.events->progress(m_progress);
  }

  Context& m_ctx;
  const Repository& m_src;
  const Repository& m_dest;
  const PushOptions& m_options;
  PushResult& m_result;
  TokenBucket m_bucket;
  std::mutex m_mutex;
  Progress m_progress;
  std::set<std::string> m_arrived;
};

/// The plan of a push, from the two listings and the snapshots of SRC it had to read.
struct PushPlan {
  std::vector<SourceSnapshot> new_snapshots;  ///< not at DEST, id order
  std::vector<ObjectJob> objects;             ///< missing at DEST, hash order
  std::uint64_t bytes = 0;                    ///< of the objects (whole sizes)
};

PushPlan make_push_plan(const Repository& src, const Listing& s, const Listing& d, PushResult& result)
{
  PushPlan plan;
  std::map<std::string, std::pair<std::string, std::uint64_t>> named;  // hash → sha, size
  for (const auto& [id, size] : s.snapshots) {
    if (d.snapshots.contains(id)) {
      ++result.snapshots_skipped;
      continue;
    }
    plan.new_snapshots.push_back(read_source_snapshot(src, id, size));
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
        for (const auto& [hash, v] : read_source_snapshot(src, id, size).objects) {
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

  // Prune must not sweep the objects this push writes before its snapshots name them.
  std::optional<RepoLock> lock;
  if (!o.dry_run) {
    lock.emplace(*dest_repo, "push", *ctx.events);
  }

  ctx.events->phase("listing " + o.source + " and " + o.destination);
  Listing s;
  Listing d;
  // Both listings at once: each is one round trip per directory kind on its side.
  std::exception_ptr dest_failure;
  std::thread list_dest([&] {
    try {
      if (dest_repo) {
        d = list_repository(*dest_repo);
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

  PushPlan plan = make_push_plan(src, s, d, result);
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
    ObjectSender sender(ctx, src, *dest_repo, o, result);
    for (const auto& h : sender.run(plan.objects, plan.bytes)) {
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
      auto w = dest_repo->node().create_file(dest_repo->root(), snapshot_path(snap.id));
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
