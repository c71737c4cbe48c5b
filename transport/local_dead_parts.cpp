// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Temps a killed writer leaves at a volume root: lease and hold records are written under a part
// name carrying the writer's pid, then linked or renamed in; a SIGKILL between the two leaves the
// part. A part whose writer is gone is never linked in, so it can go.
#include "transport/local_node.hpp"

#include <cerrno>
#include <csignal>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace clsync::transport {
namespace {

constexpr std::string_view k_lease_part = ".clsync-part-lease-";     // <pid>-<n>
constexpr std::string_view k_hold_part = ".clsync-part-intent-hold"; // <32 hex>-<pid>-<n>
constexpr std::size_t k_hold_id_digits = 32;

/// The pid at the start of `rest` ("<pid>-…"); 0 when there is none.
long leading_pid(std::string_view rest)
{
  long pid = 0;
  const std::string_view digits = rest.substr(0, rest.find('-'));
  if (digits.empty() || digits.size() == rest.size()) {
    return 0;
  }
  for (char c : digits) {
    if (c < '0' || c > '9' || pid >= 100000000) {
      return 0;
    }
    pid = pid * 10 + (c - '0');
  }
  return pid;
}

bool pid_is_gone(long pid)
{
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

/// Whether the entry `name` is a dead writer's part of a kind `which` covers; `age_s` is its age.
bool is_dead_part(std::string_view name, DeadParts which, std::int64_t age_s)
{
  if (which == DeadParts::leases_and_holds && name.substr(0, k_lease_part.size()) == k_lease_part) {
    // Under the exclusive lease lock no live writer is in the middle of its write: a minute-old
    // part is dead even if its pid was reused.
    return pid_is_gone(leading_pid(name.substr(k_lease_part.size()))) || age_s > 60;
  }
  if (name.substr(0, k_hold_part.size()) != k_hold_part) {
    return false;
  }
  // Holds are placed without that lock: only a gone writer's part is dead, whatever its age.
  const std::string_view rest = name.substr(k_hold_part.size());
  if (rest.size() <= k_hold_id_digits || rest[k_hold_id_digits] != '-') {
    return false;
  }
  return pid_is_gone(leading_pid(rest.substr(k_hold_id_digits + 1)));
}

} // namespace

void remove_dead_parts(int rootfd, DeadParts which)
{
  const int dupfd = ::fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
  if (dupfd < 0) {
    return;
  }
  DIR* dir = ::fdopendir(dupfd);
  if (dir == nullptr) {
    ::close(dupfd);
    return;
  }
  ::rewinddir(dir);
  std::vector<std::string> dead;
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  while (struct dirent* e = ::readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name.rfind(".clsync-part-", 0) != 0) {
      continue;
    }
    struct stat st {};
    if (::fstatat(rootfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    if (is_dead_part(name, which, now - static_cast<std::int64_t>(st.st_mtim.tv_sec))) {
      dead.emplace_back(name);
    }
  }
  ::closedir(dir);
  for (const auto& name : dead) {
    ::unlinkat(rootfd, name.c_str(), 0);
  }
}

} // namespace clsync::transport
