// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/agent_protocol.hpp"

#include <doctest/doctest.h>

#include <cstring>

using namespace clsync::transport;
using namespace clsync::transport::wire;
using nlohmann::json;

namespace {

/// Serves bytes from memory, `step` at a time (to exercise partial reads).
class MemorySource : public ByteSource {
public:
  explicit MemorySource(std::string data, std::size_t step = 7)
      : m_data(std::move(data)), m_step(step)
  {
  }
  std::size_t read_some(char* buf, std::size_t n) override
  {
    std::size_t k = std::min({n, m_step, m_data.size() - m_pos});
    std::memcpy(buf, m_data.data() + m_pos, k);
    m_pos += k;
    return k;
  }

private:
  std::string m_data;
  std::size_t m_step;
  std::size_t m_pos = 0;
};

std::string frame(MsgType t, const std::string& payload)
{
  auto h = encode_header(t, payload.size());
  return std::string(h.begin(), h.end()) + payload;
}

template <class T> T round_trip(const T& v)
{
  // Through CBOR bytes, as on the wire.
  auto bytes = to_payload(to_wire(v));
  return decode<T>(from_payload(bytes, "test"));
}

FileEntry sample_file(const std::string& path)
{
  FileEntry f;
  f.path = path;
  f.size = 1ull << 40;
  f.mtime_ns = -1234567890123456789; // before 1970 still round-trips
  f.mode = 0644;
  f.uid = 1000;
  f.gid = 4294967295u;
  return f;
}

} // namespace

