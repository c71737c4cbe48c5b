// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// CPU slots (transport/cpu_slots.hpp): no more holders than slots, and a backup object's zstd
// stream compresses only while it holds one of the process's slots.
#include "tests/unit/transport/object_test_util.hpp"
#include "transport/cpu_slots.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

using namespace clsync::transport;
using namespace clsync::test::codec;
using namespace std::chrono_literals;

namespace {

/// Runs `work` on a thread; `done` turns true when it returned.
struct Background {
  std::atomic<bool> done{false};
  std::thread thread;
  template <class F> explicit Background(F work) : thread([this, work] { work(); done = true; }) {}
  ~Background() { thread.join(); }
};

TestChunk small_chunk()
{
  TestChunk c;
  c.files.push_back({{"a.col", 5, 1, 0644, 0, 0, ""}, {std::string("hello")}});
  c.dirs.push_back({"", 1, 0755, 0, 0});
  return c;
}

} // namespace

TEST_SUITE("transport::cpu_slots")
{
  TEST_CASE("no more holders than slots: the next waits for a release")
  {
    CpuSlots slots(2);
    auto a = std::make_unique<CpuSlots::Hold>(slots, 1);
    auto b = std::make_unique<CpuSlots::Hold>(slots, 1);
    CHECK(slots.in_use() == 2);
    {
      Background third([&] { CpuSlots::Hold c(slots, 1); });
      std::this_thread::sleep_for(50ms);
      CHECK_FALSE(third.done);  // both slots are held
      a.reset();
    }
    CHECK(slots.in_use() == 1);
    b.reset();
    CHECK(slots.in_use() == 0);
  }

  TEST_CASE("a hold of more slots than exist takes them all, not forever")
  {
    CpuSlots slots(2);
    {
      CpuSlots::Hold all(slots, 8);
      CHECK(slots.in_use() == 2);
    }
    CHECK(slots.in_use() == 0);
  }

  TEST_CASE("a backup object is compressed only while it holds one of the process's slots")
  {
    CpuSlots& process = CpuSlots::process();
    REQUIRE(process.in_use() == 0);
    auto everything = std::make_unique<CpuSlots::Hold>(process, process.slots());
    std::string object;
    {
      Background packing([&] { pack(small_chunk(), object); });
      std::this_thread::sleep_for(50ms);
      CHECK_FALSE(packing.done);  // every core is taken: the packer waits
      everything.reset();
    }
    CHECK_FALSE(object.empty());
    CHECK(process.in_use() == 0);
  }
}
