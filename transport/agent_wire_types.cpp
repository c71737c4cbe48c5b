// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// CBOR encodings of the node interface's types (agent_protocol.hpp).
#include "transport/agent_protocol.hpp"
#include "transport/wire_number.hpp"

namespace clsync::transport::wire {

using nlohmann::json;

namespace {

template <class T> void req(const json& j, const char* key, T& out)
{
  if (!j.is_object()) {
    protocol_error(std::string("expected a map holding '") + key + "'");
  }
  auto it = j.find(key);
  if (it == j.end()) {
    bad_field(key);
  }
  try {
    if (!wire_value(*it, out)) {
      bad_field(key);
    }
  } catch (const json::exception&) {
    bad_field(key);
  }
}

// Optional fields are omitted when empty, which keeps scans with file lists small.
template <class T> void opt(const json& j, const char* key, T& out)
{
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return;
  }
  try {
    if (!wire_value(*it, out)) {
      bad_field(key);
    }
  } catch (const json::exception&) {
    bad_field(key);
  }
}

template <class T> void req_list(const json& j, const char* key, std::vector<T>& out)
{
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) {
    bad_field(key);
  }
  out.clear();
  out.reserve(it->size());
  for (const auto& e : *it) {
    out.push_back(decode<T>(e));
  }
}

template <class T> void opt_list(const json& j, const char* key, std::vector<T>& out)
{
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    out.clear();
    return;
  }
  req_list(j, key, out);
}

template <class T> json list(const std::vector<T>& v)
{
  json a = json::array();
  for (const auto& e : v) {
    a.push_back(to_wire(e));
  }
  return a;
}

} // namespace

// ---- encodings -----------------------------------------------------------------------------

json to_wire(const Hello& v)
{
  return {{"protocol", v.protocol},
          {"version", v.version},
          {"roots", v.roots},
          {"keepalive_ms", v.keepalive_ms},
          {"compress", v.compress},
          {"persist_s", v.persist_s}};
}
void from_wire(const json& j, Hello& v)
{
  req(j, "protocol", v.protocol);
  req(j, "version", v.version);
  req(j, "roots", v.roots);
  opt(j, "keepalive_ms", v.keepalive_ms);
  opt(j, "compress", v.compress);
  opt(j, "persist_s", v.persist_s);
}

json to_wire(const HelloReply& v)
{
  json j{
      {"protocol", v.protocol}, {"version", v.version}, {"hostname", v.hostname}, {"euid", v.euid}};
  if (!v.error.empty()) {
    j["error"] = v.error;
  }
  if (!v.socket.empty()) {
    j["socket"] = v.socket;
  }
  return j;
}
void from_wire(const json& j, HelloReply& v)
{
  // The protocol number is read first and alone: a future agent may change everything else.
  req(j, "protocol", v.protocol);
  opt(j, "version", v.version);
  if (v.protocol != k_protocol_version) {
    return;
  }
  req(j, "hostname", v.hostname);
  req(j, "euid", v.euid);
  opt(j, "error", v.error);
  opt(j, "socket", v.socket);
}

json to_wire(const ErrorInfo& v)
{
  return {
      {"kind", transport::to_string(v.kind)}, {"message", v.message}, {"retryable", v.retryable}};
}
void from_wire(const json& j, ErrorInfo& v)
{
  std::string kind;
  req(j, "kind", kind);
  v.kind = failure_kind_from_string(kind);
  req(j, "message", v.message);
  opt(j, "retryable", v.retryable);
}

json to_wire(const FileEntry& v)
{
  json j{{"path", v.path}, {"size", v.size}, {"mtime_ns", v.mtime_ns},
         {"mode", v.mode}, {"uid", v.uid},   {"gid", v.gid}};
  if (!v.link_to.empty()) {
    j["link_to"] = v.link_to;
  }
  return j;
}
void from_wire(const json& j, FileEntry& v)
{
  req(j, "path", v.path);
  req(j, "size", v.size);
  req(j, "mtime_ns", v.mtime_ns);
  req(j, "mode", v.mode);
  req(j, "uid", v.uid);
  req(j, "gid", v.gid);
  opt(j, "link_to", v.link_to);
}

json to_wire(const ChunkDir& v)
{
  return {{"path", v.path}, {"mtime_ns", v.mtime_ns}, {"mode", v.mode}, {"uid", v.uid},
          {"gid", v.gid}};
}
void from_wire(const json& j, ChunkDir& v)
{
  req(j, "path", v.path);
  req(j, "mtime_ns", v.mtime_ns);
  req(j, "mode", v.mode);
  req(j, "uid", v.uid);
  req(j, "gid", v.gid);
}

