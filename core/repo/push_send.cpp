// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/push_send.hpp"

#include "core/fault.hpp"
#include "core/run/transfer.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

namespace clsync::core::repo::detail {

namespace {

constexpr const char* k_partial_suffix = ".partial";

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

/// Bytes that justify one more worker when an end is ssh://: each worker beyond the first
/// opens its own session (handshake, the login shell, the agent), one at a time and each
/// holding an object meanwhile, which costs more than one session takes to send this much.
constexpr std::uint64_t k_bytes_per_session = 32u << 20;

} // namespace

std::size_t push_workers(int parallel, std::size_t jobs, std::uint64_t bytes, bool remote)
{
  std::size_t n = std::clamp<std::size_t>(static_cast<std::size_t>(std::max(1, parallel)), 1,
                                          std::max<std::size_t>(1, jobs));
  if (remote) {
    n = std::min<std::size_t>(n, 1 + bytes / k_bytes_per_session);
  }
  return n;
}

namespace {

/// Sends the objects of `jobs` with push_workers() workers; returns the hashes that arrived.
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
    const auto n = push_workers(m_options.parallel, jobs.size(), total_bytes,
                                m_src.location().remote || m_dest.location().remote);
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
        m_dest.node().remove_file(m_dest.root(), path + k_partial_suffix);
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

} // namespace

std::set<std::string> send_objects(Context& ctx, const Repository& src, const Repository& dest,
                                   const PushOptions& options, PushResult& result,
                                   const std::vector<ObjectJob>& jobs, std::uint64_t total_bytes)
{
  ObjectSender sender(ctx, src, dest, options, result);
  return sender.run(jobs, total_bytes);
}

} // namespace clsync::core::repo::detail
