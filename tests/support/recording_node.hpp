// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "transport/node.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

/// A real node wrapped so that tests can see which operations a command performed — ninja's
/// VirtualFileSystem idea without a fake disk: every call goes through to the wrapped node.
/// Typical use: assert that `--dry-run` made no mutating call.
namespace clsync::test {

/// One call seen by a RecordingNode.
struct RecordedCall {
  std::string name;    ///< the Node method, e.g. "commit_chunk"
  std::string detail;  ///< its main arguments joined by ' ' (volume, key, task …)
  bool mutating = false;
};

class RecordingNode final : public transport::Node {
public:
  using transport::Node::create_file;
  explicit RecordingNode(std::shared_ptr<transport::Node> inner);

  /// Every call so far, in order (thread-safe snapshot).
  std::vector<RecordedCall> calls() const;
  /// Names of the calls that can change a disk (writes, renames, removals, leases, intents).
  std::vector<std::string> mutations() const;
  /// Forgets what was recorded.
  void clear();
  /// Calls `hook` with every call as it is recorded, before it reaches the wrapped node (so a
  /// test can change a disk deterministically just before a given operation). Not thread-safe
  /// against calls in flight: set it before the node is used.
  void set_hook(std::function<void(const RecordedCall&)> hook);

  std::string describe() const override;
  /// Passed on, not recorded: they change no disk and are not operations on the node's data.
  void close_idle() noexcept override { m_inner->close_idle(); }
  void forget_connect_failure() noexcept override { m_inner->forget_connect_failure(); }
  transport::NodeScan scan(const transport::ScanSpec& spec) override;
  transport::ChunkDigest read_chunk(const std::string& volume,
                                    const std::string& key,
                                    transport::ChunkSink& sink) override;
  std::unique_ptr<transport::ChunkWriter> write_chunk(const std::string& volume,
                                                      const std::string& task) override;
  std::string fingerprint(const std::string& volume, const std::string& key) override;
  transport::ChunkDigest hash_chunk(const std::string& volume, const std::string& key) override;
  transport::CommitOutcome commit_chunk(const std::string& volume,
                                        const std::string& task,
                                        const std::string& key,
                                        transport::CommitMode mode) override;
  transport::RenameOutcome rename_chunk(const std::string& from_volume,
                                        const std::string& key,
                                        const std::string& to_volume) override;
  std::vector<transport::RenameItemResult>
  rename_chunks(const std::string& from_volume,
                const std::string& to_volume,
                const std::vector<transport::RenameItem>& items) override;
  transport::ChunkDigest copy_chunk_local(const std::string& from_volume,
                                          const std::string& key,
                                          const std::string& to_volume,
                                          const std::string& task) override;
  std::string trash_chunk(const std::string& volume,
                          const std::string& key,
                          const std::string& task) override;
  void untrash_chunk(const std::string& volume,
                     const std::string& task,
                     const std::string& key) override;
  void remove_task_dirs(const std::string& volume, const std::string& task) override;
  void write_intent(const std::string& volume,
                    const std::string& task,
                    const std::string& record) override;
  void remove_intent(const std::string& volume, const std::string& task) override;
  std::vector<transport::ChunkLocation> locate_chunk(const std::string& key) override;
  std::vector<std::string> volumes_holding(const std::string& key) override;
  std::string
  place_hold(const std::string& volume, const std::string& key, const std::string& record) override;
  /// Recorded as "place_hold" (it places one), passed on as itself.
  PlacedHold place_hold_fingerprint(const std::string& volume,
                                    const std::string& key,
                                    const std::string& record) override;
  void release_hold(const std::string& volume,
                    const std::string& key,
                    const std::string& record) override;
  transport::LeaseResult acquire_lease(const std::string& volume,
                                       const transport::LeaseInfo& mine,
                                       const std::string& replace_run_id) override;
  void refresh_lease(const std::string& volume, const transport::LeaseInfo& mine) override;
  void release_lease(const std::string& volume, const std::string& run_id, bool force) override;
  std::optional<transport::LeaseInfo> read_lease(const std::string& volume) override;
  void set_fence(const std::string& run_id) override;
  void read_file(const std::string& root,
                 const std::string& relpath,
                 std::uint64_t offset,
                 transport::ByteSink& sink) override;
  std::unique_ptr<transport::FileWriter> create_file(const std::string& root,
                                                     const std::string& relpath,
                                                     transport::FileDurability durability) override;
  std::vector<transport::DirEntry> list_dir(const std::string& root,
                                            const std::string& relpath) override;
  void remove_file(const std::string& root, const std::string& relpath) override;
  void rename_file(const std::string& root, const std::string& from, const std::string& to) override;
  std::unique_ptr<transport::AppendWriter> append_file(const std::string& root,
                                                       const std::string& relpath,
                                                       const std::string& expected_sha256) override;
  std::vector<transport::DirEntry> list_tree(const std::string& root,
                                             const std::string& relpath) override;

private:
  void record(std::string name, std::string detail, bool mutating);

  std::shared_ptr<transport::Node> m_inner;
  mutable std::mutex m_mutex;
  std::vector<RecordedCall> m_calls;
  std::function<void(const RecordedCall&)> m_hook;
};

} // namespace clsync::test
