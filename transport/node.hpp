// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/byte_sink.hpp"
#include "transport/errors.hpp"
#include "transport/object.hpp"
#include "transport/types.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

/// The node interface: every operation clsync performs on a node's disks. `LocalNode` runs them
/// with direct system calls; `SshNode` sends them to `clsync agent` on the node, which runs a
/// `LocalNode` next to the disks. Both pass one contract suite (tests/integration).
///
/// Paths: `volume` is always one of the node's configured volume paths (or repository roots);
/// `key` and `relpath` are relative, '/'-separated, without `..` or empty components. Anything
/// else is refused with FailureKind::refused. Symlinks are never followed out of a volume.
///
/// Thread safety: a Node may be used from several threads at once; an SSH node keeps a small
/// pool of agent connections for that.
namespace clsync::transport {

/// Receives one chunk in this order:
/// - its regular files in sorted path order: begin_file, then the file's bytes from offset 0 as
///   file_data and file_hole events (a hole is a run of zeros that occupies no disk space;
///   the sizes of both add up to FileEntry::size), then end_file;
/// - after the last file, every directory of the chunk as `directory`, empty ones included,
///   children before their parents (reverse sorted path order), the chunk's own directory
///   (path "") last. Nothing inside a directory changes after it was sent, so a writer can set
///   its mode, owner and mtime at once.
/// A FileEntry with `link_to` set has no data and no end_file hash check beyond its target's:
/// it arrives as begin_file then end_file(<the target's sha256>), with no file_data between.
class ChunkSink {
public:
  virtual ~ChunkSink() = default;
  virtual void begin_file(const FileEntry& file) = 0;
  virtual void file_data(std::span<const char> data) = 0;
  /// `length` zero bytes of the current file that the source stores as a hole. By default
  /// they go to file_data as zeros in bounded blocks (for sinks that only see bytes).
  virtual void file_hole(std::uint64_t length);
  /// `sha256` is the source's hash of the file's bytes (hex); a writer compares it with its own.
  virtual void end_file(const std::string& sha256) = 0;
  /// A directory of the chunk (see above). Ignored by default.
  virtual void directory(const ChunkDir& dir);
};

/// A chunk being written into `<volume>/.clsync-tmp-<task>/` (SPEC §5 step 1).
class ChunkWriter : public ChunkSink {
public:
  /// Writers leave holes as holes (the file occupies what the source's did).
  void file_hole(std::uint64_t length) override = 0;
  /// Writers create the directory (empty ones too) with its mode and mtime, and its owner
  /// when the writing side runs as root.
  void directory(const ChunkDir& dir) override = 0;
  /// fsyncs the files and directories (once per chunk) and returns the digest of what arrived.
  /// Throws TransportError when a file's hash differs from the source's (temp is removed).
  virtual ChunkDigest finish() = 0;
  /// Removes the temp directory; safe to call after any failure, never throws.
  virtual void abort() noexcept = 0;
};

/// How much of a repository file's write must survive a crash once commit returns.
enum class FileDurability {
  /// The file and its name: both fsynced (snapshots, markers, the backup cache).
  durable,
  /// The content only: the caller renames the file elsewhere next and syncs that rename's
  /// directories (an object's temp), so syncing the temp's own directory would buy nothing.
  content,
  /// Neither: a cache whose loss or torn content only costs a read of the data again (object
  /// records). Written after what it describes is durable, so it never outlives that.
  none,
};

/// A repository file being written to a temp name and renamed into place on commit.
class FileWriter : public ByteSink {
public:
  /// fsyncs and renames into place; returns the SHA-256 (hex) of the bytes written.
  virtual std::string commit() = 0;
  virtual void abort() noexcept = 0;
};

/// A repository file appended to `<relpath>.partial` and renamed into place on commit, so that a
/// transfer cut at any point resumes where the partial ends (push). The bytes written are
/// fsynced at least every k_append_sync_bytes: a killed writer leaves a durable prefix.
class AppendWriter : public ByteSink {
public:
  /// The partial's durable size when the writer was opened: the first byte the caller sends.
  virtual std::uint64_t offset() const = 0;
  /// fsyncs, hashes the whole partial (its earlier prefix is re-read where it lies, never sent)
  /// and, when the hash equals the `expected_sha256` given at open, renames it to `relpath`
  /// (replacing any file there) and returns its size. A mismatch removes the partial and throws
  /// TransportError(refused) naming the file and both hashes.
  virtual std::uint64_t commit() = 0;
  /// Stops writing and keeps the partial for a later resume once an fsync made it durable; a
  /// partial whose fsync fails is removed instead (its bytes may be lost). Never throws.
  virtual void close() noexcept = 0;
};

/// The partial of an AppendWriter is fsynced at least this often.
inline constexpr std::uint64_t k_append_sync_bytes = 16ull << 20;

class Node {
public:
  virtual ~Node() = default;

