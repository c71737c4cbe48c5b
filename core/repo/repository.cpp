// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/repository.hpp"

#include "core/error.hpp"
#include "core/json_names.hpp"
#include "transport/open.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sys/stat.h>

namespace clsync::core::repo {
namespace {

constexpr const char* k_marker = "clsync-repo.json";
constexpr const char* k_repo_format = "clsync-repo";
constexpr int k_repo_version = 1;
constexpr std::uint64_t k_max_marker_bytes = 64 * 1024;

/// Collects a file's bytes, refusing more than `limit` (a hostile file cannot fill memory).
class LimitedTextSink final : public transport::ByteSink {
public:
  LimitedTextSink(std::uint64_t limit, std::string what) : m_limit(limit), m_what(std::move(what)) {}
  void write(std::span<const char> data) override
  {
    if (m_text.size() + data.size() > m_limit) {
      throw Error(ExitCode::failed, m_what + " is larger than " + std::to_string(m_limit) +
                                        " bytes: refused");
    }
    m_text.append(data.data(), data.size());
  }
  std::string take() { return std::move(m_text); }

private:
  std::uint64_t m_limit;
  std::string m_what;
  std::string m_text;
};

[[noreturn]] void usage(const std::string& text, const std::string& why)
{
  throw UsageError("repository '" + lossy_utf8(text) + "': " + why,
                   "give a local path or ssh://[user@]host[:port]/path");
}

/// Lexically normal absolute path without a trailing '/' ("/" stays "/").
std::string normal_absolute(const std::string& text, const std::string& path)
{
  if (path.find('\0') != std::string::npos) {
    usage(text, "the path holds a NUL byte");
  }
  std::string out = std::filesystem::path(path).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') {
    out.pop_back();
  }
  return out;
}

std::string repo_describe(const RepoLocation& where) { return "repository " + lossy_utf8(where.text); }

bool is_hex2(const std::string& s)
{
  return s.size() == 2 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

/// The content hash of an object file name "<64 hex>.tar.zst", or "".
std::string object_hash_of(const std::string& name)
{
  constexpr std::string_view suffix = ".tar.zst";
  if (name.size() != 64 + suffix.size() || name.compare(64, suffix.size(), suffix) != 0) {
    return {};
  }
  std::string h = name.substr(0, 64);
  return is_sha256_hex(h) ? h : std::string();
}

void write_repo_file(transport::Node& node, const std::string& root, const std::string& relpath,
                const std::string& text)
{
  auto w = node.create_file(root, relpath, transport::FileDurability::durable);
  w->write(std::span<const char>(text.data(), text.size()));
  w->commit();
}

std::shared_ptr<transport::Node> open_node(const RepoLocation& where, const RepoConnect& how,
                                           std::vector<std::string> roots)
{
  if (!where.remote) {
    return transport::make_local_node("repository", std::move(roots));
  }
  transport::SshTarget t;
  t.name = "repository " + where.host;
  t.host = where.host;
  t.user = where.user;
  t.port = where.port;
  t.identity = how.identity;
  t.known_hosts = how.known_hosts;
  t.accept_new = how.host_key_policy == "accept-new";
  t.agent_command = how.agent_command;
  t.roots = std::move(roots);
  t.connect_timeout_s = how.connect_timeout_s;
  t.io_timeout_s = how.io_timeout_s;
  t.deploy_agent = how.deploy_agent;
  t.agent_persist_s = how.agent_persist_s;
  t.agent_memory_dir = how.agent_memory_dir;
  return transport::make_ssh_node(t);
}

/// Whether the root exists (as the node sees it) and what it holds.
std::optional<std::vector<transport::DirEntry>> list_root(transport::Node& node,
                                                          const std::string& root)
{
  try {
    return node.list_dir(root, "");
  } catch (const transport::TransportError& e) {
    if (e.kind() == transport::FailureKind::not_found) {
      return std::nullopt;
    }
    throw;
  }
}

/// Makes the repository directory 0700 through a node whose root is its parent (local parents
/// are made as the umask says; a remote parent must exist).
void make_root(const RepoLocation& where, const RepoConnect& how)
{
  const std::filesystem::path p(where.path);
  const std::string parent = p.parent_path().string();
  if (!where.remote) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
  }
  auto node = open_node(where, how, {parent});
  try {
    node->create_dir(parent, p.filename().string(), 0700);
  } catch (const transport::TransportError& e) {
    throw Error(ExitCode::failed, "cannot create " + repo_describe(where) + ": " + e.what());
  }
}

} // namespace

