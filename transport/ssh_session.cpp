// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/ssh_session.hpp"

#include "transport/ssh_known_hosts.hpp"
#include "transport/ssh_tcp_connect.hpp"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

namespace clsync::transport {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* k_ciphers = "aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
                                  "chacha20-poly1305@openssh.com,aes256-ctr,aes128-ctr";

std::string expand_home(const std::string& p)
{
  if (p.size() >= 1 && p[0] == '~' && (p.size() == 1 || p[1] == '/')) {
    const char* home = std::getenv("HOME");
    return std::string(home ? home : "") + p.substr(1);
  }
  return p;
}

/// Whether libssh's error text says a timeout passed ("Timeout", "timed out").
bool mentions_timeout(std::string why)
{
  std::transform(why.begin(), why.end(), why.begin(), [](unsigned char c) { return std::tolower(c); });
  return why.find("timeout") != std::string::npos || why.find("timed out") != std::string::npos;
}

std::string lower_first(std::string s)
{
  if (!s.empty()) {
    s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  }
  return s;
}

// libssh would otherwise fall back to OpenSSL's terminal prompt for an encrypted PEM key.
int refuse_passphrase(const char*, char*, size_t, int, int, void*)
{
  return -1;
}

int remaining_ms(Clock::time_point deadline)
{
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<long long>(0, left.count()));
}

} // namespace

/// Frees a key libssh made for us (outside the anonymous namespace: SshSession::Impl holds one).
struct SshKeyFree {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};

std::string describe_ssh_target(const SshTarget& t)
{
  return "node " + t.name + " (" + t.host + ":" + std::to_string(t.port) + ")";
}

struct SshSession::Impl {
  ssh_session s = nullptr;
  ssh_callbacks_struct callbacks{};
  std::string label;
  std::string fingerprint;
  int io_timeout_ms = 60000;
  int connect_timeout_s = 10;
  std::string identity_path;                          ///< the target's identity, expanded
  std::unique_ptr<ssh_key_struct, SshKeyFree> identity;  ///< null: none, or unreadable

  ~Impl()
  {
    if (s) {
      ssh_disconnect(s);
      ssh_free(s);
    }
  }

  /// Every failure of the session's setup: connect, host key, authentication.
  [[noreturn]] void fail(FailureKind kind, const std::string& what, bool retryable = false)
  {
    throw ConnectError(kind, label + ": " + what, retryable);
  }
  std::string error() const { return lower_first(ssh_get_error(s)); }

