// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/node.hpp"
#include "transport/posix_io.hpp"

#include <mutex>
#include <set>
#include <string>
#include <vector>

/// The node whose volumes are on this machine: every Node operation as direct system calls.
/// It serves `host: local` nodes and is what `clsync agent` runs on a remote node, so it is the
/// single implementation of every node operation.
///
/// Safety rules it keeps (SPEC §3, §5):
/// - a `volume`/`root` argument must equal one of the configured roots (trailing '/' ignored),
///   else FailureKind::refused; keys and relative paths are checked by relative_path_problem()
///   and resolved beneath the root without following symlinks (refused when one is met);
/// - chunks are written into `<volume>/.clsync-tmp-<task>/` and renamed into place with
///   RENAME_NOREPLACE (or RENAME_EXCHANGE); nothing is ever written inside an existing chunk;
/// - durability: a writer calls sync_file_range(SYNC_FILE_RANGE_WRITE) as each file is closed,
///   so writeback starts early, and at finish() fsyncs every file and then every directory of
///   the temp tree, deepest first — one batch per chunk. syncfs() was rejected: on a database
///   node it would also flush the database's own dirty pages. Renames fsync both parents.
///
/// Choices the interface leaves open:
/// - hard links: the first name in path order carries the data, later names travel as
///   `link_to` entries and are recreated with linkat(2); ChunkDigest::files counts every name;
/// - the lease is written to a temp file, fsynced, then linked in with link(2), which fails
///   with EEXIST exactly like O_EXCL but never exposes a half-written lease; its heartbeat is
///   stamped with the node's clock, and age_seconds is computed on the node;
/// - copy_chunk_local returns the digest of the source as read (its fingerprint is the one a
///   caller compares with the task's start), after checking the copy hashes the same;
/// - remove_file of a missing file is a no-op, of an empty directory removes it; list_dir
///   hides writers' `*.clsync-part-*` temps, symlinks and special files;
/// - directories inside a written chunk are created 0755 (the stream carries files only).
///
/// Every error message starts with describe() ("node P1-dn1") and names the path.
/// Thread-safe: the object holds only its configuration (and the fence, under a mutex); each
/// call opens its own descriptors.
/// Lease operations are serialised across processes with flock(2) on the volume root; fenced
/// operations hold that lock shared while they run.
namespace clsync::transport {

/// Temp files of LocalNode's file writers carry this in their names; listings skip them.
inline constexpr const char* k_part_marker = ".clsync-part-";

class DirectPuller;  // transport/direct_pull.hpp

class LocalNode final : public Node {
public:
  using Node::create_file;
  /// `name` is the node's name for messages; `roots` its volumes (or a repository root),
  /// absolute paths. Throws TransportError(refused) for a relative or empty root.
  LocalNode(std::string name, std::vector<std::string> roots);

  std::string describe() const override;
  /// The configured roots, normalised (no trailing '/').
  const std::vector<std::string>& roots() const { return m_roots; }

  NodeScan scan(const ScanSpec& spec) override;
  NodeScan scan_batched(const ScanSpec& spec, const ReplicaBatchSink& sink) override;
  ChunkDigest read_chunk(const std::string& volume,
                         const std::string& key,
                         ChunkSink& sink) override;
  std::unique_ptr<ChunkWriter> write_chunk(const std::string& volume,
                                           const std::string& task) override;
  /// As Node's, but the files are hashed once: the unpacker checks each file's SHA-256 against
  /// the manifest, so the writer takes that checked hash instead of hashing the bytes again.
  std::unique_ptr<ObjectWriter> unpack_chunk(const std::string& volume,
                                             const std::string& task,
                                             const ChunkManifest& expected) override;
  std::string fingerprint(const std::string& volume, const std::string& key) override;
  ChunkDigest hash_chunk(const std::string& volume, const std::string& key) override;
  CommitOutcome commit_chunk(const std::string& volume,
                             const std::string& task,
                             const std::string& key,
                             CommitMode mode) override;
  RenameOutcome rename_chunk(const std::string& from_volume,
                             const std::string& key,
                             const std::string& to_volume) override;
  /// Every rename of the batch, then one fsync per touched directory (local_rename_batch.cpp).
  std::vector<RenameItemResult> rename_chunks(const std::string& from_volume,
                                              const std::string& to_volume,
                                              const std::vector<RenameItem>& items) override;
  ChunkDigest copy_chunk_local(const std::string& from_volume,
                               const std::string& key,
                               const std::string& to_volume,
                               const std::string& task) override;
  std::string trash_chunk(const std::string& volume,
                          const std::string& key,
                          const std::string& task) override;
  void untrash_chunk(const std::string& volume,
                     const std::string& task,
                     const std::string& key) override;
  void remove_task_dirs(const std::string& volume, const std::string& task) override;
  void write_intent(const std::string& volume,
                    const std::string& task,
                    const std::string& record) override;
  void remove_intent(const std::string& volume, const std::string& task) override;
  std::vector<ChunkLocation> locate_chunk(const std::string& key) override;
  std::vector<std::string> volumes_holding(const std::string& key) override;
  std::string
  place_hold(const std::string& volume, const std::string& key, const std::string& record) override;
  void release_hold(const std::string& volume,
                    const std::string& key,
                    const std::string& record) override;

  LeaseResult acquire_lease(const std::string& volume,
                            const LeaseInfo& mine,
                            const std::string& replace_run_id) override;
  void refresh_lease(const std::string& volume, const LeaseInfo& mine) override;
  void release_lease(const std::string& volume, const std::string& run_id, bool force) override;
  std::optional<LeaseInfo> read_lease(const std::string& volume) override;
  void set_fence(const std::string& run_id) override;