  /// The node's name, for messages ("node P1-dn1 (10.0.0.1)").
  virtual std::string describe() const = 0;

  /// Closes the connections kept open for reuse (SSH sessions to the node's agent); the next
  /// operation opens one again. Nodes that hold none (local ones) do nothing. Never throws.
  virtual void close_idle() noexcept {}
  /// A node reached over a network remembers a failed connect and fails later operations at
  /// once with that error (see transport/connect_gate.hpp); this forgets it, so the next
  /// operation connects again. For a new run in the same process (a `sync-online --every` round).
  virtual void forget_connect_failure() noexcept {}

  /// Inventory of every configured volume. A volume that cannot be read is reported in
  /// VolumeScan::ok/error, not thrown; an unreachable node throws.
  virtual NodeScan scan(const ScanSpec& spec) = 0;

  /// Receives a scan's replicas in batches (see scan_batched); it may move from the elements.
  using ReplicaBatchSink = std::function<void(std::vector<ReplicaScan>& batch)>;
  /// As scan(), but the replicas go to `sink` in batches as they are found, in no particular
  /// order, so that a node's whole replica list never exists at once (issue 10: memory); the
  /// NodeScan returned holds the rest (its replicas are empty). `sink` is called from any
  /// thread, one call at a time. A scan that throws may already have handed over batches.
  /// The default runs scan() and hands over its replicas as one batch.
  virtual NodeScan scan_batched(const ScanSpec& spec, const ReplicaBatchSink& sink);

  /// Streams the chunk's regular files to `sink` in sorted order and returns its digest
  /// (content hash computed from the bytes read, fingerprint taken before reading).
  /// Throws not_found when the chunk is absent; refused when it holds special files.
  virtual ChunkDigest read_chunk(const std::string& volume,
                                 const std::string& key,
                                 ChunkSink& sink) = 0;

  /// Opens a writer into `<volume>/.clsync-tmp-<task>/`. Owner and group are kept when the
  /// node side runs as root.
  virtual std::unique_ptr<ChunkWriter> write_chunk(const std::string& volume,
                                                   const std::string& task) = 0;

  /// Quick fingerprint of a chunk, or empty when it does not exist.
  virtual std::string fingerprint(const std::string& volume, const std::string& key) = 0;

  /// Content hash of a chunk (reads every byte on the node); throws not_found.
  virtual ChunkDigest hash_chunk(const std::string& volume, const std::string& key) = 0;

  /// SPEC §5 step 3: creates and fsyncs missing parents, renames `.clsync-tmp-<task>` to `key`.
  virtual CommitOutcome commit_chunk(const std::string& volume,
                                     const std::string& task,
                                     const std::string& key,
                                     CommitMode mode) = 0;

  /// Renames a chunk between two volumes of this node (one `rename`); cross_device on EXDEV.
  virtual RenameOutcome rename_chunk(const std::string& from_volume,
                                     const std::string& key,
                                     const std::string& to_volume) = 0;

  /// A batch of rename_chunk between the same two volumes, made durable together: every
  /// `renameat2(RENAME_NOREPLACE)` first, then each touched parent directory (old and new) is
  /// fsynced once, and source parents left empty are removed (SPEC §5: one intent, written by
  /// the caller before, covers the batch). One result per item, in order. Throws (nothing
  /// renamed) only when the volumes cannot be opened or the fence refuses; a per-item problem is
  /// its result. Default: one rename_chunk per item (each synced on its own), with the
  /// fingerprint checked through fingerprint().
  virtual std::vector<RenameItemResult> rename_chunks(const std::string& from_volume,
                                                      const std::string& to_volume,
                                                      const std::vector<RenameItem>& items);

  /// Copies a chunk between two volumes of this node into `<to_volume>/.clsync-tmp-<task>`,
  /// hashing both sides, without any byte crossing the network.
  virtual ChunkDigest copy_chunk_local(const std::string& from_volume,
                                       const std::string& key,
                                       const std::string& to_volume,
                                       const std::string& task) = 0;

