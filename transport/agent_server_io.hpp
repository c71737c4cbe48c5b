// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/agent_protocol.hpp"
#include "transport/node.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <sys/uio.h>
#include <thread>
#include <unistd.h>

/// The agent's side of the wire (agent_server.cpp): its input, its framed output with the
/// keepalive thread, and the sinks that turn a node's streams into frames. Internal to
/// transport/.
namespace clsync::transport::detail {

using nlohmann::json;
using wire::MsgType;

/// The client went away (EOF or broken pipe): not an error worth a message.
struct ClientGone {};

class FdSource : public wire::ByteSource {
public:
  explicit FdSource(int fd) : m_fd(fd) {}
  std::size_t read_some(char* buf, std::size_t n) override
  {
    for (;;) {
      ssize_t got = ::read(m_fd, buf, n);
      if (got >= 0) {
        return static_cast<std::size_t>(got);
      }
      if (errno != EINTR) {
        return 0;
      }
    }
  }
  int fd() const { return m_fd; }

private:
  int m_fd;
};

/// Writes whole frames to the output; shared by the request loop and the keepalive thread.
class FrameOut {
public:
  explicit FrameOut(int fd) : m_fd(fd) {}

  void send(MsgType type, const char* data, std::size_t n)
  {
    auto header = wire::encode_header(type, n);
    std::lock_guard lock(m_mutex);
    iovec iov[2] = {{header.data(), header.size()}, {const_cast<char*>(data), n}};
    int cnt = n ? 2 : 1;
    iovec* v = iov;
    while (cnt > 0) {
      ssize_t w = ::writev(m_fd, v, cnt);
      if (w < 0) {
        if (errno == EINTR) {
          continue;
        }
        m_broken = true;
        throw ClientGone{};
      }
      auto left = static_cast<std::size_t>(w);
      while (cnt > 0 && left >= v->iov_len) {
        left -= v->iov_len;
        ++v;
        --cnt;
      }
      if (cnt > 0) {
        v->iov_base = static_cast<char*>(v->iov_base) + left;
        v->iov_len -= left;
      }
    }
    m_last = std::chrono::steady_clock::now();
  }
  void send(MsgType type, const json& j)
  {
    auto p = wire::to_payload(j);
    send(type, p.data(), p.size());
  }
  void error(const TransportError& e)
  {
    send(MsgType::error, wire::to_wire(wire::ErrorInfo{e.kind(), e.what(), e.retryable()}));
  }
  void error(const std::exception& e)
  {
    send(MsgType::error, wire::to_wire(wire::ErrorInfo{FailureKind::error, e.what(), false}));
  }
  std::chrono::steady_clock::time_point last() const
  {
    std::lock_guard lock(m_mutex);
    return m_last;
  }
  bool broken() const { return m_broken; }

private:
  int m_fd;
  mutable std::mutex m_mutex;
  std::chrono::steady_clock::time_point m_last = std::chrono::steady_clock::now();
  std::atomic<bool> m_broken{false};
};

/// While a request runs, tells the client every `interval` that the agent is alive, so the
/// client's I/O deadline measures a dead peer, not a long hash or fsync.
class Keepalive {
public:
  Keepalive(FrameOut& out, std::chrono::milliseconds interval)
      : m_out(out), m_interval(interval), m_thread([this] { loop(); })
  {
  }
  ~Keepalive()
  {
    {
      std::lock_guard lock(m_mutex);
      m_stop = true;
    }
    m_cv.notify_all();
    m_thread.join();
  }
  void set_busy(bool busy) { m_busy.store(busy); }

private:
  void loop()
  {
    std::unique_lock lock(m_mutex);
    while (!m_stop) {
      m_cv.wait_for(lock, m_interval);
      if (m_stop || !m_busy.load() || m_out.broken()) {
        continue;
      }
      if (std::chrono::steady_clock::now() - m_out.last() < m_interval) {
        continue;
      }
      lock.unlock();
      try {
        m_out.send(MsgType::keepalive, nullptr, 0);
      } catch (...) {
        // The request loop sees the broken output on its next write.
      }
      lock.lock();
    }
  }
  FrameOut& m_out;
  std::chrono::milliseconds m_interval;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_stop = false;
  std::atomic<bool> m_busy{false};
  std::thread m_thread;
};

struct BusyScope {
  Keepalive& k;
  explicit BusyScope(Keepalive& ka) : k(ka) { k.set_busy(true); }
  ~BusyScope() { k.set_busy(false); }
};

/// The client sent CANCEL during a read stream.
struct Cancelled {};

/// Sends file bytes as DATA frames, or DATA_ZSTD when the client asked for compression and
/// it pays.
inline void send_data(FrameOut& out, wire::DataCompressor* compress, std::span<const char> data)
{
  if (compress) {
    auto z = compress->compress(data);
    if (!z.empty()) {
      out.send(MsgType::data_zstd, z.data(), z.size());
      return;
    }
  }
  out.send(MsgType::data, data.data(), data.size());
}

/// Turns a chunk stream into frames on the output.
class FrameChunkSink : public ChunkSink {
public:
  FrameChunkSink(FrameOut& out, wire::DataCompressor* compress, std::function<bool()> cancelled)
      : m_out(out), m_compress(compress), m_cancelled(std::move(cancelled))
  {
  }
  void begin_file(const FileEntry& file) override
  {
    m_out.send(MsgType::file_begin, wire::to_wire(file));
  }
  void file_data(std::span<const char> data) override
  {
    while (!data.empty()) {
      auto n = std::min(data.size(), wire::k_data_frame);
      send_data(m_out, m_compress, data.first(n));
      data = data.subspan(n);
      if (m_cancelled()) {
        throw Cancelled{};
      }
    }
  }
  void file_hole(std::uint64_t length) override
  {
    m_out.send(MsgType::hole, json{{"length", length}});
    if (m_cancelled()) {
      throw Cancelled{};
    }
  }
  void end_file(const std::string& sha256) override
  {
    m_out.send(MsgType::file_end, json{{"sha256", sha256}});
  }
  void directory(const ChunkDir& dir) override { m_out.send(MsgType::dir, wire::to_wire(dir)); }

private:
  FrameOut& m_out;
  wire::DataCompressor* m_compress; ///< null: plain DATA
  std::function<bool()> m_cancelled;
};

class FrameByteSink : public ByteSink {
public:
  FrameByteSink(FrameOut& out, wire::DataCompressor* compress, std::function<bool()> cancelled)
      : m_out(out), m_compress(compress), m_cancelled(std::move(cancelled))
  {
  }
  void write(std::span<const char> data) override
  {
    while (!data.empty()) {
      auto n = std::min(data.size(), wire::k_data_frame);
      send_data(m_out, m_compress, data.first(n));
      data = data.subspan(n);
      if (m_cancelled()) {
        throw Cancelled{};
      }
    }
  }

private:
  FrameOut& m_out;
  wire::DataCompressor* m_compress; ///< null: plain DATA
  std::function<bool()> m_cancelled;
};

} // namespace clsync::transport::detail
