// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/agent_client.hpp"
#include "transport/open.hpp"
#include "transport/ssh_session.hpp"

#include <climits>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string_view>
#include <unistd.h>

#include <nlohmann/json.hpp>

#ifndef CLSYNC_VERSION
#define CLSYNC_VERSION "0.0.0"
#endif

namespace clsync::transport {

namespace {

std::function<void(const std::string&)>& debug_sink()
{
  static std::function<void(const std::string&)> sink;
  return sink;
}

void debug_log(const std::string& line)
{
  if (auto& sink = debug_sink()) {
    sink(line);
  }
}

/// What the client remembers of a node's persistent agent (agent_daemon.hpp), one small JSON
/// file per node (user, host, port and agent command) in SshTarget::agent_memory_dir.
struct AgentMemory {
  std::string socket;
  std::uint32_t euid = 0;
  std::string version;
};

class AgentMemoryFile {
public:
  explicit AgentMemoryFile(const SshTarget& t)
  {
    if (t.agent_persist_s <= 0 || t.agent_memory_dir.empty()) {
      return;
    }
    const std::string key = t.user + "@" + t.host + ":" + std::to_string(t.port) + "\n" +
                            t.agent_command;
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : key) {
      h = (h ^ c) * 1099511628211ull;
    }
    char name[32];
    std::snprintf(name, sizeof name, "%016llx.json", static_cast<unsigned long long>(h));
    m_path = std::filesystem::path(t.agent_memory_dir) / name;
  }
  bool enabled() const { return !m_path.empty(); }

  std::optional<AgentMemory> read() const
  {
    std::lock_guard lock(m_mutex);
    std::ifstream in(m_path);
    if (!in) {
      return std::nullopt;
    }
    // Our own file, but a damaged one only means "start over exec".
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_object() || !j.contains("socket") || !j["socket"].is_string() ||
        !j.contains("euid") || !j["euid"].is_number_unsigned() || !j.contains("version") ||
        !j["version"].is_string()) {
      return std::nullopt;
    }
    AgentMemory m;
    m.socket = j["socket"].get<std::string>();
    m.euid = j["euid"].get<std::uint32_t>();
    m.version = j["version"].get<std::string>();
    if (m.socket.empty() || m.socket.front() != '/') {
      return std::nullopt;
    }
    return m;
  }

  /// Best effort: a memory that cannot be written costs the next run a shell start.
  void write(const AgentMemory& m) const
  {
    std::lock_guard lock(m_mutex);
    std::error_code ec;
    std::filesystem::create_directories(m_path.parent_path(), ec);
    const auto tmp = m_path.string() + ".tmp." + std::to_string(::getpid());
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << nlohmann::json{{"socket", m.socket}, {"euid", m.euid}, {"version", m.version}}.dump()
          << '\n';
      if (!out) {
        std::filesystem::remove(tmp, ec);
        return;
      }
    }
    std::filesystem::rename(tmp, m_path, ec);
    if (ec) {
      std::filesystem::remove(tmp, ec);
    }
  }

  void forget() const
  {
    std::lock_guard lock(m_mutex);
    std::error_code ec;
    std::filesystem::remove(m_path, ec);
  }

private:
  std::filesystem::path m_path;
  mutable std::mutex m_mutex;
};

/// Where --deploy-agent puts the static agent on a node (the login shell expands '~').
const std::string k_deployed_agent = std::string("~/.cache/clsync/agent-") + CLSYNC_VERSION;

/// The agent command could not be run on the node (the shell said 127: not found).
struct AgentMissing {
  std::string diagnostics;
};

