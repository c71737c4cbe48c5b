// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/host_identity.hpp"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <unistd.h>

namespace clsync::transport {
namespace {

std::string first_line(const char* path)
{
  std::ifstream in(path);
  std::string line;
  if (in && std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ' || line.back() == '\r')) {
      line.pop_back();
    }
    return line;
  }
  return {};
}

HostIdentity read_identity()
{
  HostIdentity id;
  id.machine_id = first_line("/etc/machine-id");
  if (id.machine_id.empty()) {
    id.machine_id = first_line("/var/lib/dbus/machine-id");
  }
  if (id.machine_id.empty()) {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
      std::snprintf(buf, sizeof buf, "localhost");
    }
    id.machine_id = std::string("host:") + buf;
  }
  id.boot_id = first_line("/proc/sys/kernel/random/boot_id");
  return id;
}

} // namespace

const HostIdentity& this_host_identity()
{
  static const HostIdentity id = read_identity();
  return id;
}

std::uint64_t process_start_ticks(std::int64_t pid)
{
  if (pid <= 0) {
    return 0;
  }
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "pid (comm) state ppid …": comm may hold spaces and parentheses; fields follow the last ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  // After ')' come fields 3.. ; starttime is field 22, the 20th after the parenthesis.
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> field)) {
      return 0;
    }
  }
  try {
    return std::stoull(field);
  } catch (...) {
    return 0;
  }
}

} // namespace clsync::transport
