// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/demo_writer.hpp"

#include "core/error.hpp"
#include "core/events.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <mutex>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace clsync::core {

namespace {

/// 1 MiB rounded down to a multiple of every record size (10, 8, 4), so blocks hold whole
/// records and a file's bytes do not depend on where blocks end.
constexpr std::size_t k_block = (std::size_t{1} << 20) / 40 * 40;

std::uint64_t mix(std::uint64_t z)
{
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// splitmix64: one add and a finaliser per 64 bits, plenty for test data.
struct Rng {
  std::uint64_t state;
  std::uint64_t next()
  {
    state += 0x9E3779B97F4A7C15ull;
    return mix(state);
  }
};

enum class ColumnKind { symbol, datetime, price, quantity };

ColumnKind kind_of(const std::string& column)
{
  if (column == "SecurityID") {
    return ColumnKind::symbol;
  }
  if (column == "DateTime") {
    return ColumnKind::datetime;
  }
  if (column == "Volume" || column.find("Qty") != std::string::npos) {
    return ColumnKind::quantity;
  }
  return ColumnKind::price;
}

std::size_t record_size(ColumnKind k)
{
  switch (k) {
  case ColumnKind::symbol:
    return 10; // "600001.SH\n"
  case ColumnKind::datetime:
    return 4;
  default:
    return 8;
  }
}

/// Fills `n` bytes (a multiple of the record size) with column values like the seed's
/// generator: symbols 600001.SH…602000.SH, times within the trading day, prices below 100,
/// quantities below 100000. Little-endian, as the machines clsync runs on.
void fill(ColumnKind kind, Rng& rng, char* out, std::size_t n, std::int64_t day_start)
{
  const std::size_t rec = record_size(kind);
  for (std::size_t at = 0; at + rec <= n; at += rec) {
    const std::uint64_t r = rng.next();
    switch (kind) {
    case ColumnKind::symbol: {
      unsigned code = 600001 + static_cast<unsigned>(r % 2000);
      char* p = out + at;
      for (int i = 5; i >= 0; --i) {
        p[i] = static_cast<char>('0' + code % 10);
        code /= 10;
      }
      std::memcpy(p + 6, ".SH\n", 4);
      break;
    }
    case ColumnKind::datetime: {
      const auto t =
          static_cast<std::int32_t>(day_start + 34200 + static_cast<std::int64_t>(r % 19800));
      std::memcpy(out + at, &t, 4);
      break;
    }
    case ColumnKind::price: {
      const double v = static_cast<double>(r % 10000) / 100.0;
      std::memcpy(out + at, &v, 8);
      break;
    }
    case ColumnKind::quantity: {
      const auto v = static_cast<std::int64_t>(r % 100000);
      std::memcpy(out + at, &v, 8);
      break;
    }
    }
  }
}

[[noreturn]] void fail_write(const std::string& what, const std::filesystem::path& path, int err)
{
  throw std::system_error(err, std::generic_category(), what + " " + path.string());
}

void write_all(int fd, const char* data, std::size_t n, const std::filesystem::path& path)
{
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w < 0) {
      fail_write("cannot write", path, errno);
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

/// Owns the descriptors of one file's replicas.
struct Outputs {
  std::vector<int> fds;
  std::vector<std::filesystem::path> paths;
  ~Outputs()
  {
    for (int fd : fds) {
      ::close(fd);
    }
  }
};

void write_chunk(const DemoChunkJob& job,
                 const std::vector<std::string>& columns,
                 std::uint64_t seed,
                 std::vector<char>& block)
{
  const std::uint64_t per_file = job.bytes / columns.size();
  const std::uint64_t extra = job.bytes % columns.size();
  const std::int64_t day_start = job.mtime.tv_sec / 86400 * 86400;
  const timespec times[2] = {job.mtime, job.mtime};
  for (std::size_t c = 0; c < columns.size(); ++c) {
    const ColumnKind kind = kind_of(columns[c]);
    const std::size_t rec = record_size(kind);
    const std::size_t usable = k_block / rec * rec;
    Rng rng{demo_hash(seed, job.key, columns[c])};
    Outputs out;
    for (const auto& root : job.roots) {
      auto path = root / job.key / (columns[c] + ".col");
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0) {
        fail_write("cannot create", path, errno);
      }
      out.fds.push_back(fd);
      out.paths.push_back(std::move(path));
    }
    std::uint64_t left = per_file + (c < extra ? 1 : 0);
    while (left > 0) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, usable));
      // Whole records, then the file takes the prefix it needs.
      fill(kind, rng, block.data(), (n + rec - 1) / rec * rec, day_start);
      for (std::size_t i = 0; i < out.fds.size(); ++i) {
        write_all(out.fds[i], block.data(), n, out.paths[i]);
      }
      left -= n;
    }
    for (std::size_t i = 0; i < out.fds.size(); ++i) {
      // Replicas a database wrote never share mtimes, but the demo's do: it starts from a
      // replicated, settled cluster, as the seed does.
      if (::futimens(out.fds[i], times) != 0) {
        fail_write("cannot set the mtime of", out.paths[i], errno);
      }
    }
  }
  for (const auto& root : job.roots) {
    const auto dir = root / job.key;
    if (::utimensat(AT_FDCWD, dir.c_str(), times, 0) != 0) {
      fail_write("cannot set the mtime of", dir, errno);
    }
  }
}

} // namespace

std::uint64_t demo_hash(std::uint64_t seed, const std::string& a, const std::string& b)
{
  std::uint64_t h = 0xCBF29CE484222325ull ^ mix(seed);
  auto add = [&h](const std::string& s) {
    for (unsigned char ch : s) {
      h = (h ^ ch) * 0x100000001B3ull;
    }
    h = (h ^ 0xFF) * 0x100000001B3ull; // separator: ("ab","c") differs from ("a","bc")
  };
  add(a);
  add(b);
  return mix(h);
}

void write_demo_chunks(const std::vector<DemoChunkJob>& jobs,
                       const std::vector<std::string>& columns,
                       std::uint64_t seed,
                       unsigned threads,
                       Events* events,
                       const std::atomic<bool>* stop)
{
  // Directories first, serially: workers then only create files.
  for (const auto& job : jobs) {
    for (const auto& root : job.roots) {
      std::error_code ec;
      std::filesystem::create_directories(root / job.key, ec);
      if (ec) {
        fail_write("cannot create", root / job.key, ec.value());
      }
    }
  }
  Progress progress;
  for (const auto& job : jobs) {
    progress.bytes_total += job.bytes * job.roots.size();
  }
  progress.tasks_total = jobs.size();
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex; // guards `error` and `progress`
  std::exception_ptr error;
  auto worker = [&] {
    std::vector<char> block(k_block);
    while (!failed.load() && !(stop && stop->load())) {
      const std::size_t i = next.fetch_add(1);
      if (i >= jobs.size()) {
        return;
      }
      try {
        write_chunk(jobs[i], columns, seed, block);
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!error) {
          error = std::current_exception();
        }
        failed.store(true);
        return;
      }
      if (events) {
        std::lock_guard lock(mutex);
        progress.bytes_done += jobs[i].bytes * jobs[i].roots.size();
        progress.tasks_done += 1;
        events->progress(progress);
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::max(1u, threads); ++t) {
    pool.emplace_back(worker);
  }
  worker();
  for (auto& t : pool) {
    t.join();
  }
  if (error) {
    std::rethrow_exception(error);
  }
  if (stop && stop->load()) {
    throw Interrupted("interrupted while writing the demo; rerun with --force to rebuild it");
  }
}

} // namespace clsync::core
