// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/node.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

/// The node contract suite (rclone's conformance idea): one set of cases that every
/// transport::Node implementation must pass — LocalNode directly, SshNode through a real sshd
/// and `clsync agent`. Each case builds its chunk trees with plain filesystem calls in fresh
/// scratch directories, asks `make` for a node whose roots are those directories, and checks
/// what the node does through the interface only (plus the disk it left behind).
///
/// Requirements: root (tmpfs and bind mounts for EXDEV and ENOSPC); a case that cannot build
/// its filesystem FAILS. A node made for an SSH run must see the same paths (agent on loopback).
///
/// To run every case against an implementation:
/// ```
/// #define MY_CASE(name) TEST_CASE("contract: " #name) { run_contract_##name(my_maker); }
/// CLSYNC_CONTRACT_CASES(MY_CASE)
/// ```
namespace clsync::test {

/// Makes a node whose configured roots (volumes, in this order) are `roots`.
using NodeMaker =
    std::function<std::shared_ptr<transport::Node>(const std::vector<std::string>& roots)>;

// clang-format off
#define CLSYNC_CONTRACT_CASES(X) \
  X(scan_chunks)                 \
  X(scan_unmanaged)              \
  X(scan_skip_databases)         \
  X(scan_leftovers)              \
  X(scan_specials)               \
  X(scan_volumes)                \
  X(round_trip)                  \
  X(writer_checks)               \
  X(commit_modes)                \
  X(rename_chunk)                \
  X(rename_chunks)               \
  X(copy_chunk_local)            \
  X(trash_untrash)               \
  X(intents)                     \
  X(leases)                      \
  X(lease_temps)                 \
  X(fencing)                     \
  X(path_refusals)               \
  X(disk_full)                   \
  X(repository_files)            \
  X(concurrent_tasks)            \
  X(exact_copy)                  \
  X(names_as_bytes)              \
  X(holds_and_identity)          \
  X(objects)                     \
  X(object_checks)               \
  X(resumable_writes)
// clang-format on

#define CLSYNC_DECLARE_CONTRACT_CASE(name) void run_contract_##name(const NodeMaker& make);
CLSYNC_CONTRACT_CASES(CLSYNC_DECLARE_CONTRACT_CASE)
#undef CLSYNC_DECLARE_CONTRACT_CASE

/// scan_chunks: counts, bytes, files, newest mtime, fingerprints, layout and content hashes,
///   file lists of declared databases over two volumes; stray files are problems.
/// scan_unmanaged: undeclared directories holding files are unmanaged; lost+found is ignored.
/// scan_skip_databases: a database the spec skips gives no replica, problem or unmanaged
///   entry; the others are scanned as before.
/// scan_leftovers: .clsync-* entries at a volume root, with kinds, task ids and intent records.
/// scan_specials: symlinks, FIFOs inside a chunk are reported and never followed.
/// scan_volumes: capacity once per filesystem (ids), a missing volume is ok=false, not thrown.
/// round_trip: read_chunk → write_chunk of a 64 MiB file, many small files, hard links, modes
///   and mtimes; digests agree on both sides and the committed copy fingerprints like the source.
/// writer_checks: a hash or size mismatch fails and leaves no temp directory.
/// commit_modes: placed, already_equal, exists_different (temp kept), exchange → replaced.
/// rename_chunk: same filesystem renamed; tmpfs and bind mount → cross_device leaving nothing;
///   destination_exists; not_found; empty source parents removed.
/// rename_chunks: a batch: renamed, destination_exists, missing, changed (fingerprint), a bad
///   key failed, each chunk in one place; another filesystem → cross_device for every item.
/// copy_chunk_local: an EXDEV move done by the node, committed, hashes equal.
/// trash_untrash: trash, untrash, remove_task_dirs.
/// intents: write, read back by scan, remove.
/// leases: per volume: exclusive acquire, holder (ttl, machine, boot, pid start) and age,
///   replace by run id, refresh, release, force.
/// lease_temps: a lease operation removes `.clsync-part-lease-*` of dead or old writers.
/// fencing: under set_fence(run), commit/rename/trash/untrash/remove_task_dirs on a volume whose
///   lease another run holds, or that has none, are refused and change nothing.
/// path_refusals: `..`, absolute keys, reserved names, symlinks out of a volume, unknown roots.
/// disk_full: a 4 MiB tmpfs volume → no_space naming the path, nothing left in place.
/// repository_files: create/commit/read from offset/list/remove, abort leaves nothing.
/// concurrent_tasks: one node used from several threads at once.
/// exact_copy: empty and nested directories, a 0700 directory owned by 4321 with an old mtime,
///   modes, owners and mtimes of files and directories (the chunk's own too), a hard link pair
///   and a sparse file arrive identical through read_chunk → write_chunk and copy_chunk_local;
///   the sparse file travels as hole records and keeps its holes (st_blocks); the content hash
///   changes when an empty directory is lost or a directory mode changes.
/// names_as_bytes: a chunk key and file and directory names that are not valid UTF-8 are
///   scanned, read, written, committed, trashed and listed byte for byte.
/// holds_and_identity: place_hold is exclusive per chunk and volume (a retry with the same
///   record is fine), release_hold removes only its own record, holds are scanned with kind
///   "hold"; locate_chunk finds every volume with the key; a volume's identity (machine id,
///   device, inode) follows a bind mount and a symlink to the one directory.
/// objects: pack_chunk of exact_copy's chunk (plus long and non-UTF-8 names) into a repository
///   file, check_object, then read_file → unpack_chunk → commit_chunk gives an identical chunk
///   (holes kept) whose content hash is the object's id; --columns packs a smaller object.
/// object_checks: a tampered object fails check_object naming it and is refused by
///   unpack_chunk (hash of the object, content of an entry), leaving no temp directory; a
///   hostile manifest (`..`) is refused before anything is written.
/// resumable_writes: append_file continues a partial at its size (kept by close and by a
///   dropped writer), fsyncs across k_append_sync_bytes, commits only the expected SHA-256
///   (a wrong prefix or tail removes the partial and names the file), refuses a second writer
///   of the same partial and bad paths; list_tree lists nested files in one call, partials
///   included, writers' temps not.

} // namespace clsync::test
