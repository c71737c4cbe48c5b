// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/recount.hpp"

#include "core/fault.hpp"
#include "core/run/journal.hpp"
#include "core/run/transient_retry.hpp"
#include "core/json_names.hpp"
#include "core/json_number.hpp"
#include "transport/host_identity.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <future>
#include <system_error>
#include <chrono>
#include <ctime>
#include <set>
#include <unistd.h>

namespace clsync::core {
namespace {

/// Runs `f` on a thread of its own when `background` (else on first wait, in the waiting thread,
/// as also when no thread can be made).
template <class F> auto in_background(F&& f, bool background = true) -> std::future<decltype(f())>
{
  if (background) {
    try {
      return std::async(std::launch::async, std::forward<F>(f));
    } catch (const std::system_error&) {
    }
  }
  return std::async(std::launch::deferred, std::forward<F>(f));
}

} // namespace

bool is_remote_node(const Context& ctx, const std::string& node)
{
  const NodeSpec* spec = ctx.topology ? ctx.topology->find_node(node) : nullptr;
  return spec && !spec->is_local();
}

namespace {


/// The holds one removal placed; released together, best effort (recovery removes what a
/// crash leaves).
class Holds {
public:
  Holds(const Context& ctx, std::string key, std::string record)
      : m_ctx(ctx), m_nodes(*ctx.nodes), m_key(std::move(key)), m_record(std::move(record))
  {
  }
  Holds(const Holds&) = delete;
  Holds& operator=(const Holds&) = delete;
  ~Holds() { release_all(); }

  /// Places the hold on `p`; returns "" when placed, else the holder's record.
  std::string place(const Place& p) { return placed(p, false).holder; }

  /// place(), and the replica's fingerprint taken after the hold when its node answers both at
  /// once (Node::place_hold_fingerprint).
  transport::Node::PlacedHold place_fingerprint(const Place& p) { return placed(p, true); }

  void release(const Place& p) noexcept
  {
    auto it = std::find(m_held.begin(), m_held.end(), p);
    if (it == m_held.end()) {
      return;
    }
    release_with_retries(p);
    m_held.erase(it);
  }

  /// The releases are independent of each other and all come after the removal: they go to
  /// their nodes at once, so a removal waits for the slowest node, not for the sum.
  void release_all() noexcept
  {
    std::vector<std::future<void>> releasing;
    for (const Place& p : m_held) {
      try {
        releasing.push_back(in_background([this, p] { release_with_retries(p); },
                                          is_remote_node(m_ctx, p.node)));
      } catch (...) {
        release_with_retries(p);
      }
    }
    for (auto& r : releasing) {
      r.wait();
    }
    m_held.clear();
  }

private:
  /// The hold on `p`, asked with or without the fingerprint after it; ours is remembered for
  /// release, and taken back when the request failed.
  transport::Node::PlacedHold placed(const Place& p, bool with_fingerprint)
  {
    transport::Node::PlacedHold out;
    try {
      auto node = m_nodes.get(p.node);
      out = with_fingerprint
                ? node->place_hold_fingerprint(p.volume, m_key, m_record)
                : transport::Node::PlacedHold{node->place_hold(p.volume, m_key, m_record), {}};
    } catch (...) {
      // The hold may have been made before the connection failed: take ours back (the record
      // names this removal, so another's hold is never touched).
      release_with_retries(p);
      throw;
    }
    if (out.holder.empty()) {
      m_held.push_back(p);
    }
    return out;
  }

  /// A hold left behind would outlive the run until the next run's recovery: its release is
  /// retried while the node's failure is transient. Still failing, it is left for recovery: a
  /// stale hold only ever keeps a replica.
  void release_with_retries(const Place& p) noexcept
  {
    try {
      run_with_transient_retries(
          [&] { m_nodes.get(p.node)->release_hold(p.volume, m_key, m_record); });
    } catch (...) {
    }
  }