RepoLocation parse_repo_location(const std::string& text)
{
  RepoLocation loc;
  loc.text = text;
  if (text.empty()) {
    usage(text, "empty");
  }
  constexpr std::string_view scheme = "ssh://";
  if (text.rfind(scheme, 0) == 0) {
    std::string rest = text.substr(scheme.size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string::npos) {
      usage(text, "no path after the host (ssh://host/path)");
    }
    std::string authority = rest.substr(0, slash);
    if (const std::size_t at = authority.rfind('@'); at != std::string::npos) {
      loc.user = authority.substr(0, at);
      authority = authority.substr(at + 1);
      if (loc.user.empty()) {
        usage(text, "empty user name before '@'");
      }
    }
    std::string port;
    if (!authority.empty() && authority.front() == '[') {
      const std::size_t close = authority.find(']');
      if (close == std::string::npos) {
        usage(text, "unclosed '[' in the host");
      }
      loc.host = authority.substr(1, close - 1);
      std::string after = authority.substr(close + 1);
      if (!after.empty()) {
        if (after.front() != ':') {
          usage(text, "unexpected text after ']'");
        }
        port = after.substr(1);
      }
    } else if (const std::size_t colon = authority.find(':'); colon != std::string::npos) {
      loc.host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    } else {
      loc.host = authority;
    }
    if (loc.host.empty()) {
      usage(text, "no host");
    }
    if (!port.empty() || authority.find(':') != std::string::npos) {
      if (port.empty() || port.size() > 5 ||
          !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
          std::stoi(port) < 1 || std::stoi(port) > 65535) {
        usage(text, "port '" + port + "' is not a number from 1 to 65535");
      }
      loc.port = std::stoi(port);
    }
    loc.remote = true;
    loc.path = normal_absolute(text, rest.substr(slash));
    return loc;
  }
  if (const std::size_t sep = text.find("://"); sep != std::string::npos) {
    usage(text, "only local paths and ssh:// repositories are supported");
  }
  if (const std::size_t colon = text.find(':');
      colon != std::string::npos && text.find('/') > colon) {
    // host:path (rsync/scp style) is ambiguous: say which form to use.
    usage(text, "looks like host:path; write ssh://host/path for a remote repository, or "
                "./" + text + " for a local directory");
  }
  std::error_code ec;
  std::string abs = std::filesystem::absolute(std::filesystem::path(text), ec).string();
  if (ec) {
    usage(text, ec.message());
  }
  loc.path = normal_absolute(text, abs);
  return loc;
}

Repository::Repository(RepoLocation where, std::shared_ptr<transport::Node> node)
    : m_where(std::move(where)), m_node(std::move(node))
{
}

Repository Repository::open(const RepoLocation& where, const RepoConnect& how, bool create)
{
  if (where.path.empty() || where.path == "/") {
    throw UsageError(repo_describe(where) + ": a repository cannot be the root directory");
  }
  auto node = open_node(where, how, {where.path});
  // One listing when the root exists (each is a round trip to an ssh:// repository).
  auto entries = list_root(*node, where.path);
  if (create && !entries) {
    make_root(where, how);
    entries = list_root(*node, where.path);
  }
  if (!entries) {
    throw Error(ExitCode::failed, repo_describe(where) + " does not exist",
                "create it with 'clsync backup --to " + where.text + "' or check the path");
  }
  Repository repo(where, node);
  repo.m_lease_seen = std::any_of(entries->begin(), entries->end(), [](const auto& e) {
    return !e.is_dir && e.name == ".clsync-lease";
  });
  const bool has_marker = std::any_of(entries->begin(), entries->end(), [](const auto& e) {
    return !e.is_dir && e.name == k_marker;
  });
  if (!has_marker) {
    const bool empty = std::none_of(entries->begin(), entries->end(), [](const auto& e) {
      return e.name.rfind(".clsync", 0) != 0;
    });
    if (!create || !empty) {
      throw Error(ExitCode::failed,
                  repo_describe(where) + " is not a clsync repository (it has no " + k_marker +
                      ")",
                  empty ? "a backup creates it: 'clsync backup --to " + where.text + "'"
                        : "choose an empty or a new directory for a repository");
    }
    nlohmann::json marker = {{"format", k_repo_format}, {"version", k_repo_version}};
    write_repo_file(*node, where.path, k_marker, marker.dump() + "\n");
  }
  repo.check_marker();
  return repo;
}

void Repository::check_marker() const
{
  const std::string what = repo_describe(m_where) + ": " + k_marker;
  LimitedTextSink sink(k_max_marker_bytes, what);
  m_node->read_file(root(), k_marker, 0, sink);
  auto j = nlohmann::json::parse(sink.take(), nullptr, false);
  if (!j.is_object() || j.value("format", std::string()) != k_repo_format) {
    throw Error(ExitCode::failed, what + " does not say format \"clsync-repo\": not a clsync "
                                         "repository");
  }
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_integer() || *v != k_repo_version) {
    throw Error(ExitCode::failed,
                what + ": repository version " + (v == j.end() ? "missing" : v->dump()) +
                    " is not supported (this clsync knows version " +
                    std::to_string(k_repo_version) + ")",
                "use the clsync release that wrote this repository");
  }
}

