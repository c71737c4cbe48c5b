// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/integration/faults_fixture.hpp"

#include "tests/support/chunk_tree.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/statvfs.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>

extern char** environ;

namespace fs = std::filesystem;

namespace clsync::test::faults {
namespace fixture_detail {

constexpr std::int64_t k_fixture_mtime = 1'591'000'000'123'456'789;

int exit_status_of(int status)
{
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

bool is_clsync_name(const std::string& name) { return name.rfind(".clsync", 0) == 0; }

/// Chunk directories 4 levels below `root` (db/date/hash/table), relative paths.
void collect_chunks(const fs::path& root, const fs::path& rel, int depth,
                    std::vector<std::string>& out)
{
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root / rel, ec)) {
    const std::string name = e.path().filename().string();
    if (is_clsync_name(name) || name == "lost+found" || !e.is_directory() || e.is_symlink()) {
      continue;
    }
    if (depth == 3) {
      out.push_back((rel / name).string());
    } else {
      collect_chunks(root, rel / name, depth + 1, out);
    }
  }
}

} // namespace fixture_detail

using namespace fixture_detail;

DetachableVolume::DetachableVolume(fs::path volume, const fs::path& disk)
    : m_volume(std::move(volume)), m_disk(disk / m_volume.filename())
{
  fs::create_directories(disk);
  fs::rename(m_volume, m_disk);
  fs::create_directories(m_volume);
  attach();
}

DetachableVolume::~DetachableVolume()
{
  run_command("umount -l " + fault_quote(m_volume.string()) + " 2>/dev/null");
}

void DetachableVolume::attach() const
{
  REQUIRE(run_command("mount --bind " + fault_quote(m_disk.string()) + " " +
                      fault_quote(m_volume.string())) == 0);
}

void DetachableVolume::detach() const
{
  REQUIRE(run_command("umount -l " + fault_quote(m_volume.string())) == 0);
}

void run_into_read_only(const std::string& args, FaultTmpfs& t, const fs::path& pause)
{
  PausedRun run(args, "after_intent", pause);
  REQUIRE(run.reached());
  t.remount("ro");
  Outcome o = run.finish();
  check_failed(o, {"Read-only file system", t.path().string()});
}

std::string fault_quote(const std::string& s)
{
  std::string out = "'";
  for (char c : s) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

FaultCluster::FaultCluster(fs::path d, int repl, std::vector<FaultNode> ns)
    : dir(std::move(d)), yaml(dir / "cluster.yaml"), state(dir / "state"), replication(repl),
      nodes(std::move(ns))
{
  for (const auto& n : nodes) {
    for (const auto& v : n.volumes) {
      fs::create_directories(v);
    }
  }
  write();
}

void FaultCluster::write() const
{
  std::string y = "cluster: faults\nreplication: " + std::to_string(replication) + "\n";
  if (!ssh.empty()) {
    y += "ssh:\n";
    for (const auto& l : ssh) {
      y += l + "\n";
    }
  }
  y += "nodes:\n";
  for (const auto& n : nodes) {
    y += "  - name: " + n.name + "\n    host: " + n.host + "\n";
    if (n.port != 0) {
      y += "    port: " + std::to_string(n.port) + "\n";
    }
    y += "    volumes: [";
    for (std::size_t i = 0; i < n.volumes.size(); ++i) {
      y += (i ? ", \"" : "\"") + n.volumes[i].string() + "\"";
    }
    y += "]\n";
  }
  y += "databases:\n  Level1:\n    levels: [date, hash]\n";
  write_file(yaml, y);
}

std::string FaultCluster::args() const
{
  return "-c " + fault_quote(yaml.string()) + " --state-dir " + fault_quote(state.string()) + " ";
}

const FaultNode& FaultCluster::node(const std::string& name) const
{
  for (const auto& n : nodes) {
    if (n.name == name) {
      return n;
    }
  }
  FAIL("no node " << name);
  return nodes.front();
}

Outcome run_clsync_all(const std::string& args, const std::string& env, const std::string& wrapper)
{
  Outcome o;
  std::string cmd = env + (env.empty() ? "" : " ") + wrapper + (wrapper.empty() ? "" : " ") +
                    CLSYNC_BINARY + std::string(" ") + args + " 2>&1";
  o.code = run_command(cmd, &o.out);
  return o;
}

PausedRun::PausedRun(const std::string& args, const std::string& point, const fs::path& dir,
                     const std::string& env)
    : m_dir(dir), m_point(point), m_out(dir / (point + ".out"))
{
  fs::create_directories(dir);
  fs::remove(dir / (point + ".reached"));
  fs::remove(dir / (point + ".go"));
  std::string cmd = "exec env CLSYNC_TEST_PAUSE_AT=" + fault_quote(point + ":" + dir.string()) + " " +
                    env + " " + CLSYNC_BINARY + " " + args + " >" + fault_quote(m_out.string()) + " 2>&1";
  std::string sh = "/bin/sh", dash_c = "-c";
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  REQUIRE(posix_spawn(&m_pid, "/bin/sh", nullptr, nullptr, argv, environ) == 0);
  for (int i = 0; i < 1200; ++i) {
    if (fs::exists(dir / (point + ".reached"))) {
      m_reached = true;
      return;
    }
    int status = 0;
    if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_done = true;
      INFO("output: ", read_file(m_out));
      FAIL("the run ended (status ", exit_status_of(status), ") before reaching ", point);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("the run did not reach " << point << " within 60 s");
}

PausedRun::~PausedRun()
{
  if (!m_done && m_pid > 0) {
    ::kill(m_pid, SIGKILL);
    ::waitpid(m_pid, nullptr, 0);
  }
}

Outcome PausedRun::finish()
{
  Outcome o;
  write_file(m_dir / (m_point + ".go"), "");
  if (!m_done) {
    int status = 0;
    REQUIRE(::waitpid(m_pid, &status, 0) == m_pid);
    m_done = true;
    o.code = exit_status_of(status);
  }
  o.out = read_file(m_out);
  return o;
}

void put_fault_file(const fs::path& path, std::uint64_t size, std::uint64_t seed)
{
  fill_file(path, size, seed);
  ::chmod(path.c_str(), 0644);
  set_mtime(path, k_fixture_mtime + static_cast<std::int64_t>(seed));
}

std::map<std::string, std::set<std::string>> chunks_on_disk(const FaultCluster& c)
{
  std::map<std::string, std::set<std::string>> out;
  for (const auto& n : c.nodes) {
    for (const auto& v : n.volumes) {
      std::vector<std::string> keys;
      collect_chunks(v, "", 0, keys);
      for (auto& k : keys) {
        out[k].insert(n.name);
      }
    }
  }
  return out;
}

std::string fault_tree_digest(const fs::path& dir)
{
  std::vector<std::string> lines;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) {
      lines.push_back(it->path().lexically_relative(dir).string() + " vanished");
      continue;
    }
    std::string line = it->path().lexically_relative(dir).string() + ' ' +
                       std::to_string(st.st_mode) + ' ' + std::to_string(st.st_size) + ' ' +
                       std::to_string(st.st_mtim.tv_sec) + '.' + std::to_string(st.st_mtim.tv_nsec);
    if (S_ISREG(st.st_mode)) {
      line += ' ' + sha256_of_file(it->path());
    } else if (S_ISDIR(st.st_mode)) {
      line.erase(line.rfind(' ')); // a directory's mtime changes as entries come and go
      line.erase(line.rfind(' '));
    }
    lines.push_back(std::move(line));
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) {
    out += l + '\n';
  }
  return out;
}

