// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/object_records.hpp"

#include "core/exceptions.hpp"
#include "transport/errors.hpp"

#include <chrono>

namespace clsync::core::repo {
namespace {

/// Records are small: a chunk's manifest. Anything larger is not one of ours.
constexpr std::size_t k_max_record_bytes = 64u << 20;

struct RecordSink : transport::ByteSink {
  std::string text;
  bool too_big = false;
  void write(std::span<const char> data) override
  {
    if (text.size() + data.size() > k_max_record_bytes) {
      too_big = true;
      throw transport::TransportError(transport::FailureKind::refused, "record too large");
    }
    text.append(data.data(), data.size());
  }
};

} // namespace

std::string object_record_path(const std::string& content_hash)
{
  return "cache/objects/" + content_hash.substr(0, 2) + "/" + content_hash + ".json";
}

std::optional<SnapshotChunk> load_object_record(const Repository& repo,
                                                const std::string& content_hash)
{
  RecordSink sink;
  try {
    repo.node().read_file(repo.root(), object_record_path(content_hash), 0, sink);
    Snapshot s = snapshot_from_json(sink.text, "object record " + content_hash);
    if (s.chunks.size() != 1 || s.chunks[0].object != content_hash) {
      return std::nullopt;
    }
    return std::move(s.chunks[0]);
  } catch (...) {
    // A cache: whatever is wrong with the record, the chunk is simply read again.
    return std::nullopt;
  }
}

void save_object_record(const Repository& repo, const SnapshotChunk& chunk)
{
  Snapshot s;
  s.id = new_snapshot_id();
  s.created = format_rfc3339_utc(std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
  // A cache (load_object_record): losing it costs a read of the chunk, so it is not synced.
  const SnapshotChunk* const one[] = {&chunk};
  repo.write_text(object_record_path(chunk.object), transport::FileDurability::none,
                  [&](const JsonTextOut& out) { write_snapshot_json(s, one, out); });
}

} // namespace clsync::core::repo