TEST_SUITE("transport::agent_protocol")
{
  TEST_CASE("headers are big-endian length then type")
  {
    auto h = encode_header(MsgType::data, 0x01020304);
    CHECK(static_cast<unsigned char>(h[0]) == 0x01);
    CHECK(static_cast<unsigned char>(h[3]) == 0x04);
    CHECK(static_cast<unsigned char>(h[4]) == static_cast<unsigned char>(MsgType::data));
    MsgType t{};
    std::uint32_t len = 0;
    decode_header(h.data(), t, len);
    CHECK(t == MsgType::data);
    CHECK(len == 0x01020304u);
  }

  TEST_CASE("frames are read back whole across partial reads")
  {
    std::string big(300000, 'x');
    big[12345] = 'y';
    MemorySource src(frame(MsgType::hello, "abc") + frame(MsgType::data, big) +
                         frame(MsgType::keepalive, ""),
                     4093);
    FrameReader r(src, 1024);
    Frame f;
    REQUIRE(r.next(f));
    CHECK(f.type == MsgType::hello);
    CHECK(std::string(f.payload.begin(), f.payload.end()) == "abc");
    REQUIRE(r.next(f));
    CHECK(f.type == MsgType::data);
    CHECK(std::string(f.payload.begin(), f.payload.end()) == big);
    REQUIRE(r.next(f));
    CHECK(f.type == MsgType::keepalive);
    CHECK(f.payload.empty());
    CHECK_FALSE(r.next(f)); // clean end between frames
  }

  TEST_CASE("a truncated frame is an error, not an end")
  {
    std::string whole = frame(MsgType::data, "0123456789");
    for (std::size_t cut : {std::size_t{2}, std::size_t{5}, std::size_t{9}}) {
      MemorySource src(whole.substr(0, cut));
      FrameReader r(src);
      Frame f;
      CHECK_THROWS_AS(r.next(f), TransportError);
    }
  }

  TEST_CASE("oversized and unknown frames are refused")
  {
    CHECK_THROWS_AS(encode_header(MsgType::data, std::size_t{k_max_frame} + 1), TransportError);
    char over[5] = {static_cast<char>(0x7f), 0, 0, 0, static_cast<char>(MsgType::data)};
    MemorySource src(std::string(over, 5) + std::string(100, 'z'));
    FrameReader r(src);
    Frame f;
    try {
      r.next(f);
      FAIL("an oversized frame was accepted");
    } catch (const TransportError& e) {
      CHECK(std::string(e.what()).find("exceeds") != std::string::npos);
    }
    char unknown[5] = {0, 0, 0, 0, static_cast<char>(200)};
    MemorySource src2(std::string(unknown, 5));
    FrameReader r2(src2);
    CHECK_THROWS_AS(r2.next(f), TransportError);
    // A shell's greeting on stdout is not mistaken for a frame.
    MemorySource src3("Welcome to node 7!\n");
    FrameReader r3(src3);
    CHECK_THROWS_AS(r3.next(f), TransportError);
  }

  TEST_CASE("malformed CBOR and missing fields are protocol errors")
  {
    std::vector<char> junk{'\xff', '\x01'};
    CHECK_THROWS_AS(from_payload(junk, "x"), TransportError);
    json j = to_wire(sample_file("a"));
    j.erase("size");
    CHECK_THROWS_AS(decode<FileEntry>(j), TransportError);
    j = to_wire(sample_file("a"));
    j["size"] = "big";
    CHECK_THROWS_AS(decode<FileEntry>(j), TransportError);
    CHECK_THROWS_AS(decode<CommitMode>(json("sideways")), TransportError);
  }

  TEST_CASE("every node type round-trips")
  {
    auto f = sample_file("d/f.col");
    auto f2 = round_trip(f);
    CHECK(f2.path == f.path);
    CHECK(f2.size == f.size);
    CHECK(f2.mtime_ns == f.mtime_ns);
    CHECK(f2.mode == f.mode);
    CHECK(f2.uid == f.uid);
    CHECK(f2.gid == f.gid);
    CHECK(f2.link_to.empty());
    f.link_to = "d/g.col";
    CHECK(round_trip(f).link_to == "d/g.col");

    ChunkDir cd{"private/x", -17, 0700, 4321, 4322};
    auto cd2 = round_trip(cd);
    CHECK(cd2.path == "private/x");
    CHECK(cd2.mtime_ns == -17);
    CHECK(cd2.mode == 0700);
    CHECK(cd2.uid == 4321);
    CHECK(cd2.gid == 4322);
    CHECK(round_trip(ChunkDir{}).path.empty());  // the chunk's own directory

    ReplicaScan r;
    r.allocated_bytes = 12288;
    r.volume = "/v0";
    r.key = "db/20200601/Key1/t";
    r.bytes = 99;
    r.files = 2;
    r.newest_mtime_ns = 17;
    r.fingerprint = "fp";
    r.layout_hash = "lh";
    r.content_hash = "ch";
    r.special = {"link"};
    r.file_list = {sample_file("a"), sample_file("b")};
    auto r2 = round_trip(r);
    CHECK(r2.volume == r.volume);
    CHECK(r2.key == r.key);
    CHECK(r2.bytes == 99);
    CHECK(r2.allocated_bytes == 12288);
    CHECK(r2.files == 2);
    CHECK(r2.newest_mtime_ns == 17);
    CHECK(r2.fingerprint == "fp");
    CHECK(r2.layout_hash == "lh");
    CHECK(r2.content_hash == "ch");
    CHECK(r2.special == std::vector<std::string>{"link"});
    REQUIRE(r2.file_list.size() == 2);
    CHECK(r2.file_list[1].path == "b");

    VolumeScan v{"/v0", false, "permission denied", 100, 40, 77};
    auto v2 = round_trip(v);
    CHECK(v2.path == "/v0");
    CHECK_FALSE(v2.ok);
    CHECK(v2.error == "permission denied");
    CHECK(v2.capacity_bytes == 100);
    CHECK(v2.free_bytes == 40);
    CHECK(v2.filesystem_id == 77);

    UnmanagedScan u{"/v0", "other/x", 5, 1};
    auto u2 = round_trip(u);
    CHECK(u2.path == "other/x");
    CHECK(u2.bytes == 5);
    CHECK(u2.files == 1);

    LeftoverScan l{"/v0", ".clsync-intent-t1", "intent", "t1", "{\"a\":1}"};
    auto l2 = round_trip(l);
    CHECK(l2.name == l.name);
    CHECK(l2.kind == "intent");
    CHECK(l2.task == "t1");
    CHECK(l2.content == l.content);

    ScanSpec s;
    s.databases = {{"Level1", 2}, {"Other", 0}};
    s.with_files = true;
    auto s2 = round_trip(s);
    REQUIRE(s2.databases.size() == 2);
    CHECK(s2.databases[0].name == "Level1");
    CHECK(s2.databases[0].levels == 2);
    CHECK(s2.with_files);
    CHECK_FALSE(s2.with_hashes);
    CHECK(s2.skip_databases.empty());
    s.skip_databases = {"Other"};
    CHECK(round_trip(s).skip_databases == std::vector<std::string>{"Other"});

    NodeScan n;
    n.volumes = {v};
    n.replicas = {r};
    n.unmanaged = {u};
    n.leftovers = {l};
    n.problems = {"a symlink in db/x"};
    auto n2 = round_trip(n);
    CHECK(n2.volumes.size() == 1);
    CHECK(n2.replicas.size() == 1);
    CHECK(n2.unmanaged.size() == 1);
    CHECK(n2.leftovers.size() == 1);
    CHECK(n2.problems == n.problems);

    ChunkDigest d{"content", "finger", 123, 4};
    auto d2 = round_trip(d);
    CHECK(d2.content_hash == "content");
    CHECK(d2.fingerprint == "finger");
    CHECK(d2.bytes == 123);
    CHECK(d2.files == 4);

    LeaseInfo li{"host1", 4242, "run-1", "rebalance-nodes", 10, 20, 3, 600, "m-id", "b-id", 777};
    auto li2 = round_trip(li);
    CHECK(li2.host == "host1");
    CHECK(li2.pid == 4242);
    CHECK(li2.run_id == "run-1");
    CHECK(li2.command == "rebalance-nodes");
    CHECK(li2.started_unix == 10);
    CHECK(li2.heartbeat_unix == 20);
    CHECK(li2.age_seconds == 3);
    CHECK(li2.ttl_s == 600);
    CHECK(li2.machine_id == "m-id");
    CHECK(li2.boot_id == "b-id");
    CHECK(li2.pid_start == 777);

    LeaseResult lr;
    CHECK_FALSE(round_trip(lr).holder.has_value());
    lr.holder = li;
    auto lr2 = round_trip(lr);
    CHECK_FALSE(lr2.acquired);
    REQUIRE(lr2.holder.has_value());
    CHECK(lr2.holder->run_id == "run-1");

    DirEntry de{"objects", true, 0, 5};
    auto de2 = round_trip(de);
    CHECK(de2.name == "objects");
    CHECK(de2.is_dir);
    CHECK(de2.mtime_ns == 5);

    for (auto m : {CommitMode::no_replace, CommitMode::exchange}) {
      CHECK(round_trip(m) == m);
    }
    for (auto o : {CommitOutcome::placed, CommitOutcome::already_equal,
                   CommitOutcome::exists_different, CommitOutcome::replaced}) {
      CHECK(round_trip(o) == o);
    }
    for (auto o :
         {RenameOutcome::renamed, RenameOutcome::cross_device, RenameOutcome::destination_exists}) {
      CHECK(round_trip(o) == o);
    }
  }

  TEST_CASE("hello, errors and the version check")
  {
    Hello h;
    h.version = "1.2.3";
    h.roots = {"/a", "/b"};
    h.keepalive_ms = 250;
    auto h2 = round_trip(h);
    CHECK(h2.protocol == k_protocol_version);
    CHECK(h2.version == "1.2.3");
    CHECK(h2.roots == h.roots);
    CHECK(h2.keepalive_ms == 250);

    HelloReply hr;
    hr.version = "1.2.3";
    hr.hostname = "dn1";
    hr.euid = 0;
    auto hr2 = round_trip(hr);
    CHECK(hr2.hostname == "dn1");
    CHECK_NOTHROW(check_hello_reply(hr2, "node P1"));

    // A future agent: only its protocol number and version need to be readable.
    const auto next = k_protocol_version + 1;
    json future{{"protocol", next}, {"version", "9.0.0"}, {"something", "new"}};
    auto fr = decode<HelloReply>(future);
    try {
      check_hello_reply(fr, "node P2-dn1 (127.0.0.3:2222)");
      FAIL("a protocol mismatch was accepted");
    } catch (const TransportError& e) {
      std::string m = e.what();
      CHECK(m.find("agent on node P2-dn1 (127.0.0.3:2222) speaks protocol " +
                   std::to_string(next)) != std::string::npos);
      CHECK(m.find("this clsync speaks " + std::to_string(k_protocol_version)) !=
            std::string::npos);
      CHECK(m.find("--deploy-agent") != std::string::npos);
    }

    hr.error = "root '/x' is not an existing directory";
    CHECK_THROWS_AS(check_hello_reply(round_trip(hr), "n"), TransportError);

    ErrorInfo e{FailureKind::no_space, "disk full on /v1", true};
    auto e2 = round_trip(e);
    CHECK(e2.kind == FailureKind::no_space);
    CHECK(e2.message == "disk full on /v1");
    CHECK(e2.retryable);
    for (auto k :
         {FailureKind::error, FailureKind::timeout, FailureKind::auth, FailureKind::host_key,
          FailureKind::not_found, FailureKind::refused, FailureKind::no_space}) {
      CHECK(failure_kind_from_string(clsync::transport::to_string(k)) == k);
    }
  }

  TEST_CASE("names that are not UTF-8 cross the wire byte for byte")
  {
    // Linux names are bytes: lone continuation, 0xff/0xfe, overlong '/', a cut sequence, NUL-free.
    const std::string odd = "db/\x80\xff\xfe/\xc0\xaf/t\xc3";
    auto f = sample_file(odd + "/f\xe9.col");
    f.link_to = odd + "/\xff";
    auto f2 = round_trip(f);
    CHECK(f2.path == f.path);
    CHECK(f2.link_to == f.link_to);
    CHECK(round_trip(ChunkDir{odd, 0, 0755, 0, 0}).path == odd);
    ReplicaScan r;
    r.volume = "/v\xff";
    r.key = odd;
    r.special = {"\xfe"};
    auto r2 = round_trip(r);
    CHECK(r2.volume == r.volume);
    CHECK(r2.key == odd);
    CHECK(r2.special == std::vector<std::string>{"\xfe"});
    ErrorInfo e{FailureKind::not_found, "chunk /v/" + odd + " does not exist", false};
    CHECK(round_trip(e).message == e.message);
    DirEntry de{"\xfe\xff.obj", false, 4, 1};
    CHECK(round_trip(de).name == de.name);
  }

  TEST_CASE("every known type has a name and unknown bytes are refused")
  {
    for (int t = 0; t < 256; ++t) {
      if (is_known(static_cast<std::uint8_t>(t))) {
        CHECK(std::string(to_string(static_cast<MsgType>(t))) != "unknown");
      }
    }
    CHECK_FALSE(is_known(0));
    CHECK(is_known(14));
    CHECK(std::string(to_string(MsgType::hole)) == "hole");
    CHECK(std::string(to_string(MsgType::dir)) == "dir");
    CHECK_FALSE(is_known(16));
    CHECK_FALSE(is_known(54));
  }

  TEST_CASE("data frames compress, and corrupt ones are refused")
  {
    std::string text;
    for (int i = 0; i < 5000; ++i) {
      text += "price=" + std::to_string(i % 97) + ";";
    }
    auto z = compress_data(text);
    REQUIRE_FALSE(z.empty());
    CHECK(z.size() < text.size() / 4);
    std::vector<char> back;
    decompress_data(z, back);
    CHECK(std::string(back.begin(), back.end()) == text);

    // Random bytes do not shrink: the sender then uses plain DATA.
    std::string noise(4096, '\0');
    std::uint64_t x = 88172645463325252ull;
    for (auto& c : noise) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      c = static_cast<char>(x);
    }
    CHECK(compress_data(noise).empty());

    // After a frame that did not shrink, the next k_skip frames are not even tried.
    DataCompressor dc;
    CHECK_FALSE(dc.compress(text).empty());
    CHECK(dc.compress(noise).empty());
    for (int i = 0; i < DataCompressor::k_skip; ++i) {
      CHECK(dc.compress(text).empty());
    }
    CHECK_FALSE(dc.compress(text).empty());

    auto bad = z;
    bad[bad.size() / 2] ^= 0x5a;
    bad.back() ^= 0x33;
    CHECK_THROWS_AS(decompress_data(bad, back), TransportError);
    std::vector<char> cut(z.begin(), z.begin() + static_cast<long>(z.size() / 2));
    CHECK_THROWS_AS(decompress_data(cut, back), TransportError);
    std::vector<char> junk{'n', 'o', 't', 'z', 's', 't', 'd'};
    CHECK_THROWS_AS(decompress_data(junk, back), TransportError);
  }
}