std::map<std::string, std::map<std::string, std::string>> replica_digests(const FaultCluster& c)
{
  std::map<std::string, std::map<std::string, std::string>> out;
  for (const auto& n : c.nodes) {
    for (const auto& v : n.volumes) {
      std::vector<std::string> keys;
      collect_chunks(v, "", 0, keys);
      for (auto& k : keys) {
        out[k][n.name] = fault_tree_digest(v / k);
      }
    }
  }
  return out;
}

std::vector<std::string> clsync_leftovers(const FaultCluster& c, const std::vector<fs::path>& extra)
{
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& n : c.nodes) {
    for (const auto& v : n.volumes) {
      for (const auto& e : fs::directory_iterator(v, ec)) {
        if (is_clsync_name(e.path().filename().string())) {
          out.push_back(e.path().string());
        }
      }
    }
  }
  for (const auto& root : extra) {
    for (auto it = fs::recursive_directory_iterator(root, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.find(".partial") != std::string::npos || name.rfind(".clsync-part", 0) == 0 ||
          name.rfind(".clsync-tmp", 0) == 0) {
        out.push_back(it->path().string());
      }
    }
  }
  return out;
}

bool full_sweep()
{
  const char* f = std::getenv("CLSYNC_TEST_FULL");
  return f && std::string(f) == "1";
}

std::vector<int> sample_points(int n, int sample)
{
  std::vector<int> out;
  if (n <= 0) {
    return out;
  }
  if (full_sweep() || n <= sample) {
    for (int i = 1; i <= n; ++i) {
      out.push_back(i);
    }
    return out;
  }
  for (int i = 0; i < sample; ++i) {
    int v = 1 + static_cast<int>((static_cast<long>(n - 1) * i) / std::max(1, sample - 1));
    if (out.empty() || out.back() != v) {
      out.push_back(v);
    }
  }
  return out;
}

FaultTmpfs::FaultTmpfs(const fs::path& path, const std::string& options) : m_path(path)
{
  fs::create_directories(path);
  std::string out;
  int rc = run_command("mount -t tmpfs -o " + fault_quote(options) + " clsync-faults " + fault_quote(path.string()) +
                           " 2>&1",
                       &out);
  INFO("mount tmpfs at ", path.string(), ": ", out);
  REQUIRE_MESSAGE(rc == 0, "these tests need root and tmpfs; mount failed");
}

