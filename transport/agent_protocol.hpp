// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/errors.hpp"
#include "transport/object.hpp"
#include "transport/types.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

/// The agent protocol: what `clsync` and `clsync agent` say to each other over an exec
/// channel's stdin/stdout (SPEC §6). Both binaries (`clsync agent` and the static
/// `clsync-agent-static`) compile this one file, so they speak the same protocol.
///
/// Framing: every frame is `u32 length | u8 type | payload`, the length in **big-endian**
/// (network order) counting the payload only (not the type byte, not itself). Control payloads
/// are CBOR maps (nlohmann::json::to_cbor); DATA frames carry raw file bytes. A frame longer
/// than k_max_frame, a truncated frame or an unknown type is a protocol error.
///
/// Conversation: the client sends HELLO, the agent answers HELLO_REPLY (always with its own
/// protocol version, so that a mismatch gives a clear message on the client side; on a
/// mismatch the agent then exits). After that, requests and replies alternate; every request
/// ends with exactly one final frame, REPLY or ERROR. KEEPALIVE frames may come from the agent at
/// any time (while it works on a long request) and are skipped by the client.
///
/// Streams (no round trip per file):
/// - READ_CHUNK / READ_FILE: the agent answers FILE_BEGIN, (DATA | HOLE)*, FILE_END per file,
///   then DIR per directory in ChunkSink's order (READ_FILE: DATA* only), then REPLY (digest)
///   or ERROR. The client may send CANCEL; the agent then stops
///   within a few frames and ends the stream with ERROR (kind refused, "cancelled").
/// - WRITE_CHUNK / CREATE_FILE: the agent answers REPLY (the writer is open) or ERROR. The client
///   then sends FILE_BEGIN, (DATA | HOLE)*, FILE_END per file, DIR per directory (CREATE_FILE:
///   DATA*) without waiting, and
///   FINISH (or ABORT). The agent sends one final frame: REPLY when FINISH/ABORT succeeded, or
///   ERROR as soon as anything fails — after an ERROR it discards frames up to FINISH/ABORT
///   and sends nothing more for that stream, so the connection stays usable.
/// - SCAN: SCAN_PART frames (batches of replicas), then REPLY (the rest of the NodeScan).
namespace clsync::transport::wire {

/// Protocol version; bumped on any incompatible change of framing, types or payloads.
/// 2: trash_chunk replies {fingerprint} (a version-1 agent's empty reply cannot say whether
/// the source changed up to the rename).
/// 3: leases are per volume ([volume] in the lease requests, holder ttl/machine/boot/pid start
/// in LeaseInfo), and commit/rename/trash/untrash/remove_task_dirs carry the run's [fence].
///    and chunk streams carry HOLE and DIR frames, ReplicaScan has allocated_bytes, and digests
/// use the clsync-layout2 / clsync-content2 encodings (directories and modes); VolumeScan carries
/// the volume's identity (machine id, device, inode), and locate_chunk / place_hold /
/// release_hold serve the executor's re-count.
/// 4: backup objects and repositories (issue 8): pack/unpack/check (70–74), resumable appends
/// and tree listings (75–79), repository operations (80–84).
/// 5: direct node-to-node pulls (`transfer: direct`, 90–92).
/// 6: batched renames between two volumes of a node (rename_chunks, 110).
inline constexpr std::uint32_t k_protocol_version = 6;
/// Throws TransportError "agent protocol: <what>" (a peer that breaks the protocol).
[[noreturn]] void protocol_error(const std::string& what);
/// protocol_error naming a missing or mistyped field of a decoded message.
[[noreturn]] void bad_field(const char* key);

/// Largest payload accepted (a scan part or any control message).
inline constexpr std::uint32_t k_max_frame = 64u << 20;
/// Largest DATA payload a sender produces (receivers accept up to k_max_frame).
inline constexpr std::size_t k_data_frame = 256u << 10;
/// Replicas per SCAN_PART frame.
inline constexpr std::size_t k_scan_batch = 2000;
/// Size of the frame header: u32 length + u8 type.
inline constexpr std::size_t k_header_size = 5;

enum class MsgType : std::uint8_t {
  hello = 1,       ///< client → agent: Hello
  hello_reply = 2, ///< agent → client: HelloReply
  reply = 3,       ///< final success of a request; payload depends on the request
  error = 4,       ///< final failure: ErrorInfo
  keepalive = 5,   ///< agent → client while busy; empty payload
  data = 6,        ///< raw bytes of the current file
  file_begin = 7,  ///< FileEntry
  file_end = 8,    ///< {sha256}
  finish = 9,      ///< client → agent: end of a write stream, commit it
  abort = 10,      ///< client → agent: drop a write stream
  cancel = 11,     ///< client → agent: stop the current read stream
  scan_part = 12,  ///< agent → client: {replicas: [ReplicaScan…]}
  data_zstd = 13,  ///< DATA compressed as one zstd frame (--compress); accepted by both sides
  hole = 14,       ///< {length}: that many zero bytes of the current file, stored as a hole
  dir = 15,        ///< ChunkDir: a directory of the chunk stream (after its files)

