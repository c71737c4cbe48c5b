// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <condition_variable>
#include <mutex>

namespace clsync::transport {

/// Slots for CPU-bound work, one per core this process may run on. A zstd stream keeps a few
/// MiB of window and tables hot in its core's cache; with more streams than cores, the kernel
/// switches between them and each comes back to a cold cache. Measured (bench/README.md, "lead:
/// compression slots"): backup of the demo at 4 MiB chunks, 6 objects packed at once on 2
/// cores, spent ~30% more CPU in zstd than 2 at once for the same bytes.
class CpuSlots {
public:
  explicit CpuSlots(int slots);

  /// The process's slots: as many as the cores in its CPU affinity mask.
  static CpuSlots& process();

  /// Holds `n` slots (at most all of them) while alive; waits until they are free.
  class Hold {
  public:
    Hold(CpuSlots& slots, int n);
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

  private:
    CpuSlots& m_slots;
    int m_n;
  };

  int slots() const { return m_slots; }
  int in_use() const;

private:
  const int m_slots;
  mutable std::mutex m_mutex;
  std::condition_variable m_freed;
  int m_used = 0;
};

} // namespace clsync::transport