  /// `transfer: direct` (SPEC §6): this node pulls chunk `source.key` from the source node's
  /// agent itself, through its own OpenSSH client, into `<volume>/.clsync-tmp-<task>/` exactly
  /// as write_chunk does (per-file SHA-256 checked, fsynced; commit with commit_chunk). No byte
  /// passes through the caller. `on_bytes` is called as data arrives (progress; throwing from
  /// it cancels the pull). Throws DirectUnavailable when the pull cannot be set up (nothing was
  /// written), else TransportError like read_chunk and a writer (the temp is then removed).
  /// Default: DirectUnavailable ("does not pull").
  virtual PullResult pull_chunk(const std::string& volume,
                                const std::string& task,
                                const DirectSource& source,
                                const std::function<void(std::uint64_t)>& on_bytes);

  /// SPEC §5 step 4: renames the chunk to `<volume>/.clsync-trash-<task>` and returns the quick
  /// fingerprint of the trash directory taken after the rename (same encoding as fingerprint()),
  /// so that the caller can see a write that reached the source up to the rename. Returns ""
  /// when the renamed directory cannot be fully read (the caller must treat that as changed).
  /// Throws not_found when the chunk is absent, error when the trash name exists already.
  virtual std::string trash_chunk(const std::string& volume,
                                  const std::string& key,
                                  const std::string& task) = 0;
  /// Renames `.clsync-trash-<task>` back to `key` (no replace).
  virtual void untrash_chunk(const std::string& volume,
                             const std::string& task,
                             const std::string& key) = 0;
  /// Removes `.clsync-trash-<task>` or `.clsync-tmp-<task>` (whichever exist), fsyncing the root.
  virtual void remove_task_dirs(const std::string& volume, const std::string& task) = 0;

  /// Writes `.clsync-intent-<task>` (durably) at the volume root; `record` is JSON.
  virtual void write_intent(const std::string& volume,
                            const std::string& task,
                            const std::string& record) = 0;
  virtual void remove_intent(const std::string& volume, const std::string& task) = 0;

  /// Every configured volume of this node that holds chunk `key`, with its quick fingerprint
  /// (one round trip for the executor's re-count, SPEC §5). Unreadable volumes are skipped.
  virtual std::vector<ChunkLocation> locate_chunk(const std::string& key) = 0;
  /// The configured volumes of this node that hold chunk `key`, without fingerprints: the
  /// re-count fingerprints only the replicas it counts, under their holds, so a walk of every
  /// replica here would be thrown away. Unreadable volumes are skipped. By default
  /// locate_chunk's volumes.
  virtual std::vector<std::string> volumes_holding(const std::string& key);

  /// Places the removal hold of chunk `key` on `volume`: creates `.clsync-hold-<id>` (id: the
  /// first 32 hex digits of SHA-256 of the key) with O_EXCL, holding `record` (JSON), durably
  /// unless its holder runs on the node's own machine in this boot (hold_outlives_crash).
  /// Returns "" when placed or when the existing hold's record equals `record` (a retry); else
  /// the record of the hold that is there (another removal holds this replica).
  virtual std::string
  place_hold(const std::string& volume, const std::string& key, const std::string& record) = 0;
  /// place_hold and, when the hold is placed, the replica's quick fingerprint taken after it
  /// ("" when the chunk is not there) where the node answers both in one request (an agent:
  /// one round trip instead of two). `fingerprint` is empty (no value) when the caller must ask
  /// fingerprint() itself: by default, and when the node's fingerprint failed.
  struct PlacedHold {
    std::string holder;
    std::optional<std::string> fingerprint;
  };
  virtual PlacedHold
  place_hold_fingerprint(const std::string& volume, const std::string& key, const std::string& record);
  /// Removes the hold of `key` on `volume` when its record equals `record`; no hold is fine.
  virtual void
  release_hold(const std::string& volume, const std::string& key, const std::string& record) = 0;

  /// Leases are per volume: a writing run leases every volume it may write, so that runs whose
  /// topologies list a node's volumes in another order or as a subset still meet.
  /// Creates `<volume>/.clsync-lease` exclusively. When a lease exists and its run id equals
  /// `replace_run_id` (a stale lease the caller decided to take over), replaces it. Every lease
  /// operation first removes `.clsync-part-lease-*` temps of killed writers (writer pid gone on
  /// the node, or older than a minute).
  virtual LeaseResult acquire_lease(const std::string& volume,
                                    const LeaseInfo& mine,
                                    const std::string& replace_run_id) = 0;
  /// Rewrites the heartbeat; throws when the lease is no longer ours.
  virtual void refresh_lease(const std::string& volume, const LeaseInfo& mine) = 0;
  /// Removes the lease if it is ours (or any lease when `force`).
  virtual void release_lease(const std::string& volume, const std::string& run_id, bool force) = 0;
  /// The volume's current lease, if any.
  virtual std::optional<LeaseInfo> read_lease(const std::string& volume) = 0;
  /// Fencing. With a non-empty `run_id`, commit_chunk, rename_chunk, trash_chunk, untrash_chunk
  /// and remove_task_dirs act on a volume only while its `.clsync-lease` is held by that run
  /// (checked on the node, under the lease's lock, for the whole operation); otherwise they throw
  /// TransportError(refused, not retryable) naming the volume and the actual holder, and change
  /// nothing. "" (the initial state) fences nothing: commands that take no lease set none.
  virtual void set_fence(const std::string& run_id) = 0;

