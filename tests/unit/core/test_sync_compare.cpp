// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// sync-online's pure parts: A against B (compare_clusters), the sync state file, and the sync_chunk
// stream that carries one read to every destination.
#include "core/error.hpp"
#include "core/sync/chunk_stream.hpp"
#include "core/sync/sync_compare.hpp"
#include "core/sync/sync_plan.hpp"
#include "core/sync/sync_state.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <filesystem>

using namespace clsync;
using namespace clsync::core;
using namespace clsync::core::sync;
namespace fs = std::filesystem;

namespace {

Replica sync_rep(const std::string& node, const std::string& fp, std::int64_t mtime = 0,
            const std::string& hash = "")
{
  Replica r;
  r.node = node;
  r.volume = "/v";
  r.fingerprint = fp;
  r.newest_mtime_ns = mtime;
  r.content_hash = hash;
  return r;
}

Chunk sync_chunk(const std::string& key, std::vector<Replica> reps, int replication = 2)
{
  Chunk c;
  c.key = key;
  c.bytes = 100;
  c.replication = replication;
  c.replicas = std::move(reps);
  return c;
}

const ChunkDecision& of(const Comparison& c, const std::string& key)
{
  for (const auto& d : c.chunks) {
    if (d.key == key) {
      return d;
    }
  }
  FAIL("no decision for " << key);
  return c.chunks.front();
}

SyncState recorded(const std::string& key, const std::string& a_node, const std::string& a_fp,
                   std::vector<SyncedReplica> b)
{
  SyncState s;
  s.chunks[key] = {a_node, "/v", a_fp, "hash", std::move(b)};
  return s;
}

constexpr std::int64_t k_sec = 1000000000;

} // namespace

TEST_SUITE("sync_compare")
{
  TEST_CASE("missing, extra, and the lag in chunks, bytes and seconds")
  {
    Chunk a1 = sync_chunk("db/1/t", {sync_rep("A1", "f1", 50 * k_sec), sync_rep("A2", "f2", 70 * k_sec)});
    Chunk a2 = sync_chunk("db/2/t", {sync_rep("A1", "g1", 90 * k_sec)});
    Chunk b3 = sync_chunk("db/3/t", {sync_rep("B1", "h")});
    auto c = compare_clusters({&a1, &a2}, {&b3}, {}, false, 100 * k_sec);
    CHECK(of(c, "db/1/t").state == ChunkState::missing);
    CHECK(of(c, "db/3/t").state == ChunkState::extra);
    CHECK(c.lag.missing == 2);
    CHECK(c.lag.extra == 1);
    CHECK(c.lag.bytes == 200);
    // The oldest change B lacks: chunk 1, whose newest mtime over A's replicas is 70 s.
    CHECK(c.lag.seconds == doctest::Approx(30.0));
  }

  TEST_CASE("unchanged only while both the recorded A replica and each B replica keep their "
            "recorded fingerprints")
  {
    Chunk a = sync_chunk("k", {sync_rep("A1", "fa1"), sync_rep("A2", "fa2")});
    Chunk b = sync_chunk("k", {sync_rep("B1", "fb"), sync_rep("B2", "fb")});
    const auto st = recorded("k", "A2", "fa2", {{"B1", "/v", "fb"}, {"B2", "/v", "fb"}});
    CHECK(of(compare_clusters({&a}, {&b}, st, false, 0), "k").state == ChunkState::same);
    // The recorded replica comes first: the next read is of it again.
    CHECK(of(compare_clusters({&a}, {&b}, st, false, 0), "k").a_replicas.front().node == "A2");

    Chunk a_changed = sync_chunk("k", {sync_rep("A1", "fa1"), sync_rep("A2", "new")});
    CHECK(of(compare_clusters({&a_changed}, {&b}, st, false, 0), "k").state ==
          ChunkState::differing);
    Chunk b_changed = sync_chunk("k", {sync_rep("B1", "fb"), sync_rep("B2", "other")});
    CHECK(of(compare_clusters({&a}, {&b_changed}, st, false, 0), "k").state ==
          ChunkState::differing);
    // The recorded replica is gone from A: the others' fingerprints say nothing about B.
    Chunk a_lost = sync_chunk("k", {sync_rep("A1", "fa1")});
    CHECK(of(compare_clusters({&a_lost}, {&b}, st, false, 0), "k").state ==
          ChunkState::differing);
  }

  TEST_CASE("without a record, B replicas carrying A's fingerprint are exact copies")
  {
    Chunk a = sync_chunk("k", {sync_rep("A1", "fa1")});
    Chunk b_same = sync_chunk("k", {sync_rep("B1", "fa1"), sync_rep("B2", "fa1")});
    Chunk b_diff = sync_chunk("k", {sync_rep("B1", "fa1"), sync_rep("B2", "zz")});
    CHECK(of(compare_clusters({&a}, {&b_same}, {}, false, 0), "k").state == ChunkState::same);
    CHECK(of(compare_clusters({&a}, {&b_diff}, {}, false, 0), "k").state ==
          ChunkState::differing);
    auto c = compare_clusters({&a}, {&b_diff}, {}, false, 0);
    CHECK(c.lag.differing == 1);
    CHECK(of(c, "k").b_replicas.size() == 2);
  }

  TEST_CASE("under-replicated on B with the same content gets only its missing replicas")
  {
    Chunk a = sync_chunk("k", {sync_rep("A1", "fa1")});
    Chunk b = sync_chunk("k", {sync_rep("B1", "fa1")}, 2);
    auto c = compare_clusters({&a}, {&b}, {}, false, 0);
    CHECK(of(c, "k").state == ChunkState::under);
    CHECK(c.lag.missing + c.lag.differing == 0);
  }

  TEST_CASE("--checksum compares content hashes, not fingerprints")
  {
    Chunk a = sync_chunk("k", {sync_rep("A1", "fa1", 0, "H")});
    Chunk b_same = sync_chunk("k", {sync_rep("B1", "x", 0, "H"), sync_rep("B2", "y", 0, "H")});
    Chunk b_diff = sync_chunk("k", {sync_rep("B1", "fa1", 0, "H"), sync_rep("B2", "fa1", 0, "G")});
    CHECK(of(compare_clusters({&a}, {&b_same}, {}, true, 0), "k").state == ChunkState::same);
    CHECK(of(compare_clusters({&a}, {&b_diff}, {}, true, 0), "k").state ==
          ChunkState::differing);
  }
}