json to_wire(const ReplicaScan& v)
{
  json j{{"volume", v.volume},
         {"key", v.key},
         {"bytes", v.bytes},
         {"files", v.files},
         {"newest_mtime_ns", v.newest_mtime_ns},
         {"fingerprint", v.fingerprint},
         {"layout_hash", v.layout_hash},
         {"allocated_bytes", v.allocated_bytes}};
  if (!v.content_hash.empty()) {
    j["content_hash"] = v.content_hash;
  }
  if (!v.special.empty()) {
    j["special"] = v.special;
  }
  if (!v.file_list.empty()) {
    j["file_list"] = list(v.file_list);
  }
  return j;
}
void from_wire(const json& j, ReplicaScan& v)
{
  req(j, "volume", v.volume);
  req(j, "key", v.key);
  req(j, "bytes", v.bytes);
  req(j, "files", v.files);
  req(j, "newest_mtime_ns", v.newest_mtime_ns);
  req(j, "fingerprint", v.fingerprint);
  req(j, "layout_hash", v.layout_hash);
  req(j, "allocated_bytes", v.allocated_bytes);
  opt(j, "content_hash", v.content_hash);
  opt(j, "special", v.special);
  opt_list(j, "file_list", v.file_list);
}

json to_wire(const VolumeScan& v)
{
  json j{{"path", v.path},
         {"ok", v.ok},
         {"capacity_bytes", v.capacity_bytes},
         {"free_bytes", v.free_bytes},
         {"filesystem_id", v.filesystem_id}};
  if (!v.error.empty()) {
    j["error"] = v.error;
  }
  // Volume identity (SPEC §3); optional so that older agents still talk.
  if (!v.machine_id.empty()) {
    j["machine_id"] = v.machine_id;
  }
  if (v.inode != 0) {
    j["device"] = v.device;
    j["inode"] = v.inode;
  }
  return j;
}
void from_wire(const json& j, VolumeScan& v)
{
  req(j, "path", v.path);
  req(j, "ok", v.ok);
  opt(j, "error", v.error);
  req(j, "capacity_bytes", v.capacity_bytes);
  req(j, "free_bytes", v.free_bytes);
  req(j, "filesystem_id", v.filesystem_id);
  opt(j, "machine_id", v.machine_id);
  opt(j, "device", v.device);
  opt(j, "inode", v.inode);
}

json to_wire(const UnmanagedScan& v)
{
  return {{"volume", v.volume}, {"path", v.path}, {"bytes", v.bytes}, {"files", v.files}};
}
void from_wire(const json& j, UnmanagedScan& v)
{
  req(j, "volume", v.volume);
  req(j, "path", v.path);
  req(j, "bytes", v.bytes);
  req(j, "files", v.files);
}

json to_wire(const LeftoverScan& v)
{
  return {{"volume", v.volume},
          {"name", v.name},
          {"kind", v.kind},
          {"task", v.task},
          {"content", v.content}};
}
void from_wire(const json& j, LeftoverScan& v)
{
  req(j, "volume", v.volume);
  req(j, "name", v.name);
  req(j, "kind", v.kind);
  req(j, "task", v.task);
  req(j, "content", v.content);
}

json to_wire(const DatabaseLayout& v)
{
  return {{"name", v.name}, {"levels", v.levels}};
}
void from_wire(const json& j, DatabaseLayout& v)
{
  req(j, "name", v.name);
  req(j, "levels", v.levels);
}

json to_wire(const ScanSpec& v)
{
  json j = {{"databases", list(v.databases)},
            {"with_files", v.with_files},
            {"with_hashes", v.with_hashes}};
  if (!v.skip_databases.empty()) {
    j["skip_databases"] = v.skip_databases;
  }
  return j;
}
void from_wire(const json& j, ScanSpec& v)
{
  req_list(j, "databases", v.databases);
  opt(j, "skip_databases", v.skip_databases);
  req(j, "with_files", v.with_files);
  req(j, "with_hashes", v.with_hashes);
}

json to_wire(const NodeScan& v)
{
  return {{"volumes", list(v.volumes)},
          {"replicas", list(v.replicas)},
          {"unmanaged", list(v.unmanaged)},
          {"leftovers", list(v.leftovers)},
          {"problems", v.problems}};
}
void from_wire(const json& j, NodeScan& v)
{
  req_list(j, "volumes", v.volumes);
  req_list(j, "replicas", v.replicas);
  req_list(j, "unmanaged", v.unmanaged);
  req_list(j, "leftovers", v.leftovers);
  req(j, "problems", v.problems);
}

json to_wire(const ChunkDigest& v)
{
  return {{"content_hash", v.content_hash},
          {"fingerprint", v.fingerprint},
          {"bytes", v.bytes},
          {"files", v.files}};
}
void from_wire(const json& j, ChunkDigest& v)
{
  req(j, "content_hash", v.content_hash);
  req(j, "fingerprint", v.fingerprint);
  req(j, "bytes", v.bytes);
  req(j, "files", v.files);
}