  // Backup objects (transport/object.hpp). The defaults run the archive codec in this process
  // over read_chunk / write_chunk / read_file; the SSH node runs them in the agent, next to the
  // disks, so the network carries compressed bytes and zstd runs on every node at once.

  /// Streams chunk `key` as a tar+zstd object to `out` and returns its manifest and hashes.
  /// Throws like read_chunk.
  virtual PackResult pack_chunk(const std::string& volume,
                                const std::string& key,
                                const PackOptions& options,
                                ByteSink& out);
  /// Opens a writer that unpacks an object into `<volume>/.clsync-tmp-<task>/`, checked against
  /// `expected`; commit it with commit_chunk like any written chunk.
  virtual std::unique_ptr<ObjectWriter>
  unpack_chunk(const std::string& volume, const std::string& task, const ChunkManifest& expected);
  /// Reads the object file `relpath` under repository root `root` where it lies, hashing it and
  /// decoding every entry against `expected` (nothing is written). Only the result travels.
  virtual ObjectCheck
  check_object(const std::string& root, const std::string& relpath, const ChunkManifest& expected);

  // Repository files: `root` is a configured root, `relpath` relative to it.

  /// Streams a file from `offset` to `sink`; throws not_found.
  virtual void read_file(const std::string& root,
                         const std::string& relpath,
                         std::uint64_t offset,
                         ByteSink& sink) = 0;
  /// Opens a writer; the file appears at `relpath` only on commit. Parent dirs are created.
  /// `durability` says what commit makes durable (parent dirs it creates included).
  virtual std::unique_ptr<FileWriter> create_file(const std::string& root,
                                                  const std::string& relpath,
                                                  FileDurability durability) = 0;
  /// A durable file (snapshots, markers): create_file(root, relpath, FileDurability::durable).
  std::unique_ptr<FileWriter> create_file(const std::string& root, const std::string& relpath)
  {
    return create_file(root, relpath, FileDurability::durable);
  }
  /// Lists a directory (empty when it does not exist).
  virtual std::vector<DirEntry> list_dir(const std::string& root, const std::string& relpath) = 0;
  virtual void remove_file(const std::string& root, const std::string& relpath) = 0;

  // Resumable repository writes (push). Default bodies: append_file refuses ("not supported by
  // this node"), list_tree walks list_dir; LocalNode and the agent node implement both.

  /// Opens `<relpath>.partial` under repository root `root` for appending at its size (0 when
  /// absent; parent directories are created), for a file whose SHA-256 must be
  /// `expected_sha256`. The partial is locked while the writer lives: a second writer of the
  /// same file is refused. A partial is never a file of list_dir's or list_tree's `.tar.zst`.
  virtual std::unique_ptr<AppendWriter> append_file(const std::string& root,
                                                    const std::string& relpath,
                                                    const std::string& expected_sha256);
  /// Every regular file beneath directory `relpath` ("" for the root), recursively, in one
  /// round trip: `name` is the path relative to `relpath`, with its size and mtime. Writers'
  /// temps are left out; `.partial` files are listed (callers tell them by name). Empty when
  /// `relpath` does not exist. Symlinks and special files are left out.
  virtual std::vector<DirEntry> list_tree(const std::string& root, const std::string& relpath);
  /// Renames repository file `from` to `to` under `root`, replacing a file at `to` (two runs
  /// placing one object write the same bytes); missing parents of `to` are created, and both
  /// directories are fsynced. How a backup places an object whose name, its content hash, is
  /// known only once it is written. Throws not_found when `from` does not exist.
  virtual void
  rename_file(const std::string& root, const std::string& from, const std::string& to) = 0;
  /// Creates the directory `relpath` under `root` with exactly `mode` (the umask does not
  /// apply) and fsyncs its parent; an existing directory is left as it is. Its parent must
  /// exist. (A new repository is made 0700 this way, through its parent as the root.)
  virtual void create_dir(const std::string& root, const std::string& relpath, std::uint32_t mode)
  {
    (void)root, (void)relpath, (void)mode;
    throw TransportError(FailureKind::refused, describe() + ": cannot create directories");
  }
};

} // namespace clsync::transport
