// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Hostile objects: every case is refused with TransportError(refused) naming the entry, and
// nothing of the hostile entry reaches the sink (the writer).
#include "tests/unit/transport/object_test_util.hpp"

#include <cstring>

using namespace clsync::test::codec;

namespace {

constexpr std::int64_t k_hostile_ns = 1'591'000'000'123'456'789;

/// Builds raw tar bytes member by member.
class TarBuilder {
public:
  TarBuilder&
  file(const std::string& path, const std::string& data, std::uint64_t claimed_size = UINT64_MAX)
  {
    tar::Member m;
    m.path = path;
    m.size = claimed_size == UINT64_MAX ? data.size() : claimed_size;
    m.mode = 0644;
    m.mtime_ns = k_hostile_ns;
    tar::append_header(bytes, m);
    bytes += data;
    bytes.append(tar::padding(data.size()), '\0');
    return *this;
  }
  TarBuilder& link(const std::string& path, const std::string& target)
  {
    tar::Member m;
    m.kind = tar::Kind::hard_link;
    m.path = path;
    m.link_to = target;
    m.mode = 0644;
    tar::append_header(bytes, m);
    return *this;
  }
  TarBuilder& dir(const std::string& path)
  {
    tar::Member m;
    m.kind = tar::Kind::directory;
    m.path = path;
    m.mode = 0755;
    tar::append_header(bytes, m);
    return *this;
  }
  /// A member of another type (symlink '2', device '3'/'4', FIFO '6').
  TarBuilder& special(const std::string& path, char type, const std::string& target = "")
  {
    tar::Member m;
    m.kind = tar::Kind::hard_link;
    m.path = path;
    m.link_to = target;
    std::string h;
    tar::append_header(h, m);
    char* b = h.data() + h.size() - tar::k_block;
    b[156] = type;
    rechecksum(b);
    bytes += h;
    return *this;
  }
  /// A pax extended header with these records, then a file member.
  TarBuilder& pax_file(const std::string& records, const std::string& path, const std::string& data)
  {
    tar::Member x;
    x.path = "PaxHeaders/x";
    x.size = records.size();
    std::string h;
    tar::append_header(h, x);
    h[156] = 'x';
    rechecksum(h.data());
    bytes += h + records;
    bytes.append(tar::padding(records.size()), '\0');
    return file(path, data);
  }
  TarBuilder& end()
  {
    bytes.append(2 * tar::k_block, '\0');
    return *this;
  }
  std::string bytes;

private:
  static void rechecksum(char* b)
  {
    std::memset(b + 148, ' ', 8);
    unsigned sum = 0;
    for (std::size_t i = 0; i < tar::k_block; ++i) {
      sum += static_cast<unsigned char>(b[i]);
    }
    std::snprintf(b + 148, 8, "%06o", sum);
  }
};

/// The manifest of the chunk { a.col = "hello", dir "" }.
ChunkManifest manifest()
{
  ChunkManifest m;
  m.files.push_back({{"a.col", 5, k_hostile_ns, 0644, 0, 0, ""}, sha256_hex("hello"), {}});
  m.dirs.push_back({"", k_hostile_ns, 0755, 0, 0});
  return m;
}

/// Unpacks `object` against `m`; requires a refusal naming `entry` and returns its message.
/// `sink` must not have begun a file named `entry` unless `begun_ok`.
std::string refused(const std::string& object,
                    const ChunkManifest& m,
                    const std::string& entry,
                    const std::string& object_sha = "")
{
  RecordSink sink;
  try {
    unpack(object, m, sink, object_sha);
  } catch (const TransportError& e) {
    CHECK_MESSAGE(e.kind() == FailureKind::refused, e.what());
    std::string what = e.what();
    CHECK_MESSAGE(what.find(entry) != std::string::npos, what);
    CHECK_MESSAGE(what.find("test object") != std::string::npos, what);
    for (const auto& f : sink.files) {
      CHECK_MESSAGE(f.entry.path.find("..") == std::string::npos, f.entry.path);
    }
    CHECK(sink.dirs.empty()); // directories come only after every check passed
    return what;
  }
  FAIL("the object was accepted");
  return "";
}

} // namespace

