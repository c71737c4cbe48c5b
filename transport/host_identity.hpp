// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstdint>
#include <string>

/// Who "this host" is, for leases (is the holder's pid ours to probe?) and volume identity (is
/// one physical directory listed twice?). A host name does not serve: cloned machines share one.
namespace clsync::transport {

struct HostIdentity {
  /// /etc/machine-id (or /var/lib/dbus/machine-id); "host:<hostname>" when neither is readable.
  std::string machine_id;
  /// /proc/sys/kernel/random/boot_id: a pid only means something within one boot.
  std::string boot_id;
};

/// This machine's identity, read once and cached. Never throws.
const HostIdentity& this_host_identity();

/// The start time of process `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat),
/// or 0 when the process does not exist or cannot be read. With the boot id it tells a live
/// holder from a new process that reuses a dead holder's pid.
std::uint64_t process_start_ticks(std::int64_t pid);

} // namespace clsync::transport
