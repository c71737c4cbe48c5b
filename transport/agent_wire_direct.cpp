// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// CBOR encodings of the direct-transfer types (agent_protocol.hpp, messages 90–92).
#include "transport/agent_protocol.hpp"

#include <algorithm>

namespace clsync::transport::wire {

using nlohmann::json;

json to_wire(const DirectSource& v)
{
  return {{"node", v.node},
          {"host", v.host},
          {"port", static_cast<std::uint64_t>(std::max(0, v.port))},
          {"user", v.user},
          {"identity", v.identity},
          {"known_hosts", v.known_hosts},
          {"agent_command", v.agent_command},
          {"roots", v.roots},
          {"volume", v.volume},
          {"key", v.key},
          {"connect_timeout_s", static_cast<std::uint64_t>(std::max(0, v.connect_timeout_s))},
          {"io_timeout_s", static_cast<std::uint64_t>(std::max(0, v.io_timeout_s))}};
}

void from_wire(const json& j, DirectSource& v)
{
  if (!j.is_object()) {
    bad_field("source");
  }
  v.node = get_string(j, "node");
  v.host = get_string(j, "host");
  v.port = static_cast<int>(std::min<std::uint64_t>(get_u64(j, "port"), 1u << 20));
  v.user = get_string(j, "user");
  v.identity = get_string(j, "identity");
  v.known_hosts = get_string(j, "known_hosts");
  v.agent_command = get_string(j, "agent_command");
  auto roots = j.find("roots");
  if (roots == j.end() || !roots->is_array()) {
    bad_field("roots");
  }
  v.roots.clear();
  for (const auto& r : *roots) {
    if (!r.is_string()) {
      bad_field("roots");
    }
    v.roots.push_back(r.get<std::string>());
  }
  v.volume = get_string(j, "volume");
  v.key = get_string(j, "key");
  v.connect_timeout_s =
      static_cast<int>(std::min<std::uint64_t>(get_u64(j, "connect_timeout_s"), 86400));
  v.io_timeout_s = static_cast<int>(std::min<std::uint64_t>(get_u64(j, "io_timeout_s"), 86400));
}

json to_wire(const PullResult& v)
{
  return {{"read", to_wire(v.read)}, {"written", to_wire(v.written)}};
}

void from_wire(const json& j, PullResult& v)
{
  if (!j.is_object() || !j.contains("read") || !j.contains("written")) {
    bad_field("read");
  }
  from_wire(j.at("read"), v.read);
  from_wire(j.at("written"), v.written);
}

} // namespace clsync::transport::wire
