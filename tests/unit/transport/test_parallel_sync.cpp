// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// sync_fds_parallel (transport/parallel_sync.hpp): a batch's fsyncs overlap on the caller's own
// helper threads, the same ones batch after batch, and the failure reported is the one with the
// lowest index. That the fsyncs of a real move overlap is checked under strace in faults_disk.
#include "transport/parallel_sync.hpp"
#include "transport/posix_io.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fcntl.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace clsync::transport;
namespace fs = std::filesystem;

namespace {

std::size_t threads_of_this_process()
{
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

/// `n` regular files in a fresh directory, open for writing.
struct Files {
  explicit Files(std::size_t n)
  {
    char tmpl[] = "/tmp/clsync-parallel-sync-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    for (std::size_t i = 0; i < n; ++i) {
      const std::string path = (dir / std::to_string(i)).string();
      fds.emplace_back(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
      REQUIRE(fds.back());
      REQUIRE(::write(fds.back().get(), "x", 1) == 1);
    }
  }
  ~Files()
  {
    fds.clear();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::vector<int> raw() const
  {
    std::vector<int> out;
    for (const auto& fd : fds) {
      out.push_back(fd.get());
    }
    return out;
  }
  fs::path dir;
  std::vector<UniqueFd> fds;
};

} // namespace

TEST_SUITE("transport::parallel_sync")
{
  TEST_CASE("a batch's fsyncs run on 7 helpers of the calling thread, the same ones every batch")
  {
    // In a thread of its own, so that the helpers this test starts end with it.
    std::size_t before = 0, after_first = 0, after_second = 0, after_small = 0;
    std::pair<std::size_t, int> r1, r2, r3;
    std::thread t([&] {
      Files f(20);
      before = threads_of_this_process();
      r1 = sync_fds_parallel(f.raw());
      after_first = threads_of_this_process();
      r2 = sync_fds_parallel(f.raw());
      after_second = threads_of_this_process();
      r3 = sync_fds_parallel({f.raw()[0], f.raw()[1]});
      after_small = threads_of_this_process();
    });
    t.join();
    CHECK(r1.second == 0);
    CHECK(r2.second == 0);
    CHECK(r3.second == 0);
    CHECK(r1.first == std::string::npos);
    CHECK(after_first == before + 7);
    CHECK(after_second == after_first); // no fresh threads for the next batch
    CHECK(after_small == after_first);
    // The helpers end with the thread they served.
    CHECK(threads_of_this_process() == before - 1);
  }

  TEST_CASE("every failure is reported by its lowest index, whichever lane met it first")
  {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    UniqueFd rd(pipe_fds[0]), wr(pipe_fds[1]);
    std::pair<std::size_t, int> r, one, none;
    std::thread t([&] {
      Files f(12);
      std::vector<int> fds = f.raw();
      fds[9] = rd.get();  // fsync of a pipe: EINVAL
      fds[3] = wr.get();
      r = sync_fds_parallel(fds);
      one = sync_fds_parallel({rd.get()});
      none = sync_fds_parallel({});
    });
    t.join();
    CHECK(r.first == 3);
    CHECK(r.second == EINVAL);
    CHECK(one.first == 0);
    CHECK(one.second == EINVAL);
    CHECK(none.first == std::string::npos);
    CHECK(none.second == 0);
  }
}