FaultTmpfs::~FaultTmpfs() { run_command("umount -l " + fault_quote(m_path.string()) + " 2>/dev/null"); }

void FaultTmpfs::remount(const std::string& options)
{
  std::string out;
  int rc = run_command("mount -o " + fault_quote("remount," + options) + " " + fault_quote(m_path.string()) +
                           " 2>&1",
                       &out);
  INFO("remount ", m_path.string(), ": ", out);
  REQUIRE(rc == 0);
}

/// What a failed run must say: exit 1 or 3 and every part of `names`.
void check_failed(const Outcome& o, const std::vector<std::string>& names)
{
  INFO("clsync said:\n", o.out);
  CHECK((o.code == 1 || o.code == 3));
  for (const auto& n : names) {
    CHECK_MESSAGE(contains(o.out, n), "the message does not name " << n);
  }
}

/// Fills `dir`'s filesystem until `keep` bytes are left (a file named `filler`).
void fill_leaving(const fs::path& dir, std::uint64_t keep)
{
  struct statvfs sv {};
  REQUIRE(::statvfs(dir.c_str(), &sv) == 0);
  const std::uint64_t avail = static_cast<std::uint64_t>(sv.f_bavail) * sv.f_frsize;
  REQUIRE(avail > keep);
  std::ofstream f(dir / "filler", std::ios::binary);
  std::string block(1 << 16, 'x');
  for (std::uint64_t left = avail - keep; left > 0;) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, block.size()));
    f.write(block.data(), static_cast<std::streamsize>(n));
    left -= n;
  }
}

/// The line of the call strace failed, from its log. A call that another thread's call cut in
/// two (strace prints "PID fsync(5</path> <unfinished ...>", later "PID <... fsync resumed>) =
/// -1 EIO") is put back together from its thread's two halves, so the path is in the line.
std::string injected_call(const fs::path& log)
{
  std::istringstream in(read_file(log));
  std::map<std::string, std::string> unfinished; ///< thread id → its call's first half
  for (std::string line; std::getline(in, line);) {
    const std::string tid = line.substr(0, line.find(' '));
    const auto cut = line.find(" <unfinished ...>");
    if (cut != std::string::npos) {
      unfinished[tid] = line.substr(0, cut);
      continue;
    }
    if (contains(line, "(INJECTED)")) {
      const auto resumed = line.find(" resumed>");
      if (resumed != std::string::npos && unfinished.count(tid)) {
        return unfinished[tid] + line.substr(resumed + 9);
      }
      return line;
    }
  }
  return "";
}

/// Attaches strace to every thread of `pid` with `syscall` failing with EIO at its `n`-th call
/// from now on; returns once the tracer holds the process.
void attach_eio(pid_t pid, const fs::path& log, const std::string& syscall, int n)
{
  REQUIRE(run_command("strace -f -qq -y -o " + fault_quote(log.string()) + " -p " +
                      std::to_string(pid) + " -e trace=" + syscall + " -e inject=" + syscall +
                      ":error=EIO:when=" + std::to_string(n) + " >/dev/null 2>&1 &") == 0);
  for (int i = 0; i < 200; ++i) {
    std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
    auto at = status.find("TracerPid:");
    if (at != std::string::npos && std::atoi(status.c_str() + at + 10) != 0) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("strace did not attach to " << pid);
}

std::vector<TracedCall> trace_calls(const fs::path& log, const std::string& syscalls,
                                    const std::string& args)
{
  Outcome o = run_clsync_all(args, "",
                             "strace -f -qq -y -o " + fault_quote(log.string()) + " -e trace=" + syscalls);
  INFO(o.out);
  REQUIRE_MESSAGE(o.code != 127, "strace is missing (scripts/install-deps.sh installs it)");
  REQUIRE(o.code == 0);
  std::vector<TracedCall> out;
  std::istringstream in(read_file(log));
  for (std::string line; std::getline(in, line);) {
    if (contains(line, "resumed>")) {
      continue; // the second half of a call strace printed in two parts
    }
    for (const auto& s : {std::string("fsync("), std::string("fdatasync("),
                          std::string("renameat2("), std::string("write("),
                          std::string("pwrite64(")}) {
      if (contains(line, s) && contains(syscalls, s.substr(0, s.size() - 1))) {
        out.push_back({static_cast<int>(out.size()) + 1, line});
        break;
      }
    }
  }
  return out;
}

Outcome run_with_eio(const fs::path& log, const std::string& syscall, int n, const std::string& args,
                     bool& injected)
{
  Outcome o = run_clsync_all(args, "",
                             "strace -f -qq -y -o " + fault_quote(log.string()) + " -e trace=" +
                                 syscall + " -e inject=" + syscall + ":error=EIO:when=" +
                                 std::to_string(n));
  injected = contains(read_file(log), "(INJECTED)");
  return o;
}

} // namespace clsync::test::faults
