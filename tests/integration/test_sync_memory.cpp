// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// sync-online's bounded memory (suite `sync_memory`, issue 9 item 3 and its "peak RSS below
// --max-memory while syncing data 10× larger"): a cold sync of the demo's 200 MiB of chunks
// under --max-memory 32M (6× less), into B's local nodes and into a node behind loopback sshd
// (every byte relayed through clsync), keeps the clsync process's own peak RSS (GNU time,
// test::peak_rss_command()) under the limit. That process is test::rss_binary(): a Release
// clsync in a sanitized build, whose agents behind sshd are still the sanitized one. The data
// lives on a tmpfs, so the test pays for memory copies rather than for the disk and takes
// seconds. bench/run.sh's sync-rss rows show the same at 64M with 13× the data.
#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/peak_rss.hpp"
#include "tests/support/scratch.hpp"
#include "tests/support/sshd_harness.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <sys/mount.h>

namespace fs = std::filesystem;
using namespace clsync;

namespace clsync::test::sync_memory {

constexpr long k_limit_mib = 32;
constexpr const char* k_limit = "32M";

std::string quoted(const fs::path& p)
{
  return "'" + p.string() + "'";
}

/// The demo (`--chunk-size 1M`: 200 chunks of 1 MiB, 2 replicas each on cluster A) on a tmpfs
/// of its own, unmounted at the end.
struct TmpfsDemo {
  fs::path dir;
  explicit TmpfsDemo(const std::string& name) : dir(scratch_dir(name) / "tmpfs")
  {
    fs::create_directories(dir);
    REQUIRE_MESSAGE(::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=1200m") == 0,
                    "mounting a tmpfs failed (tests run as root): ", std::strerror(errno));
    REQUIRE(run_clsync("demo --dir " + quoted(dir / "demo") + " --chunk-size 1M") == 0);
  }
  TmpfsDemo(const TmpfsDemo&) = delete;
  TmpfsDemo& operator=(const TmpfsDemo&) = delete;
  ~TmpfsDemo() { ::umount2(dir.c_str(), MNT_DETACH); }

  fs::path a_yaml() const { return dir / "demo/cluster-a.yaml"; }
  /// Bytes of files of one replica of every chunk of A (P1-dn1 holds them all).
  std::uint64_t a_bytes() const { return file_bytes(dir / "demo/a/P1-dn1"); }

  static std::uint64_t file_bytes(const fs::path& root)
  {
    std::uint64_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      n += e.is_regular_file() ? e.file_size() : 0;
    }
    return n;
  }
};

struct Measured {
  int status = -1;
  long peak_kib = 0;
  nlohmann::json doc;
};

/// Runs `clsync ARGS --json` with stdout to `out` and stderr to `out`.err; its exit status, own
/// peak RSS and document.
Measured run_measured(const std::string& args, const fs::path& out)
{
  const auto run = run_with_peak_rss(args + " --json >" + quoted(out) + " 2>" +
                                         quoted(fs::path(out.string() + ".err")),
                                     fs::path(out.string() + ".peak-rss"));
  Measured m;
  m.status = run.status;
  m.peak_kib = run.peak_rss_kib;
  m.doc = nlohmann::json::parse(read_file(out), nullptr, false);
  return m;
}

/// A cold sync of all of A into the cluster of `b_yaml` under --max-memory 32M: it completes,
/// copies every byte, and its peak RSS stays under the limit.
void check_bounded(const TmpfsDemo& d, const fs::path& b_yaml, const std::string& what)
{
  const Measured m =
      run_measured("--state-dir " + quoted(d.dir / ("state-" + what)) + " sync-online --from " +
                       quoted(d.a_yaml()) + " --to " + quoted(b_yaml) + " --max-memory " + k_limit,
                   d.dir / ("out-" + what));
  CHECK(m.status == 0);
  REQUIRE_MESSAGE(m.doc.is_object(), read_file(d.dir / ("out-" + what + ".err")));
  const std::uint64_t bytes = d.a_bytes();
  CHECK(m.doc["copied"] == 200);
  CHECK(m.doc["failed"] == 0);
  CHECK(m.doc["bytes"] == bytes);
  REQUIRE(bytes >= 6 * (static_cast<std::uint64_t>(k_limit_mib) << 20)); // data 6× the limit
  MESSAGE(what << ": peak RSS " << m.peak_kib / 1024 << " MiB for " << (bytes >> 20)
               << " MiB of chunks under --max-memory " << std::string(k_limit));
  CHECK(m.peak_kib > 0);
  CHECK(m.peak_kib < k_limit_mib * 1024);
}

} // namespace clsync::test::sync_memory

TEST_SUITE("sync_memory")
{
  using namespace clsync::test;
  using namespace clsync::test::sync_memory;

  TEST_CASE("into local nodes: the peak RSS of a sync of 200 MiB stays under --max-memory 32M")
  {
    TmpfsDemo d("sync-memory-local");
    check_bounded(d, d.dir / "demo/cluster-b.yaml", "local");
    // Every chunk of A is on two of B's nodes: 200 chunks × 2 replicas × 29 files, every byte.
    std::uint64_t files = 0;
    for (const auto& e : fs::recursive_directory_iterator(d.dir / "demo/b")) {
      files += e.is_regular_file() && e.path().extension() == ".col" ? 1 : 0;
    }
    CHECK(files == 200u * 2u * 29u);
    CHECK(TmpfsDemo::file_bytes(d.dir / "demo/b") == 2 * d.a_bytes());
  }

  TEST_CASE("into a node behind sshd: the peak RSS of a sync of 200 MiB, every byte relayed "
            "through clsync, stays under --max-memory 32M")
  {
    TmpfsDemo d("sync-memory-ssh");
    SshdHarness sshd(1, "sync-memory-ssh");
    const fs::path volume = d.dir / "b1/chunkData";
    fs::create_directories(volume);
    const fs::path b_yaml = d.dir / "b1.yaml";
    write_file(b_yaml, "cluster: demo-b\nreplication: 1\n" + sshd.topology_ssh_block() +
                           "  - name: B1\n    host: " + sshd.host(0).address +
                           "\n    port: " + std::to_string(sshd.host(0).port) +
                           "\n    volumes: [\"" + volume.string() +
                           "\"]\ndatabases:\n  Level1:\n    levels: [date, hash]\n"
                           "  Level1_TSDB:\n    levels: [date, hash]\n");
    check_bounded(d, b_yaml, "ssh");
    CHECK(TmpfsDemo::file_bytes(volume) == d.a_bytes());
  }

  TEST_CASE("a Release clsync loads no shared library of libssh, OpenSSL, yaml-cpp, zstd, "
            "spdlog, fmt or libstdc++ (cold starts: bench/README.md)")
  {
    // They are linked from Debian's static archives (CMakeLists.txt): with caches dropped, the
    // loader spent 22 ms of a 210 ms no-change sync round on them. What is left to load is
    // the C library and the GSSAPI libraries that libssh.a needs (no static Kerberos).
    std::string out;
    REQUIRE(clsync::test::run_command("ldd '" + clsync::test::rss_binary() + "' 2>&1", &out) == 0);
    for (const char* lib : {"libssh.so", "libcrypto.so", "libyaml-cpp", "libzstd", "libspdlog",
                            "libfmt", "libstdc++", "libz.so", "libarchive"}) {
      CHECK_MESSAGE(out.find(lib) == std::string::npos, lib << " in\n" << out);
    }
    CHECK_MESSAGE(out.find("libc.so") != std::string::npos, out);
  }
}
