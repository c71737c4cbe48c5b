// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/cpu_slots.hpp"

#include <sched.h>

#include <algorithm>
#include <thread>

namespace clsync::transport {

namespace {

int affinity_cores()
{
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
    return CPU_COUNT(&set);
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

} // namespace

CpuSlots::CpuSlots(int slots) : m_slots(std::max(1, slots)) {}

CpuSlots& CpuSlots::process()
{
  // Never destroyed: a packer on a thread still running at exit may release its hold.
  static auto* slots = new CpuSlots(affinity_cores());
  return *slots;
}

int CpuSlots::in_use() const
{
  std::lock_guard lock(m_mutex);
  return m_used;
}

CpuSlots::Hold::Hold(CpuSlots& slots, int n) : m_slots(slots), m_n(std::clamp(n, 1, slots.m_slots))
{
  std::unique_lock lock(m_slots.m_mutex);
  m_slots.m_freed.wait(lock, [&] { return m_slots.m_used + m_n <= m_slots.m_slots; });
  m_slots.m_used += m_n;
}

CpuSlots::Hold::~Hold()
{
  {
    std::lock_guard lock(m_slots.m_mutex);
    m_slots.m_used -= m_n;
  }
  m_slots.m_freed.notify_all();
}

} // namespace clsync::transport