TEST_SUITE("transport::object_hostile")
{
  TEST_CASE("a well-formed object of the test manifest is accepted (the baseline)")
  {
    std::string object = zstd(TarBuilder().file("a.col", "hello").dir("").end().bytes);
    RecordSink sink;
    auto r = unpack(object, manifest(), sink, sha256_hex(object));
    CHECK(r.bytes == 5);
    REQUIRE(sink.files.size() == 1);
    CHECK(sink.files[0].data == "hello");
    CHECK(sink.dirs.size() == 1);
  }

  TEST_CASE("a name with .. is refused")
  {
    auto w = refused(zstd(TarBuilder().file("../evil", "x").end().bytes), manifest(), "../evil");
    CHECK(w.find("..") != std::string::npos);
  }

  TEST_CASE("a name with .. inside is refused")
  {
    refused(zstd(TarBuilder().file("sub/../../evil", "x").end().bytes), manifest(),
            "sub/../../evil");
  }

  TEST_CASE("an absolute name is refused")
  {
    auto w =
        refused(zstd(TarBuilder().file("/etc/evil", "x").end().bytes), manifest(), "/etc/evil");
    CHECK(w.find("absolute") != std::string::npos);
  }

  TEST_CASE("a symlink member is refused")
  {
    auto w = refused(zstd(TarBuilder().special("a.col", '2', "/etc/shadow").end().bytes),
                     manifest(), "a.col");
    CHECK(w.find("symlink") != std::string::npos);
  }

  TEST_CASE("a character device member is refused")
  {
    auto w = refused(zstd(TarBuilder().special("a.col", '3').end().bytes), manifest(), "a.col");
    CHECK(w.find("device") != std::string::npos);
  }

  TEST_CASE("a block device member is refused")
  {
    refused(zstd(TarBuilder().special("a.col", '4').end().bytes), manifest(), "a.col");
  }

  TEST_CASE("a FIFO member is refused")
  {
    auto w = refused(zstd(TarBuilder().special("a.col", '6').end().bytes), manifest(), "a.col");
    CHECK(w.find("FIFO") != std::string::npos);
  }

  TEST_CASE("a hard link to /etc/shadow is refused")
  {
    ChunkManifest m = manifest();
    m.files.push_back({{"b.col", 5, k_hostile_ns, 0644, 0, 0, "a.col"}, sha256_hex("hello"), {}});
    auto w = refused(
        zstd(TarBuilder().file("a.col", "hello").link("b.col", "/etc/shadow").dir("").end().bytes),
        m, "b.col");
    CHECK(w.find("/etc/shadow") != std::string::npos);
  }

  TEST_CASE("a hard link to a name that is not an earlier member is refused")
  {
    ChunkManifest m = manifest();
    m.files.push_back({{"b.col", 5, k_hostile_ns, 0644, 0, 0, "a.col"}, sha256_hex("hello"), {}});
    // The link comes before its target.
    auto w = refused(
        zstd(TarBuilder().link("b.col", "a.col").file("a.col", "hello").dir("").end().bytes), m,
        "b.col");
    CHECK(w.find("not an earlier member") != std::string::npos);
    refused(zstd(TarBuilder().file("a.col", "hello").link("b.col", "../x").dir("").end().bytes), m,
            "b.col");
  }

  TEST_CASE("a hard link between files of different content is refused")
  {
    ChunkManifest m = manifest();
    m.files.push_back({{"b.col", 5, k_hostile_ns, 0644, 0, 0, ""}, sha256_hex("world"), {}});
    refused(zstd(TarBuilder().file("a.col", "hello").link("b.col", "a.col").dir("").end().bytes), m,
            "b.col");
  }

  TEST_CASE("a name the manifest does not list is refused")
  {
    auto w = refused(
        zstd(TarBuilder().file("a.col", "hello").file("other.col", "x").dir("").end().bytes),
        manifest(), "other.col");
    CHECK(w.find("does not list") != std::string::npos);
  }

  TEST_CASE("a directory the manifest does not list is refused")
  {
    refused(zstd(TarBuilder().file("a.col", "hello").dir("extra").dir("").end().bytes), manifest(),
            "extra");
  }

  TEST_CASE("a member that appears twice is refused")
  {
    auto w = refused(
        zstd(TarBuilder().file("a.col", "hello").file("a.col", "hello").dir("").end().bytes),
        manifest(), "a.col");
    CHECK(w.find("twice") != std::string::npos);
  }

  TEST_CASE("a listed file missing from the object is refused")
  {
    ChunkManifest m = manifest();
    m.files.push_back({{"b.col", 1, k_hostile_ns, 0644, 0, 0, ""}, sha256_hex("b"), {}});
    auto w = refused(zstd(TarBuilder().file("a.col", "hello").dir("").end().bytes), m, "b.col");
    CHECK(w.find("missing") != std::string::npos);
  }

  TEST_CASE("a listed directory missing from the object is refused")
  {
    ChunkManifest m = manifest();
    m.dirs.insert(m.dirs.begin(), {"empty", k_hostile_ns, 0755, 0, 0});
    refused(zstd(TarBuilder().file("a.col", "hello").dir("").end().bytes), m, "empty");
  }

  TEST_CASE("a header size different from the manifest's is refused before its data")
  {
    RecordSink sink;
    std::string object = zstd(TarBuilder().file("a.col", "hello!").dir("").end().bytes);
    auto w = refused(object, manifest(), "a.col");
    CHECK(w.find("size 6") != std::string::npos);
  }

  TEST_CASE("content whose SHA-256 differs from the manifest's is refused")
  {
    auto w =
        refused(zstd(TarBuilder().file("a.col", "hellp").dir("").end().bytes), manifest(), "a.col");
    CHECK(w.find("SHA-256") != std::string::npos);
  }

  TEST_CASE("non-zero bytes inside a listed hole are refused")
  {
    ChunkManifest m = manifest();
    m.files[0].holes = {{1, 3}}; // "hello" has no zeros at 1..3
    auto w = refused(zstd(TarBuilder().file("a.col", "hello").dir("").end().bytes), m, "a.col");
    CHECK(w.find("hole") != std::string::npos);
  }

  TEST_CASE("a truncated zstd stream is refused")
  {
    std::string object = zstd(TarBuilder().file("a.col", "hello").dir("").end().bytes);
    auto w = refused(object.substr(0, object.size() - 6), manifest(), "zstd");
    CHECK(w.find("truncated") != std::string::npos);
  }

  TEST_CASE("an object cut before the end of the tar is refused")
  {
    // A complete zstd frame of an incomplete tar (no end blocks).
    auto w = refused(zstd(TarBuilder().file("a.col", "hello").dir("").bytes), manifest(),
                     "end of archive");
    CHECK(w.find("truncated") != std::string::npos);
  }

  TEST_CASE("corrupt zstd is refused")
  {
    std::string object = zstd(TarBuilder().file("a.col", "hello").dir("").end().bytes);
    object[object.size() / 2] = static_cast<char>(object[object.size() / 2] ^ 0x55);
    object[object.size() / 2 + 1] = static_cast<char>(object[object.size() / 2 + 1] ^ 0x55);
    RecordSink sink;
    try {
      unpack(object, manifest(), sink);
      FAIL("accepted");
    } catch (const TransportError& e) {
      CHECK(e.kind() == FailureKind::refused);
      CHECK(std::string(e.what()).find("test object") != std::string::npos);
    }
    CHECK_THROWS_AS(unpack("not zstd at all, just text", manifest(), sink), TransportError);
  }

  TEST_CASE("a decompression bomb stops at the member that claims more than the manifest")
  {
    // a.col claims 1 GiB (the manifest: 5 bytes) and 16 MiB of it follow, compressed to little.
    std::string raw = TarBuilder().file("a.col", "", 1ull << 30).bytes;
    raw.append(16u << 20, 'A');
    std::string object = zstd(raw);
    CHECK(object.size() < (64u << 10));
    RecordSink sink;
    ObjectUnpacker u(sink, manifest(), "test object");
    std::size_t fed = 0;
    try {
      for (; fed < object.size(); fed += 512) {
        u.write(std::span<const char>(object.data() + fed,
                                      std::min<std::size_t>(512, object.size() - fed)));
      }
      FAIL("accepted");
    } catch (const TransportError& e) {
      CHECK(e.kind() == FailureKind::refused);
      CHECK(std::string(e.what()).find("a.col") != std::string::npos);
    }
    CHECK(sink.files.empty()); // not one byte of it reached the writer
    CHECK(fed < object.size());
  }

  TEST_CASE("a decompression bomb of zeros after the tar end is refused")
  {
    std::string raw = TarBuilder().file("a.col", "hello").dir("").end().bytes;
    raw.append(64u << 20, '\0');
    auto w = refused(zstd(raw), manifest(), "end of archive");
    CHECK(w.find("garbage") != std::string::npos);
  }

  TEST_CASE("an oversized pax header is refused")
  {
    std::string big = "1048588 path=" + std::string(1048575 - 13, 'p') + "\n";
    refused(zstd(TarBuilder().pax_file(big, "a.col", "hello").dir("").end().bytes), manifest(),
            "PaxHeaders");
  }

  TEST_CASE("a sparse (GNU.sparse) member is refused")
  {
    refused(
        zstd(
            TarBuilder().pax_file("22 GNU.sparse.major=1\n", "a.col", "hello").dir("").end().bytes),
        manifest(), "pax");
  }

  TEST_CASE("garbage after the end of the tar is refused")
  {
    std::string raw = TarBuilder().file("a.col", "hello").dir("").end().bytes + "trailing junk";
    auto w = refused(zstd(raw), manifest(), "end of archive");
    CHECK(w.find("garbage") != std::string::npos);
    // Zero padding to a tar record is fine.
    raw = TarBuilder().file("a.col", "hello").dir("").end().bytes;
    raw.append(10240 - raw.size() % 10240, '\0');
    RecordSink sink;
    CHECK_NOTHROW(unpack(zstd(raw), manifest(), sink));
  }

  TEST_CASE("garbage after the zstd frame is refused")
  {
    std::string object = zstd(TarBuilder().file("a.col", "hello").dir("").end().bytes) + "junk!";
    RecordSink sink;
    CHECK_THROWS_AS(unpack(object, manifest(), sink), TransportError);
  }

  TEST_CASE("an object whose bytes do not hash to object_sha256 is refused")
  {
    std::string object = zstd(TarBuilder().file("a.col", "hello").dir("").end().bytes);
    RecordSink sink;
    try {
      unpack(object, manifest(), sink, std::string(64, 'a'));
      FAIL("accepted");
    } catch (const TransportError& e) {
      CHECK(e.kind() == FailureKind::refused);
      CHECK(std::string(e.what()).find(sha256_hex(object)) != std::string::npos);
    }
    CHECK(sink.dirs.empty());
  }

  TEST_CASE("a hostile manifest is refused before any byte is decoded")
  {
    ChunkManifest m = manifest();
    m.files[0].entry.path = "../../etc/cron.d/x";
    RecordSink sink;
    CHECK_THROWS_AS(ObjectUnpacker(sink, m, "test object"), TransportError);
    m = manifest();
    m.files.push_back({{"b.col", 5, k_hostile_ns, 0644, 0, 0, "/etc/shadow"}, sha256_hex("hello"), {}});
    CHECK(manifest_problem(m).find("/etc/shadow") != std::string::npos);
    m = manifest();
    m.dirs.push_back({"/abs", k_hostile_ns, 0755, 0, 0});
    CHECK_FALSE(manifest_problem(m).empty());
    m = manifest();
    m.files[0].holes = {{3, 10}};
    CHECK_FALSE(manifest_problem(m).empty());
  }
}