json to_wire(const LeaseInfo& v)
{
  return {{"host", v.host},
          {"pid", v.pid},
          {"run_id", v.run_id},
          {"command", v.command},
          {"started_unix", v.started_unix},
          {"heartbeat_unix", v.heartbeat_unix},
          {"age_seconds", v.age_seconds},
          {"ttl_s", v.ttl_s},
          {"machine_id", v.machine_id},
          {"boot_id", v.boot_id},
          {"pid_start", v.pid_start}};
}
void from_wire(const json& j, LeaseInfo& v)
{
  req(j, "host", v.host);
  req(j, "pid", v.pid);
  req(j, "run_id", v.run_id);
  req(j, "command", v.command);
  req(j, "started_unix", v.started_unix);
  req(j, "heartbeat_unix", v.heartbeat_unix);
  req(j, "age_seconds", v.age_seconds);
  req(j, "ttl_s", v.ttl_s);
  req(j, "machine_id", v.machine_id);
  req(j, "boot_id", v.boot_id);
  req(j, "pid_start", v.pid_start);
}

json to_wire(const LeaseResult& v)
{
  json j{{"acquired", v.acquired}, {"holder", nullptr}};
  if (v.holder) {
    j["holder"] = to_wire(*v.holder);
  }
  return j;
}
void from_wire(const json& j, LeaseResult& v)
{
  req(j, "acquired", v.acquired);
  v.holder.reset();
  auto it = j.find("holder");
  if (it != j.end() && !it->is_null()) {
    v.holder = decode<LeaseInfo>(*it);
  }
}

json to_wire(const DirEntry& v)
{
  return {{"name", v.name}, {"is_dir", v.is_dir}, {"size", v.size}, {"mtime_ns", v.mtime_ns}};
}
void from_wire(const json& j, DirEntry& v)
{
  req(j, "name", v.name);
  req(j, "is_dir", v.is_dir);
  req(j, "size", v.size);
  req(j, "mtime_ns", v.mtime_ns);
}

namespace {

template <class E, std::size_t N>
E enum_from(const json& j, const std::array<std::pair<E, const char*>, N>& names, const char* what)
{
  if (j.is_string()) {
    for (const auto& [e, name] : names) {
      if (j.get<std::string>() == name) {
        return e;
      }
    }
  }
  // replace: a value that is not UTF-8 must not turn this error into a JSON exception.
  protocol_error(std::string("bad ") + what + " value " +
                 j.dump(-1, ' ', false, json::error_handler_t::replace));
}

template <class E, std::size_t N>
json enum_to(E e, const std::array<std::pair<E, const char*>, N>& names)
{
  for (const auto& [v, name] : names) {
    if (v == e) {
      return name;
    }
  }
  return "unknown";
}

constexpr std::array<std::pair<CommitMode, const char*>, 2> k_commit_modes{{
    {CommitMode::no_replace, "no_replace"},
    {CommitMode::exchange, "exchange"},
}};
constexpr std::array<std::pair<CommitOutcome, const char*>, 4> k_commit_outcomes{{
    {CommitOutcome::placed, "placed"},
    {CommitOutcome::already_equal, "already_equal"},
    {CommitOutcome::exists_different, "exists_different"},
    {CommitOutcome::replaced, "replaced"},
}};
constexpr std::array<std::pair<RenameOutcome, const char*>, 3> k_rename_outcomes{{
    {RenameOutcome::renamed, "renamed"},
    {RenameOutcome::cross_device, "cross_device"},
    {RenameOutcome::destination_exists, "destination_exists"},
}};
constexpr std::array<std::pair<BatchRenameOutcome, const char*>, 6> k_batch_rename_outcomes{{
    {BatchRenameOutcome::renamed, "renamed"},
    {BatchRenameOutcome::cross_device, "cross_device"},
    {BatchRenameOutcome::destination_exists, "destination_exists"},
    {BatchRenameOutcome::missing, "missing"},
    {BatchRenameOutcome::changed, "changed"},
    {BatchRenameOutcome::failed, "failed"},
}};

} // namespace

json to_wire(CommitMode v)
{
  return enum_to(v, k_commit_modes);
}
json to_wire(CommitOutcome v)
{
  return enum_to(v, k_commit_outcomes);
}
json to_wire(RenameOutcome v)
{
  return enum_to(v, k_rename_outcomes);
}
void from_wire(const json& j, CommitMode& v)
{
  v = enum_from(j, k_commit_modes, "commit mode");
}
void from_wire(const json& j, CommitOutcome& v)
{
  v = enum_from(j, k_commit_outcomes, "commit outcome");
}
void from_wire(const json& j, RenameOutcome& v)
{
  v = enum_from(j, k_rename_outcomes, "rename outcome");
}
json to_wire(BatchRenameOutcome v)
{
  return enum_to(v, k_batch_rename_outcomes);
}
void from_wire(const json& j, BatchRenameOutcome& v)
{
  v = enum_from(j, k_batch_rename_outcomes, "rename outcome");
}

} // namespace clsync::transport::wire