/// `command` as one word for the node's login shell (sshd runs an exec request through it):
/// single-quoted, so `;`, `$(…)`, spaces, quotes and globs stay bytes of the program path, and a
/// leading "~/" becomes "$HOME"/ (the deployed agent lives there). The first word of a command
/// is never an option, so a leading '-' only names a program that does not exist.
std::string agent_command_shell_word(const std::string& command)
{
  std::string out;
  std::string_view rest = command;
  if (rest.rfind("~/", 0) == 0) {
    out = "\"$HOME\"/";
    rest.remove_prefix(2);
  }
  out += '\'';
  for (char c : rest) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string static_agent_path(const SshTarget& t)
{
  if (!t.deploy_agent_binary.empty()) {
    return t.deploy_agent_binary;
  }
  if (const char* env = std::getenv("CLSYNC_AGENT_STATIC"); env && *env) {
    return env;
  }
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("clsync-agent-static")
            : (self.parent_path() / "clsync-agent-static").string();
}

class SshConnector {
public:
  explicit SshConnector(SshTarget t)
      : m_target(std::move(t)), m_label(describe_ssh_target(m_target)),
        m_agent_command(m_target.agent_command)
  {
  }

  std::unique_ptr<AgentStream> operator()()
  {
    std::shared_ptr<SshSession> session;
    if (m_memory.enabled()) {
      if (auto stream = open_persistent(session)) {
        return stream;
      }
    }
    std::string command;
    {
      std::lock_guard lock(m_mutex);
      command = m_agent_command;
    }
    try {
      return open_agent(command, std::move(session));
    } catch (const AgentMissing& missing) {
      if (!m_target.deploy_agent) {
        throw TransportError(FailureKind::error,
                             m_label + ": agent command '" + command + "' not found on the node (" +
                                 missing.diagnostics +
                                 "); install clsync there, set agent_command, or use "
                                 "--deploy-agent");
      }
    }
    // One connection deploys; the others wait and use what it put there.
    std::lock_guard lock(m_mutex);
    if (m_agent_command == k_deployed_agent) {
      return open_agent(k_deployed_agent);
    }
    try {
      auto stream = open_agent(k_deployed_agent);
      m_agent_command = k_deployed_agent;
      return stream;
    } catch (const AgentMissing&) {
      // Not deployed yet (or another version): upload it.
    }
    upload_agent();
    try {
      auto stream = open_agent(k_deployed_agent);
      m_agent_command = k_deployed_agent;
      return stream;
    } catch (const AgentMissing& missing) {
      throw TransportError(FailureKind::error, m_label + ": the deployed agent " +
                                                   k_deployed_agent + " does not run (" +
                                                   missing.diagnostics + ")");
    }
  }

private:
  wire::Hello make_hello() const
  {
    wire::Hello hello;
    hello.version = CLSYNC_VERSION;
    hello.roots = m_target.roots;
    hello.compress = m_target.compress;
    hello.keepalive_ms =
        static_cast<std::uint32_t>(std::clamp(m_target.io_timeout_s * 1000 / 4, 50, 5000));
    hello.persist_s = static_cast<std::uint32_t>(std::max(0, m_target.agent_persist_s));
    return hello;
  }

  /// The node's persistent agent, through a direct-streamlocal channel to the socket the last
  /// exec agent named: no shell, no process start. Anything wrong (nothing remembered, no
  /// daemon, a socket that is not the agent we remember, a protocol mismatch) gives nullptr,
  /// leaving `session` (when it connected) for the exec channel. Connect errors are the
  /// node's and pass as they would over exec.
  std::unique_ptr<AgentStream> open_persistent(std::shared_ptr<SshSession>& session)
  {
    auto memory = m_memory.read();
    if (!memory) {
      return nullptr;
    }
    session = SshSession::connect(m_target);
    try {
      auto channel = std::make_unique<SshExecChannel>(session, NodeUnixSocket{memory->socket});
      auto reply = try_agent_hello(*channel, make_hello(), m_label);
      if (!reply) {
        throw TransportError(FailureKind::error, "closed before the hello reply");
      }
      // The agent the exec channel started (same uid, same build), not something else that
      // listens there.
      if (reply->euid != memory->euid || reply->version != memory->version) {
        throw TransportError(FailureKind::error,
                             "answered as uid " + std::to_string(reply->euid) + ", version " +
                                 reply->version);
      }
      return channel;
    } catch (const TransportError& e) {
      debug_log(m_label + ": persistent agent at " + memory->socket + " not used (" + e.what() +
                "); starting the agent over exec");
      m_memory.forget();
      return nullptr;
    }
  }

  /// A fresh session per attempt (or `session`, fresh from a failed persistent attempt whose
  /// channel is closed): a session is one exec channel, so a failed command never leaves a
  /// channel behind on the session the agent then runs on.
  std::unique_ptr<AgentStream> open_agent(const std::string& command,
                                          std::shared_ptr<SshSession> session = nullptr)
  {
    auto channel = std::make_unique<SshExecChannel>(
        session ? std::move(session) : SshSession::connect(m_target),
        agent_command_shell_word(command) + " agent");
    auto reply = try_agent_hello(*channel, make_hello(), m_label);
    if (reply && m_memory.enabled()) {
      if (reply->socket.empty()) {
        m_memory.forget();
      } else {
        m_memory.write(AgentMemory{reply->socket, reply->euid, reply->version});
      }
    }
    if (!reply) {
      // exit 127 is the shell's "command not found"; 126 "found but cannot execute".
      int status = channel->exit_status();
      std::string diag = channel->diagnostics();
      if (status == 127) {
        throw AgentMissing{diag};
      }
      // Killed by a signal (no exit status): its sshd died or was restarted under it, which
      // the next attempt on a fresh session survives; an exit status is the agent's own answer.
      throw TransportError(FailureKind::error,
                           "agent on " + m_label + " exited before the hello" +
                               (diag.empty() ? "" : ": " + diag),
                           status < 0);
    }
    return channel;
  }

  void upload_agent()
  {
    const std::string local = static_agent_path(m_target);
    std::ifstream in(local, std::ios::binary);
    if (!in) {
      throw TransportError(FailureKind::error,
                           m_label + ": cannot deploy the agent: no static agent build at " +
                               local + " (build the clsync-agent-static target)");
    }
    const std::string dir = "~/.cache/clsync";
    const std::string tmp = dir + "/.agent-" + CLSYNC_VERSION + ".tmp.$$";
    SshExecChannel upload(SshSession::connect(m_target),
                          "umask 077 && mkdir -p " + dir + " && cat > " + tmp + " && chmod 700 " +
                              tmp + " && mv -f " + tmp + " " + k_deployed_agent);
    std::vector<char> buf(256 << 10);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (in.gcount() > 0) {
        upload.write_all(buf.data(), static_cast<std::size_t>(in.gcount()));
      }
    }
    upload.send_eof();
    int status = upload.exit_status();
    if (status != 0) {
      throw TransportError(FailureKind::error, m_label + ": uploading the agent to " +
                                                   k_deployed_agent + " failed (" +
                                                   upload.diagnostics() + ")");
    }
  }

  SshTarget m_target;
  std::string m_label;
  AgentMemoryFile m_memory{m_target};
  std::mutex m_mutex;
  std::string m_agent_command;
};

} // namespace

void set_transport_debug_log(std::function<void(const std::string&)> log)
{
  debug_sink() = std::move(log);
}

std::shared_ptr<Node> make_ssh_node(const SshTarget& target)
{
  AgentNodeOptions options;
  options.description = describe_ssh_target(target);
  options.pool_size = std::max(1, target.pool_size);
  options.compress = target.compress;
  options.stall_limit_s = stall_limit_s(target.io_timeout_s);
  auto connector = std::make_shared<SshConnector>(target);
  return make_agent_node(options, [connector] { return (*connector)(); });
}

} // namespace clsync::transport