std::string Repository::object_path(const std::string& content_hash)
{
  return "objects/" + content_hash.substr(0, 2) + "/" + content_hash + ".tar.zst";
}

std::vector<std::pair<std::string, std::uint64_t>> Repository::list_objects() const
{
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (const auto& dir : m_node->list_dir(root(), "objects")) {
    if (!dir.is_dir || !is_hex2(dir.name)) {
      continue;
    }
    for (const auto& f : m_node->list_dir(root(), "objects/" + dir.name)) {
      std::string h = f.is_dir ? std::string() : object_hash_of(f.name);
      if (!h.empty() && h.compare(0, 2, dir.name) == 0) {
        out.emplace_back(std::move(h), f.size);
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::uint64_t> Repository::object_size(const std::string& content_hash) const
{
  if (!is_sha256_hex(content_hash)) {
    return std::nullopt;
  }
  const std::string name = content_hash + ".tar.zst";
  for (const auto& f : m_node->list_dir(root(), "objects/" + content_hash.substr(0, 2))) {
    if (!f.is_dir && f.name == name) {
      return f.size;
    }
  }
  return std::nullopt;
}

std::vector<std::string> Repository::list_snapshots() const
{
  std::vector<std::string> ids;
  for (const auto& [id, size] : list_snapshot_files()) {
    ids.push_back(id);
  }
  return ids;
}

std::vector<std::pair<std::string, std::uint64_t>> Repository::list_snapshot_files() const
{
  std::vector<std::pair<std::string, std::uint64_t>> out;
  constexpr std::string_view suffix = ".json";
  for (const auto& f : m_node->list_dir(root(), "snapshots")) {
    if (f.is_dir || f.name.size() <= suffix.size() ||
        f.name.compare(f.name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    std::string id = f.name.substr(0, f.name.size() - suffix.size());
    if (is_snapshot_id(id)) {
      out.emplace_back(std::move(id), f.size);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Repository::describe_snapshot(const std::string& id) const
{
  return "snapshot " + lossy_utf8(id) + " in " + repo_describe(m_where);
}

Snapshot Repository::read_snapshot(const std::string& id) const
{
  const std::string what = describe_snapshot(id);
  if (!is_snapshot_id(id)) {
    throw Error(ExitCode::failed, what + ": not a snapshot id");
  }
  std::optional<std::uint64_t> size;
  for (const auto& [sid, bytes] : list_snapshot_files()) {
    if (sid == id) {
      size = bytes;
    }
  }
  if (!size) {
    throw Error(ExitCode::failed, what + " does not exist",
                "'clsync snapshots " + m_where.text + "' lists the snapshots");
  }
  if (*size > k_max_snapshot_bytes) {
    throw Error(ExitCode::failed, what + ": the file has " + std::to_string(*size) +
                                      " bytes, more than a snapshot may (" +
                                      std::to_string(k_max_snapshot_bytes) + "): refused unread");
  }
  LimitedTextSink sink(k_max_snapshot_bytes, what);
  m_node->read_file(root(), "snapshots/" + id + ".json", 0, sink);
  Snapshot s = snapshot_from_json(sink.take(), what);
  if (s.id != id) {
    throw Error(ExitCode::failed,
                what + ": the file says it is snapshot " + lossy_utf8(s.id) + ": refused");
  }
  return s;
}

void Repository::write_snapshot(const Snapshot& snap) const
{
  if (!is_snapshot_id(snap.id)) {
    throw Error(ExitCode::failed, "cannot write a snapshot with id '" + lossy_utf8(snap.id) + "'");
  }
  write_text("snapshots/" + snap.id + ".json", transport::FileDurability::durable,
             [&](const JsonTextOut& out) { write_snapshot_json(snap, out); });
}

void Repository::write_text(const std::string& relpath, transport::FileDurability durability,
                            const std::function<void(const JsonTextOut&)>& produce) const
{
  auto w = m_node->create_file(root(), relpath, durability);
  try {
    produce([&](std::string_view piece) {
      w->write(std::span<const char>(piece.data(), piece.size()));
    });
    w->commit();
  } catch (...) {
    w->abort();
    throw;
  }
}

void Repository::remove_snapshot(const std::string& id) const
{
  if (!is_snapshot_id(id)) {
    throw Error(ExitCode::failed, describe_snapshot(id) + ": not a snapshot id");
  }
  m_node->remove_file(root(), "snapshots/" + id + ".json");
}

void Repository::remove_object(const std::string& content_hash) const
{
  if (!is_sha256_hex(content_hash)) {
    throw Error(ExitCode::failed, "'" + lossy_utf8(content_hash) + "' is not an object id");
  }
  m_node->remove_file(root(), object_path(content_hash));
}

} // namespace clsync::core::repo
