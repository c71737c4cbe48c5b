// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// CBOR encodings of the backup-object types (agent_protocol.hpp, object.hpp).
#include "transport/agent_protocol.hpp"
#include "transport/wire_number.hpp"

namespace clsync::transport::wire {

using nlohmann::json;

namespace {

const json& field(const json& j, const char* key)
{
  auto it = j.is_object() ? j.find(key) : j.end();
  if (!j.is_object() || it == j.end()) {
    bad_field(key);
  }
  return *it;
}

template <class T> T get(const json& j, const char* key)
{
  try {
    T v{};
    if (!wire_value(field(j, key), v)) {
      bad_field(key);
    }
    return v;
  } catch (const json::exception&) {
    bad_field(key);
  }
}

const json& array(const json& j, const char* key)
{
  const json& a = field(j, key);
  if (!a.is_array()) {
    bad_field(key);
  }
  return a;
}

} // namespace

json to_wire(const ChunkManifest& v)
{
  json files = json::array();
  for (const ObjectFile& f : v.files) {
    json holes = json::array();
    for (const HoleRange& h : f.holes) {
      holes.push_back(json::array({h.offset, h.length}));
    }
    files.push_back({{"entry", to_wire(f.entry)}, {"sha256", f.sha256}, {"holes", holes}});
  }
  json dirs = json::array();
  for (const ChunkDir& d : v.dirs) {
    dirs.push_back(to_wire(d));
  }
  return {{"files", std::move(files)}, {"dirs", std::move(dirs)}};
}

void from_wire(const json& j, ChunkManifest& v)
{
  v.files.clear();
  v.dirs.clear();
  for (const json& f : array(j, "files")) {
    ObjectFile of;
    from_wire(field(f, "entry"), of.entry);
    of.sha256 = get<std::string>(f, "sha256");
    for (const json& h : array(f, "holes")) {
      if (!h.is_array() || h.size() != 2 || !h[0].is_number_unsigned() ||
          !h[1].is_number_unsigned()) {
        bad_field("holes");
      }
      of.holes.push_back({h[0].get<std::uint64_t>(), h[1].get<std::uint64_t>()});
    }
    v.files.push_back(std::move(of));
  }
  for (const json& d : array(j, "dirs")) {
    v.dirs.push_back(decode<ChunkDir>(d));
  }
}

json to_wire(const PackOptions& v)
{
  return {{"level", v.level}, {"threads", v.threads}, {"columns", v.columns}};
}

void from_wire(const json& j, PackOptions& v)
{
  v.level = get<int>(j, "level");
  v.threads = get<int>(j, "threads");
  v.columns = get<std::vector<std::string>>(j, "columns");
}

json to_wire(const PackResult& v)
{
  return {{"manifest", to_wire(v.manifest)},
          {"digest", to_wire(v.digest)},
          {"object_sha256", v.object_sha256},
          {"object_size", v.object_size}};
}

void from_wire(const json& j, PackResult& v)
{
  from_wire(field(j, "manifest"), v.manifest);
  from_wire(field(j, "digest"), v.digest);
  v.object_sha256 = get<std::string>(j, "object_sha256");
  v.object_size = get<std::uint64_t>(j, "object_size");
}

json to_wire(const ObjectCheck& v)
{
  return {{"ok", v.ok},
          {"error", v.error},
          {"object_sha256", v.object_sha256},
          {"object_size", v.object_size},
          {"bytes", v.bytes}};
}

void from_wire(const json& j, ObjectCheck& v)
{
  v.ok = get<bool>(j, "ok");
  v.error = get<std::string>(j, "error");
  v.object_sha256 = get<std::string>(j, "object_sha256");
  v.object_size = get<std::uint64_t>(j, "object_size");
  v.bytes = get<std::uint64_t>(j, "bytes");
}

} // namespace clsync::transport::wire
