// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Fuzz target: the snapshot reader (core/repo/snapshot_read.cpp). A snapshot is data from elsewhere:
// anything malformed must end in clsync::Error (exit 1, naming the field). A snapshot that is
// accepted must survive a round trip: what snapshot_to_json writes of it reads back, unchanged,
// and is the text nlohmann writes of it as one document (the writer streams it, entry by entry).
#include "core/error.hpp"
#include "core/json_names.hpp"
#include "core/repo/snapshot.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
  using namespace clsync::core::repo;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Snapshot snap;
  try {
    snap = snapshot_from_json(text, "fuzz snapshot");
  } catch (const clsync::Error& e) {
    if (e.code() != clsync::ExitCode::failed) {
      std::abort();
    }
    return 0;
  }
  const std::string written = snapshot_to_json(snap);
  Snapshot again;
  try {
    again = snapshot_from_json(written, "fuzz snapshot (rewritten)");
  } catch (const clsync::Error& e) {
    std::fprintf(stderr, "accepted snapshot does not read back: %s\n", e.what());
    std::abort();
  }
  if (snapshot_to_json(again) != written) {
    std::fprintf(stderr, "snapshot round trip changed it\n");
    std::abort();
  }
  if (clsync::core::dump_json(nlohmann::json::parse(written), 1) + "\n" != written) {
    std::fprintf(stderr, "the streamed text is not the document's own\n");
    std::abort();
  }
  return 0;
}
