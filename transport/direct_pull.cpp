// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/direct_pull.hpp"

#include "transport/agent_client.hpp"
#include "transport/local_node.hpp"
#include "transport/safe_path.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CLSYNC_VERSION
#define CLSYNC_VERSION "0.0.0"
#endif

namespace clsync::transport {

namespace {

/// A host name, an IPv4 or an IPv6 address (the topology's rule, checked again on the node:
/// the request came over the wire).
bool direct_host_ok(const std::string& h)
{
  if (h.empty() || h.front() == '-' || h.size() > 255) {
    return false;
  }
  return std::all_of(h.begin(), h.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' ||
           c == ']' || c == '%';
  });
}

bool direct_user_ok(const std::string& u)
{
  if (u.empty()) {
    return true;
  }
  if (u.front() == '-' || u.size() > 64) {
    return false;
  }
  for (std::size_t i = 0; i < u.size(); ++i) {
    const auto c = static_cast<unsigned char>(u[i]);
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-' || (c == '$' && i + 1 == u.size()))) {
      return false;
    }
  }
  return true;
}

/// A file path ssh takes as it is: absolute or under '~/', without whitespace, quotes, control
/// characters or '%' (ssh expands %-tokens and splits known_hosts lists at whitespace).
std::string direct_path_problem(const std::string& p, const char* what)
{
  if (p.empty()) {
    return {};
  }
  if (p.front() != '/' && p.rfind("~/", 0) != 0) {
    return std::string(what) + " '" + p + "' is not an absolute path (or one under ~/)";
  }
  for (char c : p) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == ' ' || c == '%' || c == '"' || c == '\'' || c == '\\') {
      return std::string(what) + " '" + p +
             "' holds whitespace, a quote, '%' or a control character";
    }
  }
  return {};
}

/// `~/x` as ssh reads it: under the home of the user this process runs as ($HOME, which sshd
/// sets from the password entry; no getpwuid: the static agent has no NSS). "" when unknown.
std::string direct_expand_home(const std::string& p)
{
  if (p.rfind("~/", 0) != 0) {
    return p;
  }
  const char* home = std::getenv("HOME");
  return home && *home ? home + p.substr(1) : std::string();
}

/// Passes the source's stream to the destination's writer, telling `on_bytes` what arrived.
class PullSink : public ChunkSink {
public:
  PullSink(ChunkWriter& writer, const std::function<void(std::uint64_t)>& on_bytes)
      : m_writer(writer), m_on_bytes(on_bytes)
  {
  }
  void begin_file(const FileEntry& file) override { m_writer.begin_file(file); }
  void file_data(std::span<const char> data) override
  {
    m_writer.file_data(data);
    if (m_on_bytes) {
      m_on_bytes(data.size());
    }
  }
  void file_hole(std::uint64_t length) override { m_writer.file_hole(length); }
  void end_file(const std::string& sha256) override { m_writer.end_file(sha256); }
  void directory(const ChunkDir& dir) override { m_writer.directory(dir); }

private:
  ChunkWriter& m_writer;
  const std::function<void(std::uint64_t)>& m_on_bytes;
};

std::string direct_label(const std::string& self, const DirectSource& s)
{
  return "node " + s.node + " (" + (s.user.empty() ? "" : s.user + "@") + s.host + ":" +
         std::to_string(s.port) + ", pulled by " + self + ")";
}

} // namespace