  // Requests (client → agent). Payload keys in brackets.
  scan = 32,             ///< ScanSpec → SCAN_PART*, REPLY NodeScan (replicas empty)
  read_chunk = 33,       ///< [volume, key] → stream, REPLY ChunkDigest
  write_chunk = 34,      ///< [volume, task] → REPLY {}, then the write stream → ChunkDigest
  fingerprint = 35,      ///< [volume, key] → {fingerprint}
  hash_chunk = 36,       ///< [volume, key] → ChunkDigest
  commit_chunk = 37,     ///< [volume, task, key, mode, fence] → {outcome}
  rename_chunk = 38,     ///< [from_volume, key, to_volume, fence] → {outcome}
  copy_chunk_local = 39, ///< [from_volume, key, to_volume, task] → ChunkDigest
  trash_chunk = 40,      ///< [volume, key, task, fence] → {fingerprint}
  untrash_chunk = 41,    ///< [volume, task, key, fence] → {}
  remove_task_dirs = 42, ///< [volume, task, fence] → {}
  write_intent = 43,     ///< [volume, task, record] → {}
  remove_intent = 44,    ///< [volume, task] → {}
  acquire_lease = 45,    ///< [volume, lease: LeaseInfo, replace_run_id] → LeaseResult
  refresh_lease = 46,    ///< [volume, lease: LeaseInfo] → {}
  release_lease = 47,    ///< [volume, run_id, force] → {}
  read_lease = 48,       ///< [volume] → {lease: LeaseInfo | null}
  read_file = 49,        ///< [root, relpath, offset] → DATA*, REPLY {}
  create_file = 50,      ///< [root, relpath, durability?: "content"|"none"] → REPLY {}, then
                         ///< DATA*, FINISH → {sha256}
  list_dir = 51,         ///< [root, relpath] → {entries: [DirEntry…]}
  remove_file = 52,      ///< [root, relpath] → {}
  ping = 53,             ///< {} → {}: proves an idle connection is alive
  // The executor's re-count (SPEC §5); numbered apart so that other additions do not collide.
  locate_chunk = 60,     ///< [key, fingerprints?] → {locations: [{volume, fingerprint}…]}
                         ///< (fingerprints: false → each fingerprint "", no walk; optional,
                         ///< absent = true, so an agent that ignores it stays correct)
  place_hold = 61,       ///< [volume, key, record, fingerprint?] → {holder, fingerprint?}
                         ///< (fingerprint: true → when placed, the replica's fingerprint taken
                         ///< after the hold, "" for no chunk; absent when it failed or not asked)
  release_hold = 62,     ///< [volume, key, record] → {}
  // Backup objects (object.hpp): the codec runs in the agent, so only compressed bytes and
  // results cross the network.
  pack_chunk = 70,   ///< [volume, key, options: PackOptions] → DATA* (the object), PackResult
  unpack_chunk = 71, ///< [volume, task, manifest] → REPLY {}, then DATA* (object bytes) and
                     ///< FINISH {object_sha256} (or ABORT) → ChunkDigest, as WRITE_CHUNK
  check_object = 72, ///< [root, relpath, manifest] → ObjectCheck
  // Push (issue 8): resumable object writes and one-round-trip listings.
  append_file = 75,      ///< [root, relpath, sha256] → REPLY {offset}, DATA*, FINISH → {size}
                         ///< (ABORT keeps the partial)
  list_tree = 76,        ///< [root, relpath] → {entries: [DirEntry…]} (names relative, recursive)
  // Repositories (issue 8; 80–84 reserved for them).
  create_dir = 80,       ///< [root, relpath, mode] → {}
  rename_file = 81,      ///< [root, from, to] → {}
  // Direct transfers (`transfer: direct`; 90–99 reserved for them): the agent pulls a chunk
  // from the source node's agent through its own ssh client and writes it like WRITE_CHUNK.
  pull_chunk = 90,         ///< [volume, task, source: DirectSource] → PULL_PROGRESS*, then
                           ///< REPLY PullResult, ERROR, or DIRECT_UNAVAILABLE
  direct_unavailable = 91, ///< agent → client, final: {message}: the pull could not be set up,
                           ///< nothing was written (the client may relay instead)
  pull_progress = 92,      ///< agent → client: {bytes} arrived since the last one
  // The move path (issue 10; 110–119 reserved for it).
  rename_chunks = 110, ///< [from_volume, to_volume, fence, items: [{key, fingerprint}…]] →
                       ///< {results: [{outcome, error}…]} (one per item, in order)
};

/// True for a type this protocol version knows.
bool is_known(std::uint8_t type) noexcept;
/// Name of a message type, for messages ("read_chunk").
const char* to_string(MsgType type) noexcept;

/// One frame as received. `payload` is reused by FrameReader between frames.
struct Frame {
  MsgType type = MsgType::keepalive;
  std::vector<char> payload;
};

/// Encodes the 5-byte header of a frame. Throws TransportError (error) when `length`
/// exceeds k_max_frame.
std::array<char, k_header_size> encode_header(MsgType type, std::size_t length);

/// Decodes a header; throws TransportError (error) on an oversized length or unknown type.
void decode_header(const char* header, MsgType& type, std::uint32_t& length);

/// Where a FrameReader gets bytes.
class ByteSource {
public:
  virtual ~ByteSource() = default;
  /// Reads at least one byte into `buf` (up to `n`); returns 0 only at end of stream.
  /// Throws TransportError on failures (timeouts included).
  virtual std::size_t read_some(char* buf, std::size_t n) = 0;
};

/// Reads frames from a ByteSource through its own buffer.
class FrameReader {
public:
  explicit FrameReader(ByteSource& source, std::size_t buffer_size = 1u << 20);
  /// Reads the next frame into `frame`. Returns false at a clean end of stream (between
  /// frames). Throws TransportError (error) on a truncated frame, an oversized length or an
  /// unknown type.
  bool next(Frame& frame);
  /// True when a whole or partial frame is already buffered (no read needed to make progress).
  bool has_buffered() const noexcept { return m_begin != m_end; }

private:
  /// Ensures `n` bytes are buffered; false at end of stream with nothing buffered.
  bool fill(std::size_t n, bool allow_eof);
  ByteSource& m_source;
  std::size_t m_size;
  /// Not zero-filled: a reader per connection, and zeroing 1 MiB costs 256 page faults
  /// (milliseconds on a VM) before the first byte; pages are touched only as data arrives.
  std::unique_ptr<char[]> m_buf;
  std::size_t m_begin = 0;
  std::size_t m_end = 0;
};

/// Serialises a control payload (CBOR).
std::vector<char> to_payload(const nlohmann::json& j);
/// Parses a control payload; throws TransportError (error) naming `what` on malformed CBOR.
nlohmann::json from_payload(const std::vector<char>& payload, const char* what);

// Hello and errors.

struct Hello {
  std::uint32_t protocol = k_protocol_version;
  std::string version;               ///< clsync version of the client
  std::vector<std::string> roots;    ///< volumes / repository roots the agent may touch
  std::uint32_t keepalive_ms = 5000; ///< how often a busy agent sends KEEPALIVE
  bool compress = false;             ///< the agent should send file bytes as DATA_ZSTD
  /// Seconds a persistent agent (agent_daemon.hpp) should wait for the next connection; 0:
  /// none. An optional field (an older agent ignores it, and then names no socket), so no
  /// protocol bump.
  std::uint32_t persist_s = 0;
};

struct HelloReply {
  std::uint32_t protocol = k_protocol_version;
  std::string version; ///< clsync version of the agent
  std::string hostname;
  std::uint32_t euid = 0;
  std::string error; ///< non-empty: the agent refused the hello (bad roots), and exits
  /// The unix socket a persistent agent of this build listens on (when the hello asked for
  /// persistence and one runs), for the client's next run; optional, empty: none.
  std::string socket;
};

/// The payload of an ERROR frame.
struct ErrorInfo {
  FailureKind kind = FailureKind::error;
  std::string message;
  bool retryable = false;
};

/// The payload of a DATA_ZSTD frame for `data` (at most k_data_frame bytes), or an empty vector
/// when compression does not make it smaller (send plain DATA then). Level 1: on fast links
/// anything slower costs more time than it saves.
std::vector<char> compress_data(std::span<const char> data);
/// compress_data with a memory: after a frame that did not shrink (already compressed data,
/// random bytes) the next k_skip frames go out plain without trying, so incompressible files
/// cost almost nothing under --compress.
class DataCompressor {
public:
  static constexpr int k_skip = 16;
  /// The DATA_ZSTD payload for `data`, or empty: send plain DATA.
  std::vector<char> compress(std::span<const char> data);

private:
  int m_skip = 0;
};

/// The bytes of a DATA_ZSTD payload, into `out` (resized). Throws TransportError (error) on a
/// corrupt frame or one that would decompress beyond k_max_frame.
void decompress_data(const std::vector<char>& payload, std::vector<char>& out);

/// Parses a FailureKind name; unknown names give FailureKind::error.
FailureKind failure_kind_from_string(const std::string& s) noexcept;

/// Throws TransportError (error) with a clear message when the agent's protocol differs:
/// "agent on node X speaks protocol 2, this clsync speaks 1; deploy a matching clsync or use
/// --deploy-agent". `node` is the node's description.
void check_hello_reply(const HelloReply& reply, const std::string& node);

// CBOR encodings of every type crossing the node interface. `from_wire` throws TransportError
// (error) naming the missing or mistyped field.

nlohmann::json to_wire(const Hello& v);
nlohmann::json to_wire(const HelloReply& v);
nlohmann::json to_wire(const ErrorInfo& v);
nlohmann::json to_wire(const FileEntry& v);
nlohmann::json to_wire(const ChunkDir& v);
nlohmann::json to_wire(const ReplicaScan& v);
nlohmann::json to_wire(const VolumeScan& v);
nlohmann::json to_wire(const UnmanagedScan& v);
nlohmann::json to_wire(const LeftoverScan& v);
nlohmann::json to_wire(const DatabaseLayout& v);
nlohmann::json to_wire(const ScanSpec& v);
nlohmann::json to_wire(const NodeScan& v);
nlohmann::json to_wire(const ChunkDigest& v);
nlohmann::json to_wire(const LeaseInfo& v);
nlohmann::json to_wire(const LeaseResult& v);
nlohmann::json to_wire(const DirEntry& v);
nlohmann::json to_wire(CommitMode v);
nlohmann::json to_wire(CommitOutcome v);
nlohmann::json to_wire(RenameOutcome v);
nlohmann::json to_wire(const DirectSource& v);
nlohmann::json to_wire(const PullResult& v);

void from_wire(const nlohmann::json& j, Hello& v);
void from_wire(const nlohmann::json& j, HelloReply& v);
void from_wire(const nlohmann::json& j, ErrorInfo& v);
void from_wire(const nlohmann::json& j, FileEntry& v);
void from_wire(const nlohmann::json& j, ChunkDir& v);
void from_wire(const nlohmann::json& j, ReplicaScan& v);
void from_wire(const nlohmann::json& j, VolumeScan& v);
void from_wire(const nlohmann::json& j, UnmanagedScan& v);
void from_wire(const nlohmann::json& j, LeftoverScan& v);
void from_wire(const nlohmann::json& j, DatabaseLayout& v);
void from_wire(const nlohmann::json& j, ScanSpec& v);
void from_wire(const nlohmann::json& j, NodeScan& v);
void from_wire(const nlohmann::json& j, ChunkDigest& v);
void from_wire(const nlohmann::json& j, LeaseInfo& v);
void from_wire(const nlohmann::json& j, LeaseResult& v);
void from_wire(const nlohmann::json& j, DirEntry& v);
void from_wire(const nlohmann::json& j, CommitMode& v);
void from_wire(const nlohmann::json& j, CommitOutcome& v);
void from_wire(const nlohmann::json& j, RenameOutcome& v);
nlohmann::json to_wire(BatchRenameOutcome v);
void from_wire(const nlohmann::json& j, BatchRenameOutcome& v);
void from_wire(const nlohmann::json& j, DirectSource& v);
void from_wire(const nlohmann::json& j, PullResult& v);

// Backup objects (agent_wire_objects.cpp); a manifest's entries use the FileEntry and ChunkDir
// encodings above.
nlohmann::json to_wire(const ChunkManifest& v);
nlohmann::json to_wire(const PackOptions& v);
nlohmann::json to_wire(const PackResult& v);
nlohmann::json to_wire(const ObjectCheck& v);
void from_wire(const nlohmann::json& j, ChunkManifest& v);
void from_wire(const nlohmann::json& j, PackOptions& v);
void from_wire(const nlohmann::json& j, PackResult& v);
void from_wire(const nlohmann::json& j, ObjectCheck& v);

/// Decodes `j` into a fresh T (any type with a from_wire overload).
template <class T> T decode(const nlohmann::json& j)
{
  T v{};
  from_wire(j, v);
  return v;
}

/// A required string field of a request; throws TransportError (refused) when absent.
std::string get_string(const nlohmann::json& j, const char* key);
/// A required unsigned field of a request; throws TransportError (refused) when absent.
std::uint64_t get_u64(const nlohmann::json& j, const char* key);
/// A required boolean field of a request; throws TransportError (refused) when absent.
bool get_bool(const nlohmann::json& j, const char* key);

} // namespace clsync::transport::wire
