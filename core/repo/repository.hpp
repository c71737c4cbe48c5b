// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/repo/snapshot.hpp"
#include "transport/node.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

/// A backup repository (SPEC §7): a local path or `ssh://[user@]host[:port]/path`, reached
/// through a Node whose only root is the repository (over SSH the same agent serves it).
///
///   <repo>/clsync-repo.json               {"format": "clsync-repo", "version": 1}
///   <repo>/snapshots/<id>.json            written last
///   <repo>/objects/<aa>/<sha256>.tar.zst  one per distinct chunk content
///   <repo>/cache/…                        (node, volume, key, fingerprint) → content hash
///
/// Repositories are created 0700: they hold copies of data whose own directories may be private.
namespace clsync::core::repo {

/// Where a repository is.
struct RepoLocation {
  std::string text;   ///< as the operator wrote it, for messages
  bool remote = false;
  std::string user, host;
  int port = 22;
  std::string path;   ///< absolute, normalised
};

/// Parses a local path (made absolute) or ssh://[user@]host[:port]/path. Throws UsageError.
RepoLocation parse_repo_location(const std::string& text);

/// How to reach an ssh:// repository: the options that stand in for a topology's `ssh:` block
/// (--identity, --known-hosts, --host-key-policy, --agent-command; CLSYNC_SSH_IDENTITY,
/// CLSYNC_SSH_KNOWN_HOSTS, CLSYNC_HOST_KEY_POLICY, CLSYNC_AGENT_COMMAND).
struct RepoConnect {
  std::string identity;
  std::string known_hosts;
  std::string host_key_policy = "strict";  ///< "strict" | "accept-new"
  std::string agent_command = "clsync";
  int connect_timeout_s = 10;
  int io_timeout_s = 60;
  bool deploy_agent = false;
  int agent_persist_s = 0;       ///< --agent-persist (transport/agent_daemon.hpp); 0: off
  std::string agent_memory_dir;  ///< <state dir>/agents: remembered agent sockets
};

class Repository {
public:
  /// Opens the repository at `where`. With `create`, makes it (0700) when it does not exist;
  /// otherwise a missing or foreign directory is an Error(failed) naming it.
  static Repository open(const RepoLocation& where, const RepoConnect& how, bool create);

  const RepoLocation& location() const { return m_where; }
  transport::Node& node() const { return *m_node; }
  const std::string& root() const { return m_where.path; }

  /// "objects/<aa>/<hash>.tar.zst"
  static std::string object_path(const std::string& content_hash);
  /// The content hashes of every complete object (partials are not listed), with their sizes.
  std::vector<std::pair<std::string, std::uint64_t>> list_objects() const;
  /// Size of an object when it is there.
  std::optional<std::uint64_t> object_size(const std::string& content_hash) const;

  /// Snapshot ids, sorted (oldest first).
  std::vector<std::string> list_snapshots() const;
  /// Snapshot ids with the sizes of their files, sorted.
  std::vector<std::pair<std::string, std::uint64_t>> list_snapshot_files() const;
  /// "snapshot ID in repository TEXT", for messages.
  std::string describe_snapshot(const std::string& id) const;
  /// Reads and checks one snapshot (k_max_snapshot_bytes at most). "latest" is not an id here.
  Snapshot read_snapshot(const std::string& id) const;
  /// Writes a snapshot durably (temp, fsync, rename): call it after every object is in place.
  void write_snapshot(const Snapshot& snap) const;
  /// Writes file `relpath` with the text `produce` gives its argument, a piece at a time as it
  /// is made (the text of a snapshot of 100,000 files is 34 MB).
  void write_text(const std::string& relpath, transport::FileDurability durability,
                  const std::function<void(const JsonTextOut&)>& produce) const;
  void remove_snapshot(const std::string& id) const;
  void remove_object(const std::string& content_hash) const;

  /// Whether the root held a lease (`.clsync-lease`: a run holds the repository's lock, or a
  /// killed one left it) when open() listed it.
  bool lease_seen() const { return m_lease_seen; }

private:
  Repository(RepoLocation where, std::shared_ptr<transport::Node> node);
  void check_marker() const;
  RepoLocation m_where;
  std::shared_ptr<transport::Node> m_node;
  bool m_lease_seen = false;
};

} // namespace clsync::core::repo
