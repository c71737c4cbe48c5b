// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// The default backup-object operations of a Node: the codec runs in this process over
// read_chunk / write_chunk / read_file. LocalNode uses them as they are; the agent node sends
// them to the agent so that they run next to the disks.
#include "transport/node.hpp"
#include "transport/object_codec.hpp"

namespace clsync::transport {
namespace {

/// Unpacks into a ChunkWriter; any failure aborts the writer, which removes the temp.
class UnpackingWriter final : public ObjectWriter {
public:
  UnpackingWriter(std::unique_ptr<ChunkWriter> writer,
                  const ChunkManifest& expected,
                  std::string who)
      : m_writer(std::move(writer)), m_unpacker(*m_writer, expected, std::move(who))
  {
  }
  ~UnpackingWriter() override
  {
    if (!m_finished) {
      abort();
    }
  }

  void write(std::span<const char> data) override
  {
    guard([&] { m_unpacker.write(data); });
  }

  ChunkDigest finish(const std::string& object_sha256) override
  {
    ChunkDigest digest;
    guard([&] {
      m_unpacker.finish(object_sha256);
      digest = m_writer->finish();
    });
    m_finished = true;
    return digest;
  }

  void abort() noexcept override
  {
    if (!m_aborted) {
      m_aborted = true;
      m_writer->abort();
    }
  }

private:
  template <typename F> void guard(F&& f)
  {
    if (m_aborted || m_finished) {
      throw TransportError(FailureKind::error, "the object writer is already closed");
    }
    try {
      f();
    } catch (...) {
      abort();
      throw;
    }
  }

  std::unique_ptr<ChunkWriter> m_writer;
  ObjectUnpacker m_unpacker;
  bool m_finished = false;
  bool m_aborted = false;
};

/// Receives a chunk stream and keeps nothing: check_object only wants the unpacker's checks.
class DiscardSink final : public ChunkSink {
public:
  void begin_file(const FileEntry&) override {}
  void file_data(std::span<const char>) override {}
  void file_hole(std::uint64_t) override {}
  void end_file(const std::string&) override {}
  void directory(const ChunkDir&) override {}
};

} // namespace

std::unique_ptr<ObjectWriter> make_unpacking_writer(std::unique_ptr<ChunkWriter> writer,
                                                    const ChunkManifest& expected,
                                                    std::string who)
{
  return std::make_unique<UnpackingWriter>(std::move(writer), expected, std::move(who));
}

PackResult Node::pack_chunk(const std::string& volume,
                            const std::string& key,
                            const PackOptions& options,
                            ByteSink& out)
{
  ObjectPacker packer(out, options, describe() + ": pack " + key);
  ChunkDigest read = read_chunk(volume, key, packer);
  return packer.finish(read);
}

std::unique_ptr<ObjectWriter> Node::unpack_chunk(const std::string& volume,
                                                 const std::string& task,
                                                 const ChunkManifest& expected)
{
  std::string who = describe() + ": object for task " + task;
  // A hostile manifest is refused before anything is created on the volume.
  if (auto why = manifest_problem(expected); !why.empty()) {
    throw TransportError(FailureKind::refused, who + ": refused manifest: " + why);
  }
  return make_unpacking_writer(write_chunk(volume, task), expected, std::move(who));
}

ObjectCheck Node::check_object(const std::string& root,
                               const std::string& relpath,
                               const ChunkManifest& expected)
{
  ObjectCheck check;
  DiscardSink discard;
  try {
    ObjectUnpacker unpacker(discard, expected, describe() + ": object " + relpath);
    read_file(root, relpath, 0, unpacker);
    auto r = unpacker.finish("");
    check.ok = true;
    check.object_sha256 = r.object_sha256;
    check.object_size = r.object_size;
    check.bytes = r.bytes;
  } catch (const TransportError& e) {
    if (e.kind() != FailureKind::refused) {
      throw;
    }
    check.ok = false;
    check.error = e.what();
  }
  return check;
}

} // namespace clsync::transport
