// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <filesystem>
#include <map>
#include <cstdint>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

/// Shared by the `faults_disk`, `faults_net` and `faults_source` suites: small clusters of real
/// volumes (plain directories, tmpfs and bind mounts), the real clsync binary run under faults,
/// and checks that look at the volumes directly, never through clsync's own code.
namespace clsync::test::faults {

/// Two chunk keys of the fault suites' clusters (database Level1, levels date and hash).
inline const std::string k_key_a = "Level1/20200601/0/T";
inline const std::string k_key_b = "Level1/20200602/0/T";

/// One node of a test topology. `host` "local", or an address with `port` (an sshd).
struct FaultNode {
  std::string name;
  std::vector<std::filesystem::path> volumes;
  std::string host = "local";
  int port = 0;
};

/// A topology file for database Level1 (levels date, hash: a chunk is 4 levels deep).
struct FaultCluster {
  std::filesystem::path dir;
  std::filesystem::path yaml;
  std::filesystem::path state;
  int replication = 1;
  std::vector<FaultNode> nodes;
  /// Lines of the topology's `ssh:` block (each "  key: value"); empty: no block.
  std::vector<std::string> ssh;

  FaultCluster(std::filesystem::path dir, int replication, std::vector<FaultNode> nodes);
  /// (Re)writes the topology file from the fields above.
  void write() const;
  /// "-c '<yaml>' --state-dir '<state>' ": the global options of every run on this cluster.
  std::string args() const;
  const FaultNode& node(const std::string& name) const;
};

/// What a run of the binary left: its exit status (128 + signal when killed) and its stdout and
/// stderr together.
struct Outcome {
  int code = -1;
  std::string out;
};

/// Runs `<env> <wrapper> clsync <args>` through the shell, stdout and stderr captured together.
Outcome run_clsync_all(const std::string& args,
                       const std::string& env = "",
                       const std::string& wrapper = "");

/// A run of the binary stopped at a fault point (CLSYNC_TEST_PAUSE_AT, core/fault.hpp) so the
/// test can change the world at an exact moment, then let it go on.
class PausedRun {
public:
  /// Starts `clsync <args>` with `env` and waits (up to 60 s) until it reaches `point`.
  /// REQUIREs that it got there (a run that ended before the point fails the test).
  PausedRun(const std::string& args,
            const std::string& point,
            const std::filesystem::path& dir,
            const std::string& env = "");
  ~PausedRun();
  PausedRun(const PausedRun&) = delete;
  PausedRun& operator=(const PausedRun&) = delete;
  /// True when the run reached the point (false: it exited first; its output is in finish()).
  bool reached() const { return m_reached; }
  pid_t pid() const { return m_pid; }
  /// Lets the run continue and waits for it to end.
  Outcome finish();

private:
  std::filesystem::path m_dir;
  std::string m_point;
  std::filesystem::path m_out;
  pid_t m_pid = -1;
  bool m_reached = false;
  bool m_done = false;
};

/// Writes a file of `size` pseudo-random bytes (seed) with mode 0644 and a fixed mtime.
void put_fault_file(const std::filesystem::path& path, std::uint64_t size, std::uint64_t seed);

/// Chunk key → the nodes holding a directory at that key (4 levels below a volume root, names
/// beginning with ".clsync" skipped), read from the volumes directly.
std::map<std::string, std::set<std::string>> chunks_on_disk(const FaultCluster& c);

/// Every entry below `dir` as "relpath type mode size mtime sha256": equal digests are
/// byte-identical trees with the same metadata. Read with plain system calls.
std::string fault_tree_digest(const std::filesystem::path& dir);

/// Digests (fault_tree_digest) of every replica of every chunk: key → node → digest.
std::map<std::string, std::map<std::string, std::string>> replica_digests(const FaultCluster& c);

/// Names beginning with ".clsync" at the root of any volume (temps, trash, intents, leases,
/// holds), and any "*.partial" or ".clsync-part-*" below `extra` roots (repositories), as paths.
std::vector<std::string> clsync_leftovers(const FaultCluster& c,
                                   const std::vector<std::filesystem::path>& extra = {});

/// True when CLSYNC_TEST_FULL=1: sweeps every value instead of CI's sample.
bool full_sweep();

/// The first `sample` values of 1..n spread evenly (first and last included), or all of them
/// under full_sweep().
std::vector<int> sample_points(int n, int sample);

/// `mount -t tmpfs -o <options>` at `path` (created); REQUIREs success. Unmounted lazily by
/// unmount() or the destructor.
class FaultTmpfs {
public:
  FaultTmpfs(const std::filesystem::path& path, const std::string& options);
  ~FaultTmpfs();
  FaultTmpfs(const FaultTmpfs&) = delete;
  FaultTmpfs& operator=(const FaultTmpfs&) = delete;
  /// `mount -o remount,<options>`; REQUIREs success.
  void remount(const std::string& options);
  const std::filesystem::path& path() const { return m_path; }

private:
  std::filesystem::path m_path;
};

/// A volume that can vanish as a pulled disk does: its directory's contents move to `disk` and
/// are bind-mounted back at `volume`. Unmounted (lazily) when it goes.
class DetachableVolume {
public:
  DetachableVolume(std::filesystem::path volume, const std::filesystem::path& disk);
  ~DetachableVolume();
  DetachableVolume(const DetachableVolume&) = delete;
  DetachableVolume& operator=(const DetachableVolume&) = delete;
  /// Mounts the data at the volume again; REQUIREs success.
  void attach() const;
  /// `umount -l` of the volume: its data is gone from there; REQUIREs success.
  void detach() const;

private:
  std::filesystem::path m_volume;
  std::filesystem::path m_disk;
};

/// Runs `clsync <args>` paused after its first intent (before a copy opens a file: a tmpfs with
/// a file open for writing cannot be remounted read-only), remounts `t` read-only there and
/// lets it finish: it must fail saying so and naming the volume. `t` stays read-only.
void run_into_read_only(const std::string& args, FaultTmpfs& t, const std::filesystem::path& pause);

/// Shell-quotes `s` in single quotes.
std::string fault_quote(const std::string& s);

/// What a failed run must say: exit 1 or 3 and every part of `names` (CHECKed).
void check_failed(const Outcome& o, const std::vector<std::string>& names);

/// Fills `dir`'s filesystem until `keep` bytes are left (a file named `filler` in `dir`).
void fill_leaving(const std::filesystem::path& dir, std::uint64_t keep);

/// The line of the call strace failed ("(INJECTED)"), from its log; "" when none.
std::string injected_call(const std::filesystem::path& log);

/// Attaches strace to every thread of `pid` with `syscall` failing with EIO at its `n`-th call
/// from now on; returns once the tracer holds the process.
void attach_eio(pid_t pid, const std::filesystem::path& log, const std::string& syscall, int n);

/// One line of an strace log: the call's number among the traced ones and its first argument
/// as strace -y prints it ("5</path>").
struct TracedCall {
  int n = 0;
  std::string text;
};

/// The calls of `syscalls` the command makes, in order (all threads), from one traced run.
std::vector<TracedCall> trace_calls(const std::filesystem::path& log, const std::string& syscalls,
                                    const std::string& args);

/// Runs `args` with `syscall` failing with EIO at its `n`-th call. `injected` tells whether
/// strace did inject (a run with fewer calls than the probe's, threads differing, may not).
Outcome run_with_eio(const std::filesystem::path& log, const std::string& syscall, int n,
                     const std::string& args, bool& injected);

} // namespace clsync::test::faults