std::string direct_source_problem(const DirectSource& s)
{
  if (!direct_host_ok(s.host)) {
    return "host '" + s.host + "' is not a host name or address";
  }
  if (!direct_user_ok(s.user)) {
    return "user '" + s.user + "' is not a login name";
  }
  if (s.port < 1 || s.port > 65535) {
    return "port " + std::to_string(s.port) + " is not a port number";
  }
  if (auto p = direct_path_problem(s.identity, "identity"); !p.empty()) {
    return p;
  }
  if (auto p = direct_path_problem(s.known_hosts, "known_hosts"); !p.empty()) {
    return p;
  }
  if (s.agent_command.empty() ||
      std::any_of(s.agent_command.begin(), s.agent_command.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    return "agent command '" + s.agent_command + "' is empty or holds a control character";
  }
  if (std::find(s.roots.begin(), s.roots.end(), s.volume) == s.roots.end()) {
    return "volume '" + s.volume + "' is not one of the source's volumes";
  }
  for (const auto& r : s.roots) {
    if (r.empty() || r.front() != '/') {
      return "volume '" + r + "' is not an absolute path";
    }
  }
  if (auto p = relative_path_problem(s.key, PathUse::key); !p.empty()) {
    return "chunk '" + s.key + "': " + p;
  }
  return {};
}

std::vector<std::string> direct_ssh_argv(const DirectSource& s)
{
  std::vector<std::string> argv{
      "ssh", "-T", "-x", "-a",
      "-o", "BatchMode=yes",
      "-o", "StrictHostKeyChecking=yes",
      "-o", "ConnectTimeout=" + std::to_string(std::max(1, s.connect_timeout_s)),
      "-o", "ServerAliveInterval=" + std::to_string(std::clamp(s.io_timeout_s / 4, 1, 60)),
      "-o", "ServerAliveCountMax=4",
      "-o", "LogLevel=ERROR",
      // AES-GCM first: with AES instructions it moves bulk data fastest (as the relay's libssh
      // sessions prefer it); all of these exist in OpenSSH 7.4 (CentOS 7) and later.
      "-o", "Ciphers=aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,"
            "aes128-ctr,aes256-ctr",
      "-p", std::to_string(s.port)};
  if (!s.known_hosts.empty()) {
    // Only the file the operator provisioned decides which host keys are known.
    argv.insert(argv.end(), {"-o", "UserKnownHostsFile=" + s.known_hosts, "-o",
                             "GlobalKnownHostsFile=/dev/null"});
  }
  if (!s.identity.empty()) {
    argv.insert(argv.end(), {"-i", s.identity, "-o", "IdentitiesOnly=yes"});
  }
  if (!s.user.empty()) {
    argv.insert(argv.end(), {"-l", s.user});
  }
  argv.insert(argv.end(), {"--", s.host, s.agent_command + " agent"});
  return argv;
}

std::shared_ptr<Node> DirectPuller::source_node(const std::string& self, const DirectSource& s)
{
  std::string key = s.host + '\n' + std::to_string(s.port) + '\n' + s.user + '\n' + s.identity +
                    '\n' + s.known_hosts + '\n' + s.agent_command + '\n' +
                    std::to_string(s.connect_timeout_s) + '\n' + std::to_string(s.io_timeout_s);
  for (const auto& r : s.roots) {
    key += '\n' + r;
  }
  std::lock_guard lock(m_mutex);
  if (auto it = m_sources.find(key); it != m_sources.end()) {
    return it->second;
  }
  AgentNodeOptions options;
  options.description = direct_label(self, s);
  options.pool_size = 4;
  options.stall_limit_s = stall_limit_s(s.io_timeout_s);
  const std::string label = options.description;
  auto connect = [s, label]() -> std::unique_ptr<AgentStream> {
    const std::string prefix = label + ": direct pull unavailable: ";
    std::unique_ptr<AgentStream> stream;
    try {
      stream = spawn_agent_process(direct_ssh_argv(s), label, std::max(1, s.io_timeout_s) * 1000);
    } catch (const TransportError& e) {
      throw DirectUnavailable(prefix + "cannot start ssh: " + e.what());
    }
    wire::Hello hello;
    hello.version = CLSYNC_VERSION;
    hello.roots = s.roots;
    hello.keepalive_ms = static_cast<std::uint32_t>(std::clamp(s.io_timeout_s * 1000 / 4, 50, 5000));
    std::optional<wire::HelloReply> reply;
    try {
      reply = try_agent_hello(*stream, hello, label);
    } catch (const TransportError& e) {
      throw DirectUnavailable(prefix + e.what());
    }
    if (!reply) {
      // ssh's own words: "Host key verification failed.", "Permission denied (publickey).",
      // "clsync: command not found" (exit status 127), "ssh: not found".
      const std::string diag = stream->diagnostics();
      throw DirectUnavailable(prefix + "ssh or the source's agent exited before the hello" +
                              (diag.empty() ? "" : ": " + diag));
    }
    return stream;
  };
  auto node = make_agent_node(options, connect);
  m_sources.emplace(key, node);
  return node;
}

PullResult DirectPuller::pull(Node& self,
                              const std::string& volume,
                              const std::string& task,
                              const DirectSource& source,
                              const std::function<void(std::uint64_t)>& on_bytes)
{
  const std::string label = direct_label(self.describe(), source);
  if (auto why = direct_source_problem(source); !why.empty()) {
    throw DirectUnavailable(label + ": direct pull refused: " + why);
  }
  // Files the operator provisions on this node: say which is missing rather than let ssh fall
  // back to other keys or fail with a bare "Permission denied".
  for (const auto* f : {&source.identity, &source.known_hosts}) {
    struct stat st {};
    const std::string path = f->empty() ? std::string() : direct_expand_home(*f);
    if (!path.empty() && ::stat(path.c_str(), &st) != 0) {
      throw DirectUnavailable(label + ": direct pull unavailable: " +
                              (f == &source.identity ? "identity file " : "known_hosts file ") +
                              *f + " does not exist on " + self.describe());
    }
  }
  auto src = source_node(self.describe(), source);
  // Connects first (a refused key or host key fails here, before any temp exists) and makes
  // sure the chunk is there: where it is, not its fingerprint (the read that follows walks it).
  const auto where = src->volumes_holding(source.key);
  const std::string source_volume = normalise_root(source.volume);
  if (std::none_of(where.begin(), where.end(),
                   [&](const std::string& v) { return normalise_root(v) == source_volume; })) {
    throw TransportError(FailureKind::not_found,
                         label + ": chunk " + source.key + " is not on " + source.volume);
  }
  auto writer = self.write_chunk(volume, task);
  PullSink sink(*writer, on_bytes);
  PullResult result;
  try {
    result.read = src->read_chunk(source.volume, source.key, sink);
    result.written = writer->finish();
  } catch (...) {
    writer->abort();
    throw;
  }
  return result;
}

PullResult Node::pull_chunk(const std::string& volume,
                            const std::string& task,
                            const DirectSource& source,
                            const std::function<void(std::uint64_t)>& on_bytes)
{
  (void)volume, (void)task, (void)on_bytes;
  throw DirectUnavailable(describe() + ": does not pull chunks from node " + source.node +
                          " directly");
}

PullResult LocalNode::pull_chunk(const std::string& volume,
                                 const std::string& task,
                                 const DirectSource& source,
                                 const std::function<void(std::uint64_t)>& on_bytes)
{
  std::shared_ptr<DirectPuller> puller;
  {
    std::lock_guard lock(m_fence_mutex);
    if (!m_puller) {
      m_puller = std::make_shared<DirectPuller>();
    }
    puller = m_puller;
  }
  return puller->pull(*this, volume, task, source, on_bytes);
}

} // namespace clsync::transport
