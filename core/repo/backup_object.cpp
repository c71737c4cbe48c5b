// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/backup_object.hpp"

#include "core/error.hpp"
#include "core/fault.hpp"
#include "core/repo/object_records.hpp"
#include "transport/errors.hpp"
#include "transport/sha256.hpp"

#include <algorithm>


namespace clsync::core::repo {
namespace {

/// Passes object bytes to the repository file, counting them, charging the bandwidth limits
/// and cancelling when the run is asked to stop.
class ObjectSink : public transport::ByteSink {
public:
  ObjectSink(transport::FileWriter& out, RateLimits& limits, std::vector<std::string> nodes,
             const std::function<bool()>& stop)
      : m_out(out), m_limits(limits), m_nodes(std::move(nodes)), m_stop(stop)
  {
  }
  void write(std::span<const char> data) override
  {
    if (m_stop && m_stop()) {
      throw TransferCancelled();
    }
    m_limits.consume(data.size(), m_nodes);
    m_out.write(data);
    m_bytes += data.size();
  }
  std::uint64_t bytes() const { return m_bytes; }

private:
  transport::FileWriter& m_out;
  RateLimits& m_limits;
  std::vector<std::string> m_nodes;
  const std::function<bool()>& m_stop;
  std::uint64_t m_bytes = 0;
};

struct HashSink : transport::ByteSink {
  transport::Sha256 sha;
  std::uint64_t size = 0;
  void write(std::span<const char> data) override
  {
    sha.update(data);
    size += data.size();
  }
};

/// Renames the temp to the object's name, on the repository's node (local or over SSH): the
/// name, the content hash, is known only once the object is written.
void place_object(const Repository& repo, const std::string& temp, const std::string& final_path)
{
  repo.node().create_dir(repo.root(), "objects", 0700);
  repo.node().rename_file(repo.root(), temp, final_path);
}

std::string where(const std::string& node, const std::string& volume, const std::string& key)
{
  return "chunk " + key + " on " + node + ":" + volume;
}

/// Streams the object into `relpath` of the repository and checks what arrived.
transport::PackResult pack_into(const ObjectPacker& p, transport::Node& node,
                                const std::string& node_name, const std::string& volume,
                                const std::string& key, const transport::PackOptions& po,
                                const std::string& relpath, std::uint64_t& written)
{
  // Only the content is synced here: place_object's rename syncs the directories it touches.
  auto w = p.repo.node().create_file(p.repo.root(), relpath, transport::FileDurability::content);
  transport::PackResult pr;
  std::string sha;
  try {
    ObjectSink sink(*w, p.limits, {node_name}, p.stop);
    pr = node.pack_chunk(volume, key, po, sink);
    fault_point("backup_mid_object");
    written = sink.bytes();
    if (written != pr.object_size) {
      throw Error(ExitCode::failed, where(node_name, volume, key) + ": the object arrived with " +
                                        std::to_string(written) + " bytes, the node sent " +
                                        std::to_string(pr.object_size));
    }
    sha = w->commit();
  } catch (...) {
    w->abort();
    throw;
  }
  if (sha != pr.object_sha256) {
    p.repo.node().remove_file(p.repo.root(), relpath);
    throw Error(ExitCode::failed, where(node_name, volume, key) + ": the object arrived with "
                                      "SHA-256 " + sha + ", the node sent " + pr.object_sha256);
  }
  return pr;
}

} // namespace

int zstd_workers(int per_node_option, int busy_on_node, bool local, int local_in_flight, int cores)
{
  int n = per_node_option / std::max(1, busy_on_node);
  if (local) {
    const int in_flight = std::max(1, local_in_flight);
    n = in_flight >= cores ? 0 : std::min(n, std::max(1, cores) / in_flight);
  }
  return n < 2 ? 0 : n;
}

PackedObject ObjectPacker::pack(transport::Node& node,
                                const std::string& node_name,
                                const std::string& volume,
                                const std::string& key,
                                int threads,
                                std::size_t n) const
{
  transport::PackOptions po;
  po.level = level;
  po.threads = threads;
  po.columns = columns;
  const std::string temp = "tmp/backup-" + run_id + "-" + std::to_string(n) + ".tar.zst";
  std::uint64_t written = 0;
  transport::PackResult pr = pack_into(*this, node, node_name, volume, key, po, temp, written);
  const std::string& hash = pr.digest.content_hash;
  PackedObject out;
  out.fingerprint = pr.digest.fingerprint;
  if (repo.object_size(hash)) {
    // The content is there already (an earlier run, another replica): keep that object, whose
    // hash snapshots may name, and describe it as it is.
    repo.node().remove_file(repo.root(), temp);
    if (auto rec = load_object_record(repo, hash)) {
      pr.object_sha256 = rec->object_sha256;
      pr.object_size = rec->object_size;
    } else {
      HashSink hs;
      repo.node().read_file(repo.root(), Repository::object_path(hash), 0, hs);
      pr.object_sha256 = hs.sha.finish_hex();
      pr.object_size = hs.size;
    }
  } else {
    try {
      place_object(repo, temp, Repository::object_path(hash));
    } catch (...) {
      repo.node().remove_file(repo.root(), temp);
      throw;
    }
    out.is_new = true;
    out.bytes_written = written;
    fault_point("backup_object_placed");
  }
  out.record.manifest = std::move(pr.manifest);
  out.record.object = hash;
  out.record.object_sha256 = pr.object_sha256;
  out.record.object_size = pr.object_size;
  for (const auto& f : out.record.manifest.files) {
    out.bytes_read += f.entry.size;
  }
  return out;
}

} // namespace clsync::core::repo
