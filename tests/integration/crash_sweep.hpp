// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

/// The crash sweeps (suites crash_move, crash_repo, crash_sync, crash_ssh): the real clsync
/// binary is killed with SIGKILL at every step of a writing command, the steps found by a clean
/// run (CLSYNC_TEST_FAULT_LOG lists every fault point reached) or by counting its syscalls under
/// strace. What a kill left is judged by walking the volumes and repositories here, with
/// std::filesystem and our own hashing: never with clsync's inventory or repository code.
namespace clsync::test {

/// CLSYNC_TEST_FULL=1: every kill site; otherwise a deterministic sample (see choose_sites).
bool full_sweep();

/// Where to kill: the n-th arrival at a fault point, or the n-th call of a syscall (strace).
struct KillSite {
  std::string point; ///< a fault point, or "syscall:<name>"
  int nth = 1;
  std::string label() const { return point + ":" + std::to_string(nth); }
};

/// Point → number of arrivals, from a CLSYNC_TEST_FAULT_LOG file.
std::map<std::string, int> read_fault_log(const std::filesystem::path& log);

/// Every (point, n) in full mode. Otherwise at most `budget` sites: each point's first and last
/// arrival, then middle arrivals picked by a seed that rotates daily (CLSYNC_TEST_SEED overrides,
/// to replay a CI run), so that every day's CI kills somewhere else.
std::vector<KillSite> choose_sites(const std::map<std::string, int>& arrivals, std::size_t budget);

/// One replica found on disk: its node and a digest of everything a copy must keep.
struct ReplicaOnDisk {
  std::string node;
  std::string digest;
};
/// Chunk key (path under the volume) → replicas.
using ReplicaMap = std::map<std::string, std::vector<ReplicaOnDisk>>;

struct VolumesOfNode {
  std::string node;
  std::vector<std::filesystem::path> volumes;
};

/// Walks the volumes: a chunk is a directory `depth` levels under a volume (the demo's
/// <db>/<date>/<hash>/<table> is 4); names starting with ".clsync" are not chunks.
ReplicaMap walk_replicas(const std::vector<VolumesOfNode>& nodes, int depth = 4);

/// Names, types, modes, sizes, mtimes (files) and bytes of everything under `dir`, hashed with
/// FNV-1a: equal digests mean an exact copy.
std::string tree_digest(const std::filesystem::path& dir);

/// Paths under `roots` that a finished run must not leave: `.clsync-*` (temps, trash, intents,
/// holds, leases) and `*.partial`.
std::vector<std::string> crash_leftovers(const std::vector<std::filesystem::path>& roots);

/// Problems (empty when none): a chunk of `before` held by fewer nodes with its own content
/// than before, or a replica whose content is neither the old one nor one in `allowed`
/// (chunk → digests the command was asked to write, e.g. sync's source).
std::vector<std::string>
replica_losses(const ReplicaMap& before,
               const ReplicaMap& after,
               const std::map<std::string, std::string>& allowed = {});

/// Problems of a backup repository read as bytes: every snapshot (snapshots/*.json) names
/// objects that exist at objects/<aa>/<hash>.tar.zst with the recorded size and SHA-256
/// (computed by sha256sum). Fills `objects_named` when given.
std::vector<std::string> repository_problems(const std::filesystem::path& repo,
                                             std::size_t* objects_named = nullptr);

/// Snapshot ids in `repo` (file names under snapshots/ without .json).
std::vector<std::string> snapshot_ids(const std::filesystem::path& repo);

/// A private copy of the demo's clusters A (P1-dn1, P2-dn1 holding both replicas of Level1's
/// 30 chunks up to 2020.06.03, P3-dn1 empty) and B (B1..B3, empty), on a tmpfs of its own
/// (unmounted when it goes): copies and fsyncs cost little, so a sweep kills at many sites.
struct SweepCluster {
  std::filesystem::path dir;
  std::filesystem::path a_yaml, b_yaml, state;
  std::vector<VolumesOfNode> a_vols, b_vols;
  /// With `repo`, also a copy of a repository holding one backup of those 30 chunks at dir/repo.
  explicit SweepCluster(const std::string& name, bool repo = false);
  ~SweepCluster();
  SweepCluster(const SweepCluster&) = delete;
  SweepCluster& operator=(const SweepCluster&) = delete;
  /// "-c <a_yaml> --state-dir <state> ".
  std::string a_args() const;
  /// All volumes of A and B.
  std::vector<std::filesystem::path> volumes() const;
};

/// The topology text of local nodes (`volumes` of each), replication 2, the demo's databases.
std::string sweep_topology(const std::string& cluster, const std::vector<VolumesOfNode>& nodes);

/// One command under test, on a private fixture made fresh for every kill.
struct CrashCase {
  virtual ~CrashCase() = default;
  /// The clsync arguments of the run (shell-quoted).
  virtual std::string command() = 0;
  /// Extra environment of every run ("" or "VAR=value ...").
  virtual std::string env() { return ""; }
  /// Exit status of a successful run (the kill-free discovery run and the rerun).
  virtual int ok_status() { return 0; }
  /// Called after the killed run: the invariants that must hold whatever was killed when.
  virtual void check_after_kill(const std::string& label) = 0;
  /// Called after the rerun: the intended end state, with no leftovers.
  virtual void check_converged(const std::string& label) = 0;
};

/// What a sweep did, for the test's message.
struct SweepCount {
  std::size_t points = 0;     ///< distinct fault points (or syscalls) the command reaches
  std::size_t sites = 0;      ///< (point, n) pairs existing
  std::size_t swept = 0;      ///< kills attempted
  std::size_t killed = 0;     ///< runs that did die at their site
};

/// Sweeps the fault points of `make(name)`'s command: a clean run with a fault log finds the
/// sites, then for each chosen site a fresh case is killed there, checked, rerun and checked.
/// `label` names the command and transport in the messages and the printed count.
SweepCount sweep_fault_points(const std::string& label,
                              const std::function<std::unique_ptr<CrashCase>(const std::string&)>& make,
                              std::size_t budget);

/// Kills one fresh case at `site` (a fault point), checks, reruns, checks; true when it died
/// there. For regressions found by a sweep: they run every day, not when the sample says.
bool kill_at_site(const std::string& label,
                  const std::function<std::unique_ptr<CrashCase>(const std::string&)>& make,
                  const KillSite& site);

/// The same with `strace -f -e inject=<syscall>:signal=SIGKILL:when=N` for each of `syscalls`
/// (counted per thread by strace, so cases run with one worker).
SweepCount sweep_syscalls(const std::string& label,
                          const std::function<std::unique_ptr<CrashCase>(const std::string&)>& make,
                          const std::vector<std::string>& syscalls,
                          std::size_t budget);

/// Runs `shell_command` under /bin/sh; the exit status, 128 + signal when killed.
int run_shell(const std::string& shell_command, std::string* out = nullptr);

} // namespace clsync::test
