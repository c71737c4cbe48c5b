// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/support/recording_node.hpp"

namespace clsync::test {

using namespace transport;

RecordingNode::RecordingNode(std::shared_ptr<Node> inner) : m_inner(std::move(inner)) {}

void RecordingNode::record(std::string name, std::string detail, bool mutating)
{
  RecordedCall call{std::move(name), std::move(detail), mutating};
  {
    std::lock_guard lock(m_mutex);
    m_calls.push_back(call);
  }
  if (m_hook) {
    m_hook(call);
  }
}

void RecordingNode::set_hook(std::function<void(const RecordedCall&)> hook)
{
  m_hook = std::move(hook);
}

std::vector<RecordedCall> RecordingNode::calls() const
{
  std::lock_guard lock(m_mutex);
  return m_calls;
}

std::vector<std::string> RecordingNode::mutations() const
{
  std::lock_guard lock(m_mutex);
  std::vector<std::string> out;
  for (const RecordedCall& c : m_calls) {
    if (c.mutating) {
      out.push_back(c.name);
    }
  }
  return out;
}

void RecordingNode::clear()
{
  std::lock_guard lock(m_mutex);
  m_calls.clear();
}

std::string RecordingNode::describe() const { return m_inner->describe(); }

NodeScan RecordingNode::scan(const ScanSpec& spec)
{
  record("scan", "", false);
  return m_inner->scan(spec);
}

ChunkDigest RecordingNode::read_chunk(const std::string& volume, const std::string& key,
                                      ChunkSink& sink)
{
  record("read_chunk", volume + " " + key, false);
  return m_inner->read_chunk(volume, key, sink);
}

std::unique_ptr<ChunkWriter> RecordingNode::write_chunk(const std::string& volume,
                                                        const std::string& task)
{
  record("write_chunk", volume + " " + task, true);
  return m_inner->write_chunk(volume, task);
}

std::string RecordingNode::fingerprint(const std::string& volume, const std::string& key)
{
  record("fingerprint", volume + " " + key, false);
  return m_inner->fingerprint(volume, key);
}

ChunkDigest RecordingNode::hash_chunk(const std::string& volume, const std::string& key)
{
  record("hash_chunk", volume + " " + key, false);
  return m_inner->hash_chunk(volume, key);
}

CommitOutcome RecordingNode::commit_chunk(const std::string& volume, const std::string& task,
                                          const std::string& key, CommitMode mode)
{
  record("commit_chunk", volume + " " + task + " " + key, true);
  return m_inner->commit_chunk(volume, task, key, mode);
}

RenameOutcome RecordingNode::rename_chunk(const std::string& from_volume, const std::string& key,
                                          const std::string& to_volume)
{
  record("rename_chunk", from_volume + " " + key + " " + to_volume, true);
  return m_inner->rename_chunk(from_volume, key, to_volume);
}

std::vector<transport::RenameItemResult>
RecordingNode::rename_chunks(const std::string& from_volume,
                             const std::string& to_volume,
                             const std::vector<transport::RenameItem>& items)
{
  std::string keys;
  for (const auto& it : items) {
    keys += " " + it.key;
  }
  record("rename_chunks", from_volume + " " + to_volume + keys, true);
  return m_inner->rename_chunks(from_volume, to_volume, items);
}

ChunkDigest RecordingNode::copy_chunk_local(const std::string& from_volume,
                                            const std::string& key,
                                            const std::string& to_volume,
                                            const std::string& task)
{
  record("copy_chunk_local", from_volume + " " + key + " " + to_volume + " " + task, true);
  return m_inner->copy_chunk_local(from_volume, key, to_volume, task);
}

std::string RecordingNode::trash_chunk(const std::string& volume, const std::string& key,
                                       const std::string& task)
{
  record("trash_chunk", volume + " " + key + " " + task, true);
  return m_inner->trash_chunk(volume, key, task);
}

void RecordingNode::untrash_chunk(const std::string& volume, const std::string& task,
                                  const std::string& key)
{
  record("untrash_chunk", volume + " " + task + " " + key, true);
  m_inner->untrash_chunk(volume, task, key);
}

void RecordingNode::remove_task_dirs(const std::string& volume, const std::string& task)
{
  record("remove_task_dirs", volume + " " + task, true);
  m_inner->remove_task_dirs(volume, task);
}

void RecordingNode::write_intent(const std::string& volume, const std::string& task,
                                 const std::string& rec)
{
  record("write_intent", volume + " " + task, true);
  m_inner->write_intent(volume, task, rec);
}

void RecordingNode::remove_intent(const std::string& volume, const std::string& task)
{
  record("remove_intent", volume + " " + task, true);
  m_inner->remove_intent(volume, task);
}

std::vector<transport::ChunkLocation> RecordingNode::locate_chunk(const std::string& key)
{
  record("locate_chunk", key, false);
  return m_inner->locate_chunk(key);
}

std::string RecordingNode::place_hold(const std::string& volume, const std::string& key,
                                      const std::string& rec)
{
  record("place_hold", volume + " " + key, true);
  return m_inner->place_hold(volume, key, rec);
}

Node::PlacedHold RecordingNode::place_hold_fingerprint(const std::string& volume,
                                                       const std::string& key,
                                                       const std::string& rec)
{
  record("place_hold", volume + " " + key, true);
  return m_inner->place_hold_fingerprint(volume, key, rec);
}

std::vector<std::string> RecordingNode::volumes_holding(const std::string& key)
{
  record("volumes_holding", key, false);
  return m_inner->volumes_holding(key);
}

void RecordingNode::release_hold(const std::string& volume, const std::string& key,
                                 const std::string& rec)
{
  record("release_hold", volume + " " + key, true);
  m_inner->release_hold(volume, key, rec);
}

LeaseResult RecordingNode::acquire_lease(const std::string& volume,
                                         const LeaseInfo& mine,
                                         const std::string& replace_run_id)
{
  record("acquire_lease", volume + " " + mine.run_id, true);
  return m_inner->acquire_lease(volume, mine, replace_run_id);
}

void RecordingNode::refresh_lease(const std::string& volume, const LeaseInfo& mine)
{
  record("refresh_lease", volume + " " + mine.run_id, true);
  m_inner->refresh_lease(volume, mine);
}

void RecordingNode::release_lease(const std::string& volume, const std::string& run_id, bool force)
{
  record("release_lease", volume + " " + run_id, true);
  m_inner->release_lease(volume, run_id, force);
}

std::optional<LeaseInfo> RecordingNode::read_lease(const std::string& volume)
{
  record("read_lease", volume, false);
  return m_inner->read_lease(volume);
}

void RecordingNode::set_fence(const std::string& run_id)
{
  record("set_fence", run_id, false);
  m_inner->set_fence(run_id);
}

void RecordingNode::read_file(const std::string& root, const std::string& relpath,
                              std::uint64_t offset, ByteSink& sink)
{
  record("read_file", root + " " + relpath, false);
  m_inner->read_file(root, relpath, offset, sink);
}

std::unique_ptr<FileWriter> RecordingNode::create_file(const std::string& root,
                                                       const std::string& relpath,
                                                       transport::FileDurability durability)
{
  record("create_file", root + " " + relpath, true);
  return m_inner->create_file(root, relpath, durability);
}

std::vector<DirEntry> RecordingNode::list_dir(const std::string& root, const std::string& relpath)
{
  record("list_dir", root + " " + relpath, false);
  return m_inner->list_dir(root, relpath);
}

void RecordingNode::rename_file(const std::string& root,
                                const std::string& from,
                                const std::string& to)
{
  record("rename_file", root + " " + from + " " + to, true);
  m_inner->rename_file(root, from, to);
}

void RecordingNode::remove_file(const std::string& root, const std::string& relpath)
{
  record("remove_file", root + " " + relpath, true);
  m_inner->remove_file(root, relpath);
}

std::unique_ptr<AppendWriter> RecordingNode::append_file(const std::string& root,
                                                         const std::string& relpath,
                                                         const std::string& expected_sha256)
{
  record("append_file", root + " " + relpath, true);
  return m_inner->append_file(root, relpath, expected_sha256);
}

std::vector<DirEntry> RecordingNode::list_tree(const std::string& root, const std::string& relpath)
{
  record("list_tree", root + " " + relpath, false);
  return m_inner->list_tree(root, relpath);
}

} // namespace clsync::test