TEST_SUITE("sync_state")
{
  TEST_CASE("the state file round-trips names as bytes, and is written whole")
  {
    const fs::path dir = test::scratch_dir("sync-state");
    const auto file = sync_state_path(dir, "demo-a", "demo-b");
    CHECK(file == dir / "demo-b" / "sync-demo-a.json");
    CHECK(load_sync_state(file).chunks.empty());

    SyncState s;
    s.from = "demo-a";
    s.to = "demo-b";
    const std::string odd_key = std::string("db/\xff\x01/t");
    s.chunks[odd_key] = {"A1", "/data/\xfe", "fp", "hash", {{"B1", "/d/\xfd", "fb"}}};
    s.chunks["db/2/t"] = {"A2", "/v", "fp2", "hash2", {}};
    save_sync_state(file, s);
    CHECK(!fs::exists(file.string() + ".tmp"));
    const SyncState back = load_sync_state(file);
    CHECK(back.from == "demo-a");
    CHECK(back.to == "demo-b");
    CHECK(back.chunks == s.chunks);
  }

  TEST_CASE("a damaged state file is an error, never an empty state")
  {
    const fs::path dir = test::scratch_dir("sync-state-bad");
    const auto file = sync_state_path(dir, "a", "b");
    fs::create_directories(file.parent_path());
    test::write_file(file, "{\"version\": 1, \"chunks\": [");
    CHECK_THROWS_AS(load_sync_state(file), Error);
  }

  TEST_CASE("a state file whose version is not an integer in range is an error naming the file")
  {
    // value<int>("version") read 2^32 + 1 as version 1 (wrapped) and 1e300 by a float-to-int
    // conversion (undefined): a damaged file was taken as a good one.
    const fs::path dir = test::scratch_dir("sync-state-number");
    const auto file = sync_state_path(dir, "a", "b");
    fs::create_directories(file.parent_path());
    for (const char* version : {"4294967297", "1e300", "-4294967295", "\"1\""}) {
      CAPTURE(version);
      test::write_file(file, std::string("{\"version\": ") + version +
                                 ", \"from\": \"a\", \"to\": \"b\", \"chunks\": []}");
      try {
        (void)load_sync_state(file);
        FAIL("a state file with version ", version, " was read");
      } catch (const Error& e) {
        CHECK(std::string(e.what()).find(file.string()) != std::string::npos);
      }
    }
  }
}