  void check_host_key(const SshTarget& t, const std::string& known_hosts)
  {
    ssh_key key = nullptr;
    if (ssh_get_server_publickey(s, &key) != SSH_OK) {
      fail(FailureKind::error, "no host key from the server: " + error(), true);
    }
    unsigned char* hash = nullptr;
    size_t hash_len = 0;
    std::string type = ssh_key_type_to_char(ssh_key_type(key));
    if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_len) == 0) {
      char* fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_len);
      fingerprint = fp ? fp : "";
      ssh_string_free_char(fp);
      ssh_clean_pubkey_hash(&hash);
    }
    ssh_key_free(key);

    const std::string where = known_hosts.empty() ? "~/.ssh/known_hosts" : known_hosts;
    const std::string offer = "server offers " + type + " key " + fingerprint;
    switch (ssh_session_is_known_server(s)) {
    case SSH_KNOWN_HOSTS_OK:
      return;
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER: {
      auto line = find_known_hosts_line(expand_home(where), t.host, t.port);
      fail(FailureKind::host_key,
           "host key mismatch: " + offer + ", which differs from the key recorded in " +
               "known_hosts " + where +
               (line > 0 ? " line " + std::to_string(line) : std::string()) +
               "; if the host was reinstalled, remove that entry (ssh-keygen -R)");
    }
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_UNKNOWN:
      if (!t.accept_new) {
        fail(FailureKind::host_key, "unknown host key (" + offer + "), not in known_hosts " +
                                        where + "; add it, or set host_key_policy: accept-new");
      }
      if (ssh_session_update_known_hosts(s) != SSH_OK) {
        fail(FailureKind::host_key, "cannot record the host key in " + where + ": " + error());
      }
      return;
    case SSH_KNOWN_HOSTS_ERROR:
    default:
      fail(FailureKind::host_key, "cannot check the host key against " + where + ": " + error());
    }
  }

  /// The `identity` key, read before the connection is up (the server's sshd is starting
  /// meanwhile); a key that cannot be read is only noted, and authentication goes on to the
  /// other methods.
  void load_identity(const SshTarget& t)
  {
    if (t.identity.empty()) {
      return;
    }
    identity_path = expand_home(t.identity);
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(identity_path.c_str(), nullptr, refuse_passphrase, nullptr,
                                    &key) == SSH_OK) {
      identity.reset(key);
    }
  }

  void authenticate()
  {
    std::string tried;
    auto note = [&](const std::string& what) { tried += (tried.empty() ? "" : ", ") + what; };
    // Only DENIED (and PARTIAL) are the server's "no": a method that timed out (AGAIN in
    // blocking mode once SSH_OPTIONS_TIMEOUT passed, or ERROR saying so) is a hung host, and
    // trying the next method would end as "authentication failed" for a node that never answered.
    auto check = [&](int rc) {
      if (rc == SSH_AUTH_SUCCESS) {
        return true;
      }
      if (rc == SSH_AUTH_ERROR && !ssh_is_connected(s)) {
        fail(FailureKind::error, "connection lost during authentication: " + error(), true);
      }
      if (rc == SSH_AUTH_AGAIN || (rc == SSH_AUTH_ERROR && mentions_timeout(error()))) {
        fail(FailureKind::timeout, "authentication timed out after " +
                                       std::to_string(connect_timeout_s) + " s: " + error());
      }
      return false;
    };
    if (!identity_path.empty() && !identity) {
      note("identity " + identity_path +
           " (unreadable, or protected by a passphrase: use ssh-agent)");
    } else if (identity) {
      note("identity " + identity_path);
      if (check(ssh_userauth_publickey(s, nullptr, identity.get()))) {
        return;
      }
    }
    if (const char* sock = std::getenv("SSH_AUTH_SOCK"); sock && *sock) {
      note("ssh-agent");
      if (check(ssh_userauth_agent(s, nullptr))) {
        return;
      }
    }
    note("default keys");
    if (check(ssh_userauth_publickey_auto(s, nullptr, nullptr))) {
      return;
    }
    fail(FailureKind::auth, "authentication failed (tried " + tried + ")");
  }
};

