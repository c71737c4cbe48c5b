// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/unit/transport/object_test_util.hpp"

using namespace clsync::test::codec;

namespace {

constexpr std::int64_t k_ns = 1'591'000'000'123'456'789;

TestChunk sample_chunk()
{
  TestChunk c;
  std::string long_name = "deep/" + std::string(145, 'n'); // 150 bytes
  std::string latin1 = std::string("caf\xe9") + ".col";    // not UTF-8
  auto file = [](std::string path, std::vector<Piece> pieces, std::uint32_t mode, std::int64_t t,
                 std::uint32_t uid = 0, std::uint32_t gid = 0) {
    std::uint64_t size = 0;
    for (const Piece& p : pieces) {
      size += std::holds_alternative<std::string>(p) ? std::get<std::string>(p).size()
                                                     : std::get<std::uint64_t>(p);
    }
    return TestFile{{std::move(path), size, t, mode, uid, gid, ""}, std::move(pieces)};
  };
  c.files.push_back(file("a.col", {std::string("first name of a hard link")}, 0640, k_ns));
  c.files.push_back(file(latin1, {std::string("bytes, not UTF-8")}, 0600, k_ns + 1, 4321, 4321));
  c.files.push_back(file(long_name, {std::string(1000, 'L')}, 0644, -1'500'000'000, 5'000'000, 7));
  c.files.push_back(file("empty.col", {}, 0644, 1'000'000'000'000'000'000));
  TestFile link{{"linked/b.col", 25, k_ns + 2, 0640, 0, 0, "a.col"}, {}};
  c.files.push_back(link);
  c.files.push_back(file("sparse.bin",
                         {std::uint64_t(8192), std::string(4096, 'a'), std::uint64_t(1 << 20),
                          std::string(10, 'b'), std::uint64_t(3 << 20)},
                         0644, k_ns + 3));
  // Directories children first, the chunk's own last.
  c.dirs = {{"linked", k_ns + 10, 0755, 0, 0},
            {"empty", k_ns + 11, 0750, 1000, 2000},
            {"deep", k_ns + 12, 0700, 0, 0},
            {"", k_ns + 13, 0751, 0, 0}};
  return c;
}

std::map<std::string, RecordSink::File> by_path(const RecordSink& r)
{
  std::map<std::string, RecordSink::File> out;
  for (const auto& f : r.files) {
    out[f.entry.path] = f;
  }
  return out;
}

} // namespace

TEST_SUITE("transport::object_codec")
{
  TEST_CASE("a chunk packs and unpacks exactly: dirs, modes, owners, ns mtimes, links, holes")
  {
    TestChunk c = sample_chunk();
    std::string object;
    PackResult r = pack(c, object);
    CHECK(r.object_size == object.size());
    CHECK(r.object_sha256 == sha256_hex(object));
    RecordSink direct;
    ChunkDigest read = send_chunk(c, direct);
    CHECK(r.digest.content_hash == read.content_hash);
    CHECK(r.digest.fingerprint == read.fingerprint);
    REQUIRE(r.manifest.files.size() == c.files.size());
    CHECK(r.manifest.dirs.size() == c.dirs.size());
    const ObjectFile& sparse = r.manifest.files.back();
    CHECK(sparse.entry.path == "sparse.bin");
    CHECK(sparse.holes == std::vector<HoleRange>{{0, 8192},
                                                 {8192 + 4096, 1 << 20},
                                                 {8192 + 4096 + (1 << 20) + 10, 3 << 20}});
    CHECK(r.manifest.files[4].entry.link_to == "a.col");
    CHECK(r.manifest.files[4].sha256 == r.manifest.files[0].sha256);

    RecordSink got;
    auto u = unpack(object, r.manifest, got, r.object_sha256);
    CHECK(u.object_sha256 == r.object_sha256);
    CHECK(u.content_hash == read.content_hash);
    auto want = by_path(direct);
    auto have = by_path(got);
    REQUIRE(have.size() == want.size());
    for (const auto& [key, w] : want) {
      const std::string& path = key; // CAPTURE's lambda: clang 14 cannot capture a binding
      const auto& h = have.at(path);
      CAPTURE(path);
      CHECK(h.entry.size == w.entry.size);
      CHECK(h.entry.mode == w.entry.mode);
      CHECK(h.entry.uid == w.entry.uid);
      CHECK(h.entry.gid == w.entry.gid);
      CHECK(h.entry.mtime_ns == w.entry.mtime_ns);
      CHECK(h.entry.link_to == w.entry.link_to);
      CHECK(h.data == w.data);
      CHECK(h.sha256 == w.sha256);
      CHECK(h.hole_bytes == w.hole_bytes);
    }
    CHECK(have.at("sparse.bin").hole_bytes == 8192 + (1 << 20) + (3 << 20));
    REQUIRE(got.dirs.size() == c.dirs.size());
    for (std::size_t i = 0; i < c.dirs.size(); ++i) {
      CHECK(got.dirs[i].path == c.dirs[i].path);
      CHECK(got.dirs[i].mode == c.dirs[i].mode);
      CHECK(got.dirs[i].mtime_ns == c.dirs[i].mtime_ns);
      CHECK(got.dirs[i].uid == c.dirs[i].uid);
    }
  }

  TEST_CASE("the tar inside names long and non-UTF-8 entries through pax records")
  {
    TestChunk c = sample_chunk();
    std::string object;
    pack(c, object);
    std::string tar = unzstd(object);
    CHECK(tar.size() % 512 == 0);
    CHECK(tar.find("path=deep/" + std::string(145, 'n')) != std::string::npos);
    CHECK(tar.find("hdrcharset=BINARY") != std::string::npos);
    CHECK(tar.find(std::string("path=caf\xe9.col\n")) != std::string::npos);
    CHECK(tar.find("mtime=1591000000.123456789\n") != std::string::npos);
    CHECK(tar.find("mtime=-1.5\n") != std::string::npos);
    CHECK(tar.find("uid=5000000\n") != std::string::npos);
    // Ends with the two zero blocks of a tar.
    CHECK(tar.substr(tar.size() - 1024) == std::string(1024, '\0'));
  }

  TEST_CASE("--columns keeps the listed columns and every directory; the id is of what it holds")
  {
    TestChunk c;
    c.files.push_back({{"date.col", 3, k_ns, 0644, 0, 0, ""}, {std::string("abc")}});
    c.files.push_back({{"id.col", 2, k_ns, 0644, 0, 0, ""}, {std::string("xy")}});
    c.files.push_back({{"sub/price.col", 1, k_ns, 0644, 0, 0, ""}, {std::string("p")}});
    c.dirs = {{"sub", k_ns, 0755, 0, 0}, {"", k_ns, 0755, 0, 0}};
    PackOptions o;
    o.columns = {"id", "price"};
    std::string object;
    PackResult r = pack(c, object, o);
    REQUIRE(r.manifest.files.size() == 2);
    CHECK(r.manifest.files[0].entry.path == "id.col");
    CHECK(r.manifest.files[1].entry.path == "sub/price.col");
    CHECK(r.manifest.dirs.size() == 2);
    std::vector<HashedFile> kept{{"id.col", 2, sha256_hex("xy"), 0644},
                                 {"sub/price.col", 1, sha256_hex("p"), 0644}};
    CHECK(r.digest.content_hash == content_hash(kept, c.dirs));
    RecordSink full;
    CHECK(r.digest.content_hash != send_chunk(c, full).content_hash);
    RecordSink got;
    CHECK(unpack(object, r.manifest, got, r.object_sha256).content_hash == r.digest.content_hash);
    CHECK(got.files.size() == 2);
  }

  TEST_CASE("worker threads and levels give objects that unpack the same")
  {
    TestChunk c = sample_chunk();
    c.files.push_back({{"z.bin", 3u << 20, k_ns, 0644, 0, 0, ""}, {std::string(3u << 20, 'z')}});
    for (int threads : {0, 2}) {
      PackOptions o;
      o.threads = threads;
      o.level = 19;
      std::string object;
      PackResult r = pack(c, object, o);
      RecordSink got;
      CHECK(unpack(object, r.manifest, got, r.object_sha256, 1 << 20).content_hash ==
            r.digest.content_hash);
    }
  }

  TEST_CASE("a zstd context kept from earlier objects (other level, workers, cut short) packs "
            "the same bytes")
  {
    TestChunk c = sample_chunk();
    PackOptions fast;
    fast.level = 1;
    std::string first;
    PackResult a = pack(c, first, fast);
    {
      PackOptions slow;
      slow.level = 19;
      slow.threads = 2;
      std::string other;
      pack(c, other, slow);
    }
    {
      // Abandoned mid-file: its context goes back inside an unfinished frame.
      StringSink out;
      ObjectPacker cut(out, fast, "test cut");
      cut.begin_file(c.files.front().entry);
      cut.file_data(std::span<const char>("first", 5));
    }
    std::string again;
    PackResult b = pack(c, again, fast);
    CHECK(again == first);
    CHECK(b.object_sha256 == a.object_sha256);
    RecordSink got;
    CHECK(unpack(again, b.manifest, got, b.object_sha256).content_hash == a.digest.content_hash);
  }
}