namespace {

/// Records ChunkWriter events as text (and the order they came in).
struct TextWriter : transport::ChunkWriter {
  std::string log;
  bool finished = false, aborted = false;
  void begin_file(const transport::FileEntry& f) override
  {
    log += "F " + f.path + " " + std::to_string(f.size) + " " + std::to_string(f.mtime_ns) +
           " " + std::to_string(f.mode) + " " + f.link_to + "\n";
  }
  std::string data;  ///< bytes since the last other event (a stream may split them anywhere)
  void flush()
  {
    if (!data.empty()) {
      log += "D " + data + "\n";
      data.clear();
    }
  }
  void file_data(std::span<const char> d) override { data.append(d.data(), d.size()); }
  void file_hole(std::uint64_t n) override
  {
    flush();
    log += "H " + std::to_string(n) + "\n";
  }
  void end_file(const std::string& sha) override
  {
    flush();
    log += "E " + sha + "\n";
  }
  void directory(const transport::ChunkDir& d) override
  {
    log += "R " + d.path + " " + std::to_string(d.mode) + "\n";
  }
  transport::ChunkDigest finish() override
  {
    finished = true;
    return {};
  }
  void abort() noexcept override { aborted = true; }
};

/// Passes bytes on in pieces of `step` (frames split anywhere).
struct Chopper : transport::ByteSink {
  transport::ByteSink& to;
  std::size_t step;
  Chopper(transport::ByteSink& t, std::size_t s) : to(t), step(s) {}
  void write(std::span<const char> d) override
  {
    for (std::size_t i = 0; i < d.size(); i += step) {
      to.write(d.subspan(i, std::min(step, d.size() - i)));
    }
  }
};

} // namespace

TEST_SUITE("sync_stream")
{
  TEST_CASE("the chunk stream carries every event in order, however the bytes are cut; "
            "--columns leaves files (and links to them) out")
  {
    for (std::size_t step : {1, 3, 7, 4096}) {
      CAPTURE(step);
      auto owned = std::make_unique<TextWriter>();
      TextWriter* w = owned.get();
      ChunkStreamWriter dst(std::move(owned));
      Chopper chop(dst, step);
      ChunkStreamEncoder enc(chop, [](const std::string& p) { return p != "b.col"; });
      // 5 bytes of data and a hole of 7: a file of 12 bytes (the encoder counts them).
      transport::FileEntry a{"a.col", 12, 42, 0640, 0, 0, ""};
      enc.begin_file(a);
      enc.file_data(std::string_view("hello"));
      enc.file_hole(7);
      enc.end_file("sha-a");
      enc.begin_file({"b.col", 3, 1, 0600, 0, 0, ""});
      enc.file_data(std::string_view("xyz"));
      enc.end_file("sha-b");
      enc.begin_file({"c.col", 12, 42, 0640, 0, 0, "a.col"});
      enc.end_file("sha-a");
      enc.begin_file({"d.col", 3, 1, 0600, 0, 0, "b.col"});
      enc.end_file("sha-b");
      enc.directory({"", 9, 0755, 0, 0});
      const std::string hash = enc.finish();
      CHECK(hash.size() == 64);
      CHECK(enc.file_bytes() == 12);
      CHECK(w->log == "F a.col 12 42 416 \nD hello\nH 7\nE sha-a\nF c.col 12 42 416 a.col\n"
                      "E sha-a\nR  493\n");
      dst.finish("");
      CHECK(w->finished);
    }
  }

  TEST_CASE("a stream cut before its end is refused at finish")
  {
    auto owned = std::make_unique<TextWriter>();
    TextWriter* w = owned.get();
    ChunkStreamWriter dst(std::move(owned));
    ChunkStreamEncoder enc(dst, {});
    enc.begin_file({"a", 5, 0, 0600, 0, 0, ""});
    enc.file_data(std::string_view("hel"));
    CHECK_THROWS(dst.finish(""));
    CHECK(w->aborted);
    CHECK(!w->finished);
  }
}