  const Context& m_ctx;
  NodeSet& m_nodes;
  std::string m_key;
  std::string m_record;
  std::vector<Place> m_held;
};

std::string holder_str(const std::string& record)
{
  auto j = nlohmann::json::parse(record, nullptr, false);
  if (!j.is_object()) {
    return "another removal";
  }
  try {
    return "task " + j.value("task", std::string("?")) + " (pid " +
           std::to_string(json_number(j, "pid", std::int64_t{0})) + ")";
  } catch (const std::exception&) {
    return "another removal (its hold record cannot be read)";
  }
}

} // namespace

std::string hold_record(const std::string& run_id, const std::string& task, const std::string& key)
{
  const auto& me = transport::this_host_identity();
  nlohmann::json j{
      {"run", run_id},
      {"task", task},
      {"machine", me.machine_id},
      {"boot", me.boot_id},
      {"pid", static_cast<std::int64_t>(::getpid())},
      {"created", utc_timestamp(std::chrono::system_clock::now())},
      {"created_unix", static_cast<std::int64_t>(std::time(nullptr))},
  };
  put_name(j, "chunk", key); // a key need not be UTF-8: exact in chunk_b64 (core/json_names)
  return dump_json(j);
}

Recount::Recount(Context& ctx, const Inventory& before, std::string run_id)
    : m_ctx(ctx), m_before(before), m_run_id(std::move(run_id))
{
}

int Recount::required(const std::string& key) const
{
  const Chunk* c = m_before.chunk(key);
  int want = 0;
  if (c) {
    want = std::min(c->replica_count(), c->replication);
  } else if (m_ctx.topology) {
    Chunk parsed;
    want = parse_chunk_key(*m_ctx.topology, key, parsed) ? parsed.replication
                                                         : m_ctx.topology->replication;
  }
  return std::max(1, want);
}

Recount::Identity Recount::identity(const Place& p) const
{
  const VolumeState* v = m_before.volume(p.node, p.volume);
  if (!v) {
    return {};
  }
  return {v->machine_id, v->device, v->inode};
}

std::string Recount::record_for(const std::string& task, const std::string& key)
{
  std::lock_guard lock(m_mutex);
  auto [it, inserted] = m_records.try_emplace(task + "\n" + key);
  if (inserted) {
    it->second = hold_record(m_run_id, task, key);
  }
  return it->second;
}

std::string Recount::content_of(transport::Node& node,
                                const Place& p,
                                const std::string& key,
                                const std::optional<std::string>& fresh_fp)
{
  const std::string fp = fresh_fp ? *fresh_fp : node.fingerprint(p.volume, key);
  if (fp.empty()) {
    return {};
  }
  {
    std::lock_guard lock(m_mutex);
    if (auto it = m_hashes.find({p.node, p.volume, key, fp}); it != m_hashes.end()) {
      return it->second;
    }
  }
  auto digest = node.hash_chunk(p.volume, key);
  std::lock_guard lock(m_mutex);
  m_hashes[{p.node, p.volume, key, digest.fingerprint.empty() ? fp : digest.fingerprint}] =
      digest.content_hash;
  return digest.content_hash;
}

void Recount::hash_into_cache(transport::Node& node, const Place& p, const std::string& key)
{
  // One read: the digest carries the fingerprint of the walk it was read by, which is what the
  // re-count's fresh fingerprint is compared with (a fingerprint asked first would be a second
  // walk of the same replica, and a round trip over SSH).
  auto digest = node.hash_chunk(p.volume, key);
  if (digest.fingerprint.empty() || digest.content_hash.empty()) {
    return;  // nothing to find it by: the re-count hashes it again
  }
  std::lock_guard lock(m_mutex);
  m_hashes.try_emplace({p.node, p.volume, key, digest.fingerprint}, digest.content_hash);
}

std::future<void> Recount::prefetch(const std::string& key, const std::vector<Place>& skip)
{
  const Chunk* c = m_before.chunk(key);
  if (!c) {
    return {};
  }
  const auto want = static_cast<std::size_t>(required(key));
  std::vector<Place> survivors;
  std::set<std::string> nodes;
  for (const Replica& r : c->replicas) {
    const Place p{r.node, r.volume};
    if (survivors.size() >= want) {
      break;
    }
    if (r.duplicate || nodes.count(p.node) ||
        std::find(skip.begin(), skip.end(), p) != skip.end()) {
      continue;
    }
    nodes.insert(p.node);
    survivors.push_back(p);
  }
  if (survivors.empty()) {
    return {};
  }
  try {
    return in_background([this, key, survivors = std::move(survivors)] {
      for (const Place& p : survivors) {
        try {
          hash_into_cache(*m_ctx.nodes->get(p.node), p, key);
        } catch (...) {
          // The re-count reads it again and says why it cannot.
        }
      }
    });
  } catch (...) {
    return {}; // no thread: the re-count hashes as it did
  }
}

void Recount::remember(const Place& p,
                       const std::string& key,
                       const std::string& fingerprint,
                       const std::string& content_hash)
{
  if (fingerprint.empty() || content_hash.empty()) {
    return;
  }
  std::lock_guard lock(m_mutex);
  m_hashes[{p.node, p.volume, key, fingerprint}] = content_hash;
}

bool Recount::remove_own(const std::string& key,
                         const Place& target,
                         const std::string& task,
                         const std::function<void()>& remove)
{
  Holds holds(m_ctx, key, record_for(task, key));
  if (!holds.place(target).empty()) {
    return false;
  }
  remove();
  holds.release_all();
  return true;
}

void Recount::remove_guarded(const std::string& key,
                             const std::optional<Place>& target,
                             const std::string& content_hash,
                             const std::string& task,
                             const std::function<void()>& remove,
                             int required)
{
  if (!m_ctx.topology) {
    throw RecountRefused("re-count: no topology to count chunk " + key + " on; kept");
  }
  const int want = required < 0 ? this->required(key) : std::max(1, required);
  const std::string what =
      target ? "removing chunk " + key + " from " + place_str(*target) : "chunk " + key;
  Holds holds(m_ctx, key, record_for(task, key));
  if (target) {
    if (auto holder = holds.place(*target); !holder.empty()) {
      throw RecountRefused("re-count: refused " + what + ": the replica is held by " +
                           holder_str(holder) + ", another removal of this chunk; kept");
    }
  }
  const Identity target_id = target ? identity(*target) : Identity{};

  // Every replica of every reachable node, fresh (asked of all nodes at once, read back in
  // topology order). Only where they are: each one counted is fingerprinted under its hold.
  std::vector<std::pair<std::string, std::future<std::vector<std::string>>>> asked;
  for (const auto& spec : m_ctx.topology->nodes) {
    const NodeState* state = m_before.node(spec.name);
    if (state && !state->reachable) {
      continue;
    }
    asked.emplace_back(spec.name, in_background(
                                      [this, name = spec.name, &key] {
                                        return m_ctx.nodes->get(name)->volumes_holding(key);
                                      },
                                      !spec.is_local()));
  }
  std::vector<Place> found;
  bool transient = false; ///< a node failed for a retryable reason: the count may be short
  std::vector<std::string> notes;
  for (auto& [node, answer] : asked) {
    try {
      for (auto& volume : answer.get()) {
        found.push_back({node, std::move(volume)});
      }
    } catch (const transport::TransportError& e) {
      transient = transient || e.retryable();
      notes.push_back(node + " unreadable");
    } catch (const std::exception&) {
      notes.push_back(node + " unreadable");
    }
  }

  std::string expected = content_hash;
  std::set<std::string> nodes_counted;
  std::vector<Identity> ids_counted;
  std::vector<std::string> counted;
  for (const Place& p : found) {
    if (static_cast<int>(counted.size()) >= want) {
      break; // only as many as needed are held and hashed
    }
    if (target && p == *target) {
      continue;
    }
    const Identity id = identity(p);
    if (id.known() &&
        ((target_id.known() && id == target_id) ||
         std::find(ids_counted.begin(), ids_counted.end(), id) != ids_counted.end())) {
      notes.push_back(place_str(p) + " is the same directory as another");
      continue;
    }
    if (nodes_counted.count(p.node)) {
      continue;
    }
    const auto placed = holds.place_fingerprint(p);
    if (!placed.holder.empty()) {
      notes.push_back(place_str(p) + " held by " + holder_str(placed.holder));
      continue;
    }
    std::string hash;
    try {
      hash = content_of(*m_ctx.nodes->get(p.node), p, key, placed.fingerprint);
    } catch (const transport::TransportError& e) {
      transient = transient || e.retryable();
      notes.push_back(place_str(p) + " unreadable");
    } catch (const std::exception&) {
      notes.push_back(place_str(p) + " unreadable");
    }
    if (hash.empty()) {
      holds.release(p);
      continue;
    }
    if (expected.empty()) {
      expected = hash;
    }
    if (hash != expected) {
      notes.push_back(place_str(p) + " differs");
      holds.release(p);
      continue;
    }
    nodes_counted.insert(p.node);
    ids_counted.push_back(id);
    counted.push_back(place_str(p));
  }

  if (static_cast<int>(counted.size()) < want) {
    std::string list;
    for (const auto& c : counted) {
      list += (list.empty() ? "" : ", ") + c;
    }
    std::string extra;
    for (const auto& n : notes) {
      extra += "; " + n;
    }
    throw RecountRefused("re-count: refused " + what + ": " + std::to_string(counted.size()) +
                         " verified replica(s) elsewhere (" + (list.empty() ? "none" : list) +
                         extra + "), " + std::to_string(want) +
                         " required (its count before the run or its replication, whichever is "
                         "lower); kept",
                         transient);
  }
  fault_point("after_recount");
  remove();
  holds.release_all();
}

} // namespace clsync::core