  void read_file(const std::string& root,
                 const std::string& relpath,
                 std::uint64_t offset,
                 ByteSink& sink) override;
  std::unique_ptr<FileWriter> create_file(const std::string& root,
                                          const std::string& relpath,
                                          FileDurability durability) override;
  std::vector<DirEntry> list_dir(const std::string& root, const std::string& relpath) override;
  void remove_file(const std::string& root, const std::string& relpath) override;
  std::unique_ptr<AppendWriter> append_file(const std::string& root,
                                            const std::string& relpath,
                                            const std::string& expected_sha256) override;
  std::vector<DirEntry> list_tree(const std::string& root, const std::string& relpath) override;
  void create_dir(const std::string& root, const std::string& relpath, std::uint32_t mode) override;
  void rename_file(const std::string& root, const std::string& from, const std::string& to) override;
  /// Through this machine's ssh client (transport/direct_pull.hpp); the source agents' pools
  /// live as long as this node.
  PullResult pull_chunk(const std::string& volume,
                        const std::string& task,
                        const DirectSource& source,
                        const std::function<void(std::uint64_t)>& on_bytes) override;

  // Helpers shared by the implementation files (local_*.cpp); not part of the Node contract.

  /// The configured root equal to `volume`; throws refused when there is none.
  const std::string& root_of(const std::string& volume) const;
  /// Opens a configured root; throws refused (not configured) or not_found/error.
  UniqueFd open_volume(const std::string& volume) const;
  /// Throws refused unless `path` is acceptable for `use` (see safe_path.hpp).
  void check_relative(const std::string& path, bool is_key, const std::string& volume) const;
  /// Throws refused unless `task` is a valid task id.
  void check_task(const std::string& task) const;
  /// Opens the chunk directory `key` beneath `rootfd`; throws not_found / refused.
  UniqueFd open_chunk(int rootfd, const std::string& volume, const std::string& key) const;

  /// With a fence set: opens `volume`, takes its lease lock shared and throws refused unless
  /// the fence run holds its lease; the returned descriptor keeps the lock (a takeover waits
  /// for the operation). Without a fence: an empty descriptor.
  UniqueFd check_fence(const std::string& volume) const;

private:
  /// Removes the volume's dead hold parts the first time this node places a hold there.
  void sweep_dead_hold_parts(const std::string& volume, int rootfd);
  /// write_chunk's writer; `hash_files` false: end_file's hash is taken as checked by the caller.
  std::unique_ptr<ChunkWriter> open_chunk_writer(const std::string& volume,
                                                 const std::string& task,
                                                 bool hash_files);

  std::string m_name;
  std::vector<std::string> m_roots;
  mutable std::mutex m_fence_mutex;
  std::string m_fence;
  std::shared_ptr<DirectPuller> m_puller;  ///< under m_fence_mutex; made on first pull
  /// Volumes whose dead hold parts this process has swept (place_hold, once per volume).
  std::mutex m_swept_mutex;
  std::set<std::string> m_swept_holds;
};

/// Names clsync gives its own entries at a volume root (SPEC §5).
std::string tmp_dir_name(const std::string& task);
std::string trash_dir_name(const std::string& task);
std::string intent_name(const std::string& task);
/// `.clsync-hold-<first 32 hex digits of SHA-256 of key>`: the removal hold of a chunk.
std::string hold_name(const std::string& key);
/// Whether the hold of `record` (core's hold_record: "machine", "boot") must survive a crash of
/// this machine, i.e. be made durable by an fsync of the volume root when placed and released.
/// Not when its holder is a process of this machine in this boot (a local node, or an agent
/// reached over ssh from this same machine): a crash ends the holder's run with the hold, and a
/// hold whose holder is gone decides nothing — recovery removes it when it finds it, and finding
/// it or not changes nothing else (core/run/recovery.cpp, SPEC §5). A holder on another machine
/// may outlive this node's crash and still count on its hold, so it keeps both fsyncs; so does
/// a record that cannot be read. The record itself is always synced before it is linked in, so
/// a hold that a crash leaves behind is never empty.
bool hold_outlives_crash(const std::string& record);
inline constexpr const char* k_lease_name = ".clsync-lease";

/// The first directory sync_dirs_beneath could not open or sync; `error` 0 when none failed.
struct DirSyncFailure {
  std::string dir;
  int error = 0;
  bool opening = false;
};
/// fsyncs each directory of `dirs` (relative to `rootfd`; "" is the root), overlapped through
/// sync_fds_parallel; a directory that is gone (removed since) needs none. Returns the failure
/// with the lowest index; a failed fsync is never retried.
DirSyncFailure sync_dirs_beneath(int rootfd, const std::set<std::string>& dirs);

/// Which temps remove_dead_parts takes: hold parts only, or lease parts too (under the exclusive
/// lease lock, where a minute-old lease part is dead whatever its pid).
enum class DeadParts { holds, leases_and_holds };
/// Removes the part files a killed writer left at the volume root `rootfd`: lease records
/// (`.clsync-part-lease-<pid>-<n>`) and hold records (`.clsync-part-intent-hold<id>-<pid>-<n>`)
/// whose writer pid is gone on this machine. A part is never linked in once its writer is gone,
/// so it explains nothing; a live writer's part is never touched.
void remove_dead_parts(int rootfd, DeadParts which);

} // namespace clsync::transport
