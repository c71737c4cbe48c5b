// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/node.hpp"

// Placeholder bodies until the archive codec lands (issue 8, branch `archive`): the codec
// replaces them with packing and unpacking in this process over read_chunk / write_chunk.
namespace clsync::transport {

PackResult Node::pack_chunk(const std::string&, const std::string&, const PackOptions&, ByteSink&)
{
  throw TransportError(FailureKind::refused, describe() + ": pack_chunk is not built yet");
}

std::unique_ptr<ObjectWriter>
Node::unpack_chunk(const std::string&, const std::string&, const ChunkManifest&)
{
  throw TransportError(FailureKind::refused, describe() + ": unpack_chunk is not built yet");
}

ObjectCheck Node::check_object(const std::string&, const std::string&, const ChunkManifest&)
{
  throw TransportError(FailureKind::refused, describe() + ": check_object is not built yet");
}

} // namespace clsync::transport