std::shared_ptr<SshSession> SshSession::connect(const SshTarget& t)
{
  auto impl = std::make_unique<Impl>();
  impl->label = describe_ssh_target(t);
  impl->io_timeout_ms = std::max(1, t.io_timeout_s) * 1000;
  impl->connect_timeout_s = std::max(1, t.connect_timeout_s);
  // First the TCP connection: the server's sshd starts on it while the rest is set up.
  const auto connect_deadline = Clock::now() + std::chrono::seconds(impl->connect_timeout_s);
  UniqueFd tcp =
      connect_tcp(impl->label, t.host, t.port, std::chrono::seconds(impl->connect_timeout_s));

  static std::once_flag init;
  std::call_once(init, [] { ssh_init(); });
  impl->s = ssh_new();
  if (!impl->s) {
    impl->fail(FailureKind::error, "cannot create an SSH session");
  }
  ssh_session s = impl->s;
  ssh_callbacks_init(&impl->callbacks);
  impl->callbacks.auth_function = refuse_passphrase;
  ssh_set_callbacks(s, &impl->callbacks);

  // The topology is the whole configuration: ~/.ssh/config is not read, so nothing there
  // silently changes the host, user, port or known_hosts file a node was declared with.
  int no = 0;
  // What is left of the connect timeout, for the SSH handshake (whole seconds, at least one).
  long timeout = std::max(1L, (remaining_ms(connect_deadline) + 999L) / 1000);
  unsigned int port = static_cast<unsigned int>(t.port);
  std::string known_hosts = expand_home(t.known_hosts);
  bool ok = ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_HOST, t.host.c_str()) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_PORT, &port) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, k_ciphers) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, k_ciphers) == SSH_OK &&
            ssh_options_set(s, SSH_OPTIONS_COMPRESSION, "no") == SSH_OK;
  if (ok && !t.user.empty()) {
    ok = ssh_options_set(s, SSH_OPTIONS_USER, t.user.c_str()) == SSH_OK;
  }
  if (ok && !known_hosts.empty()) {
    ok = ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, known_hosts.c_str()) == SSH_OK;
  }
  if (!ok) {
    impl->fail(FailureKind::error, "bad SSH options: " + impl->error());
  }

  impl->load_identity(t);

  // libssh owns the socket from ssh_connect on (and closes it with the session).
  socket_t connected = tcp.get();
  if (ssh_options_set(s, SSH_OPTIONS_FD, &connected) != SSH_OK) {
    impl->fail(FailureKind::error, "bad SSH options: " + impl->error());
  }
  (void)tcp.release();
  // The socket is connected already (a refused connect failed in connect_tcp): what fails
  // here is the SSH handshake.
  if (ssh_connect(s) != SSH_OK) {
    std::string why = impl->error();
    if (mentions_timeout(why)) {
      impl->fail(FailureKind::timeout, "connect timed out after " +
                                           std::to_string(impl->connect_timeout_s) + " s (" +
                                           why + ")");
    }
    impl->fail(FailureKind::error, "cannot connect: " + why, true);
  }
  impl->check_host_key(t, t.known_hosts);
  impl->authenticate();
  return std::shared_ptr<SshSession>(new SshSession(std::move(impl)));
}

