// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

/// Plain values that cross the node interface (and the agent protocol). They describe files,
/// chunks and volumes as a node sees them; they know nothing of plans, filters or topologies.
namespace clsync::transport {

/// One regular file inside a chunk. `path` is relative to the chunk directory, '/'-separated.
struct FileEntry {
  std::string path;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint32_t mode = 0;  ///< permission bits only (07777)
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  /// For the second and later names of one inode inside the chunk: the earlier name (hard link).
  /// Empty for ordinary files. A linked entry carries no data in a chunk stream.
  std::string link_to;
};

/// One directory inside a chunk, the chunk's own directory included (`path` ""). `path` is
/// relative to the chunk directory, '/'-separated.
struct ChunkDir {
  std::string path;
  std::int64_t mtime_ns = 0;
  std::uint32_t mode = 0;  ///< permission bits only (07777)
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

/// What a node knows about one replica (one chunk directory on one volume).
struct ReplicaScan {
  std::string volume;  ///< absolute volume path as configured
  std::string key;     ///< chunk key: path relative to the volume
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
  std::int64_t newest_mtime_ns = 0;
  std::string fingerprint;  ///< quick fingerprint (SPEC §3), hex SHA-256
  std::string layout_hash;  ///< layout hash (digest.hpp): divergence without mtimes
  std::string content_hash; ///< only when the scan asked for hashes; else empty
  std::vector<std::string> special; ///< symlinks, devices, FIFOs, sockets (relative paths)
  std::vector<FileEntry> file_list; ///< only when the scan asked for files
  /// Bytes the files occupy on disk (st_blocks * 512, each inode once): less than `bytes` for
  /// sparse files. What a copy needs in free space, since copies keep holes.
  std::uint64_t allocated_bytes = 0;
};

/// A volume's state. Capacity and free space belong to its filesystem (`filesystem_id`), so a
/// caller adding up several volumes counts each filesystem once.
struct VolumeScan {
  std::string path;
  bool ok = true;
  std::string error;  ///< why the volume could not be read, when !ok
  std::uint64_t capacity_bytes = 0;
  std::uint64_t free_bytes = 0;
  std::uint64_t filesystem_id = 0;
  /// Physical identity of the volume directory (SPEC §3): the node's machine id and the device
  /// and inode of the directory the configured path resolves to (a symlink's target, a bind
  /// mount's source). Two paths with one identity are one directory. Empty / 0 when unknown.
  std::string machine_id;
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
};

/// Where a chunk is on one node: a volume holding `key`, with the replica's quick fingerprint.
struct ChunkLocation {
  std::string volume;
  std::string fingerprint;
};

/// A directory under an undeclared top-level directory that directly holds regular files.
struct UnmanagedScan {
  std::string volume;
  std::string path;  ///< relative to the volume
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
};

/// A `.clsync*` entry found at a volume root (temp, trash, intent, lease).
struct LeftoverScan {
  std::string volume;
  std::string name;     ///< e.g. ".clsync-tmp-<task>"
  std::string kind;     ///< "tmp" | "trash" | "intent" | "hold" | "lease" | "other"
  std::string task;     ///< task id parsed from the name, when there is one
  std::string content;  ///< an intent's or a hold's JSON record; empty for other kinds
};

/// A database the scan should recognise: chunks sit at `<db>/<level-1>/…/<level-n>/<table>`.
struct DatabaseLayout {
  std::string name;
  std::size_t levels = 0;
};

/// What `Node::scan` should look at and compute.
struct ScanSpec {
  std::vector<DatabaseLayout> databases;
  /// Declared databases not to look into: no replica, problem or unmanaged entry comes from
  /// them (the caller's filter cannot select their chunks, e.g. `sync-online --db`).
  std::vector<std::string> skip_databases;
  bool with_files = false;   ///< fill ReplicaScan::file_list
  bool with_hashes = false;  ///< compute ReplicaScan::content_hash (reads every byte)
};

/// Everything one node reported. Problems are human sentences naming the path.
struct NodeScan {
  std::vector<VolumeScan> volumes;
  std::vector<ReplicaScan> replicas;
  std::vector<UnmanagedScan> unmanaged;
  std::vector<LeftoverScan> leftovers;
  std::vector<std::string> problems;
};

/// Summary of a chunk that was read or written: what the bytes hash to.
struct ChunkDigest {
  std::string content_hash;  ///< SPEC §3 content hash, hex
  std::string fingerprint;   ///< quick fingerprint of the chunk as read / as written
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
};

/// How `Node::commit_chunk` treats an existing chunk at the destination.
enum class CommitMode {
  no_replace,  ///< renameat2(RENAME_NOREPLACE); an existing equal chunk counts as done
  exchange,    ///< RENAME_EXCHANGE, the old version goes to the task's trash (--force)
};

enum class CommitOutcome {
  placed,           ///< the temp directory now is the chunk
  already_equal,    ///< a chunk with the same content hash was there; temp removed
  exists_different, ///< a different chunk was there (no_replace); temp kept for the caller
  replaced,         ///< exchange: the old version is in `.clsync-trash-<task>`
};

/// Result of a rename of a chunk between two volumes of one node.
enum class RenameOutcome { renamed, cross_device, destination_exists };

/// One chunk of a batched rename between two volumes of one node (Node::rename_chunks).
struct RenameItem {
  std::string key;
  /// The quick fingerprint the caller planned with; the node renames only a chunk that still
  /// has it. Empty: not checked.
  std::string fingerprint;
};

/// What became of one RenameItem. Every chunk is, whatever the outcome, in exactly one place:
/// renamed → at the destination, durably (its old and new parents are synced); any other
/// outcome → where it was, except `failed` after the rename (the error says so).
enum class BatchRenameOutcome {
  renamed,
  cross_device,       ///< another filesystem (or a bind mount): nothing done, copy instead
  destination_exists, ///< a chunk of that key is at the destination already; nothing done
  missing,            ///< the source chunk is gone; nothing done
  changed,            ///< the fingerprint differs from RenameItem::fingerprint; nothing done
  failed,             ///< an error (`error`), before the rename or in the syncs after it
};

struct RenameItemResult {
  BatchRenameOutcome outcome = BatchRenameOutcome::failed;
  std::string error; ///< why, for `failed` (names the node and both paths)
};

/// A node lease (SPEC §5): who holds it and when it last beat.
struct LeaseInfo {
  std::string host;  ///< the holder's host name, for messages only: cloned machines share one
  std::int64_t pid = 0;
  std::string run_id;
  std::string command;
  std::int64_t started_unix = 0;
  std::int64_t heartbeat_unix = 0;
  std::int64_t age_seconds = 0;  ///< filled by the node: now - heartbeat as the node's clock sees it
  std::int64_t ttl_s = 0;        ///< the holder's --lease-ttl (0: a lease that did not record it)
  std::string machine_id;        ///< the holder's machine (host_identity.hpp)
  std::string boot_id;           ///< the holder's boot: its pid means something only within it
  std::uint64_t pid_start = 0;   ///< the holder pid's start time: tells it from a reused pid
};

struct LeaseResult {
  bool acquired = false;
  std::optional<LeaseInfo> holder;  ///< the live holder when !acquired
};

/// A chunk a destination node pulls from its source itself (`transfer: direct`, SPEC §6): how
/// the destination's own OpenSSH client reaches the source's agent, and what to read there. The
/// identity and known_hosts files are the destination node's; empty fields take ssh's defaults.
struct DirectSource {
  std::string node;  ///< the source node's name, for messages
  std::string host;
  int port = 22;
  std::string user;         ///< empty: ssh's default (the destination agent's user)
  std::string identity;     ///< private key file on the destination node
  std::string known_hosts;  ///< known_hosts file on the destination node (strict checking)
  std::string agent_command = "clsync";  ///< run by the source's login shell, plus " agent"
  std::vector<std::string> roots;        ///< the source node's volumes (the agent's hello)
  std::string volume;  ///< the source volume holding the chunk
  std::string key;     ///< the chunk
  int connect_timeout_s = 10;
  int io_timeout_s = 60;
};

/// What a direct pull read on the source and wrote on the destination (into the task's temp).
struct PullResult {
  ChunkDigest read;     ///< the source's digest (content hash and the fingerprint it read under)
  ChunkDigest written;  ///< the destination writer's digest
};

/// One entry of a directory listing (repository files).
struct DirEntry {
  std::string name;
  bool is_dir = false;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

} // namespace clsync::transport