SshSession::SshSession(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
SshSession::~SshSession() = default;
const std::string& SshSession::label() const
{
  return m_impl->label;
}
const std::string& SshSession::fingerprint() const
{
  return m_impl->fingerprint;
}

// ---- exec channels ---------------------------------------------------------------------------

struct SshExecChannel::Impl {
  std::shared_ptr<SshSession> session;
  SshSession::Impl* si = nullptr;
  ssh_channel ch = nullptr;
  std::string stderr_tail;
  int exit_code = -2; ///< -2: unknown yet

  /// Takes the session and makes a channel on it; the session stays non-blocking.
  void begin(std::shared_ptr<SshSession> on, SshSession::Impl* impl)
  {
    session = std::move(on);
    si = impl;
    ssh_set_blocking(si->s, 0);
    ch = ssh_channel_new(si->s);
    if (!ch) {
      lost("channel creation");
    }
  }

  /// Runs one step of the channel's set-up (open, exec request) until libssh says it is done,
  /// within the session's connect timeout: SSH_OK or SSH_ERROR (the step's own result). Each
  /// wait asks for a prompt ACK first: after a login sshd sends its host keys and then the
  /// channel's confirmation as two small segments without TCP_NODELAY, so Nagle holds the
  /// confirmation until the first is acknowledged, and a client with nothing to send delays
  /// that ACK by 40 ms (perf trace of a no-change sync round: 38.8 ms between sshd's write and
  /// our read, on every connection).
  template <typename Step> int set_up(Step step, const char* what)
  {
    const auto until = Clock::now() + std::chrono::seconds(si->connect_timeout_s);
    for (;;) {
      int rc = step();
      if (rc != SSH_AGAIN) {
        return rc;
      }
      if (remaining_ms(until) == 0) {
        fail(FailureKind::timeout, std::string(what) + " timed out after " +
                                       std::to_string(si->connect_timeout_s) + " s");
      }
      acknowledge_promptly();
      wait_socket(until, what);
    }
  }

  [[noreturn]] void fail(FailureKind kind, const std::string& what)
  {
    throw TransportError(kind, si->label + ": " + what, true);
  }
  [[noreturn]] void lost(const char* during)
  {
    std::string why = si->error();
    fail(FailureKind::error,
         std::string("connection lost during ") + during + (why.empty() ? "" : ": " + why));
  }
  [[noreturn]] void timed_out(const char* what)
  {
    fail(FailureKind::timeout, std::string("no progress on ") + what + " for " +
                                   std::to_string(si->io_timeout_ms / 1000) + " s (I/O timeout)");
  }
  Clock::time_point deadline() const
  {
    return Clock::now() + std::chrono::milliseconds(si->io_timeout_ms);
  }
  /// Makes the kernel acknowledge what arrives next at once. Called before each wait for a
  /// reply: sshd sets no TCP_NODELAY on exec and forwarded channels, so when it sends a window
  /// adjust and then the reply as two small segments, Nagle holds the reply until the first is
  /// acknowledged, and a client waiting with nothing to send delays that ACK (40 ms on Linux):
  /// one stall per request after a stream (a push through a kept agent waited it per object).
  /// The setting does not stick (the kernel returns to delayed ACKs once we answer), hence
  /// per wait.
  void acknowledge_promptly() const
  {
    const int yes = 1;
    if (socket_t fd = ssh_get_fd(si->s); fd != SSH_INVALID_SOCKET) {
      (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &yes, sizeof yes);
    }
  }
  void drain_stderr()
  {
    char buf[1024];
    for (int i = 0; i < 64; ++i) {
      int n = ssh_channel_read_nonblocking(ch, buf, sizeof buf, 1);
      if (n <= 0) {
        break;
      }
      stderr_tail.append(buf, static_cast<std::size_t>(n));
    }
    if (stderr_tail.size() > 4096) {
      stderr_tail.erase(0, stderr_tail.size() - 4096);
    }
  }
  /// Waits until the socket can make progress: input (a window adjust, data) or, while libssh
  /// holds unsent output, room to write.
  void wait_socket(Clock::time_point until, const char* what)
  {
    int flushed = ssh_blocking_flush(si->s, 0);
    if (flushed == SSH_ERROR) {
      lost(what);
    }
    int left = remaining_ms(until);
    if (left == 0) {
      timed_out(what);
    }
    pollfd p{ssh_get_fd(si->s), static_cast<short>(POLLIN | (flushed == SSH_AGAIN ? POLLOUT : 0)),
             0};
    // Short slices: libssh may have consumed the wake-up already; a retry is cheap.
    (void)::poll(&p, 1, std::min(left, 100));
  }
};

SshExecChannel::SshExecChannel(std::shared_ptr<SshSession> session, const std::string& command)
    : m_impl(std::make_unique<Impl>())
{
  auto& d = *m_impl;
  SshSession::Impl* si = session->m_impl.get();
  d.begin(std::move(session), si);
  if (d.set_up([&] { return ssh_channel_open_session(d.ch); }, "channel open") != SSH_OK) {
    d.lost("channel open");
  }
  const std::string exec = "exec of '" + command + "'";
  if (d.set_up([&] { return ssh_channel_request_exec(d.ch, command.c_str()); }, exec.c_str()) !=
      SSH_OK) {
    d.lost(exec.c_str());
  }
}

SshExecChannel::SshExecChannel(std::shared_ptr<SshSession> session, const NodeUnixSocket& socket)
    : m_impl(std::make_unique<Impl>())
{
  auto& d = *m_impl;
  SshSession::Impl* si = session->m_impl.get();
  d.begin(std::move(session), si);
  // The originator fields are informational for sshd.
  auto open = [&] {
    return ssh_channel_open_forward_unix(d.ch, socket.path.c_str(), "127.0.0.1", 0);
  };
  if (d.set_up(open, "channel open") != SSH_OK) {
    std::string why = d.si->error();
    throw TransportError(FailureKind::error, d.si->label + ": cannot reach the agent socket " +
                                                 socket.path + (why.empty() ? "" : ": " + why));
  }
}

SshExecChannel::~SshExecChannel()
{
  if (m_impl->ch) {
    ssh_channel_close(m_impl->ch);
    ssh_channel_free(m_impl->ch);
  }
}

std::size_t SshExecChannel::read_some(char* buf, std::size_t n)
{
  auto& d = *m_impl;
  auto until = d.deadline();
  const auto cap = static_cast<uint32_t>(std::min<std::size_t>(n, 1u << 30));
  for (;;) {
    // What libssh holds already needs no wait, nor a prompt ACK (a syscall each: the hello
    // reply is read a byte at a time).
    int avail = ssh_channel_poll(d.ch, 0);
    if (avail == 0) {
      d.acknowledge_promptly();
      avail = ssh_channel_poll_timeout(d.ch, std::min(remaining_ms(until), 1000), 0);
    }
    if (avail == SSH_ERROR) {
      d.lost("read");
    }
    if (avail == SSH_EOF) {
      d.drain_stderr();
      return 0;
    }
    if (avail > 0) {
      int got = ssh_channel_read_nonblocking(d.ch, buf, cap, 0);
      if (got > 0) {
        return static_cast<std::size_t>(got);
      }
      if (got == SSH_ERROR) {
        d.lost("read");
      }
      if (got == SSH_EOF) {
        return 0;
      }
    }
    d.drain_stderr();
    if (remaining_ms(until) == 0) {
      d.timed_out("read");
    }
  }
}

bool SshExecChannel::readable()
{
  int avail = ssh_channel_poll_timeout(m_impl->ch, 0, 0);
  if (avail == SSH_ERROR) {
    m_impl->lost("read");
  }
  return avail > 0 || avail == SSH_EOF;
}

void SshExecChannel::write_all(const char* data, std::size_t n)
{
  auto& d = *m_impl;
  auto until = d.deadline();
  while (n > 0) {
    auto len = static_cast<uint32_t>(std::min<std::size_t>(n, 1u << 20));
    int w = ssh_channel_write(d.ch, data, len);
    if (w == SSH_ERROR) {
      d.lost("write");
    }
    if (w > 0) {
      data += w;
      n -= static_cast<std::size_t>(w);
      until = d.deadline();
      continue;
    }
    d.wait_socket(until, "write");
  }
}

void SshExecChannel::flush()
{
  auto& d = *m_impl;
  auto until = d.deadline();
  for (;;) {
    int rc = ssh_blocking_flush(d.si->s, std::min(remaining_ms(until), 1000));
    if (rc == SSH_OK) {
      return;
    }
    if (rc == SSH_ERROR) {
      d.lost("flush");
    }
    if (remaining_ms(until) == 0) {
      d.timed_out("write");
    }
  }
}

bool SshExecChannel::eof()
{
  // A command that exited at once may have its channel closed before we look.
  return ssh_channel_is_eof(m_impl->ch) != 0 || ssh_channel_is_closed(m_impl->ch) != 0;
}

void SshExecChannel::send_eof()
{
  if (ssh_channel_send_eof(m_impl->ch) == SSH_ERROR) {
    m_impl->lost("end of input");
  }
  flush();
}

int SshExecChannel::exit_status()
{
  auto& d = *m_impl;
  if (d.exit_code != -2) {
    return d.exit_code;
  }
  auto until = d.deadline();
  for (;;) {
    // Non-blocking: each call runs one pass over what the socket holds; -1 until the
    // exit-status request came (it stays -1 when the command died of a signal).
    int st = ssh_channel_get_exit_status(d.ch);
    if (st >= 0) {
      d.exit_code = st;
      return st;
    }
    d.drain_stderr();
    if (ssh_channel_is_closed(d.ch) || !ssh_is_connected(d.si->s) || remaining_ms(until) == 0) {
      d.exit_code = -1;
      return -1;
    }
    pollfd p{ssh_get_fd(d.si->s), POLLIN, 0};
    (void)::poll(&p, 1, std::min(remaining_ms(until), 100));
  }
}

std::string SshExecChannel::diagnostics()
{
  auto& d = *m_impl;
  d.drain_stderr();
  std::string out = d.stderr_tail;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
    out.pop_back();
  }
  if (eof() || d.exit_code != -2) {
    int st = exit_status();
    d.drain_stderr();
    out = d.stderr_tail;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
      out.pop_back();
    }
    std::string s = st >= 0 ? "exit status " + std::to_string(st) : "killed by a signal";
    out = out.empty() ? s : out + " (" + s + ")";
  }
  return out;
}

} // namespace clsync::transport
