// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/demo.hpp"

#include "core/demo_writer.hpp"
#include "core/error.hpp"
#include "core/events.hpp"
#include "core/cluster/topology.hpp"
#include "core/units.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sys/statvfs.h>
#include <system_error>
#include <thread>

namespace clsync::core {

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> k_databases{"Level1", "Level1_TSDB"};
const std::vector<std::string> k_nodes_a{"P1-dn1", "P2-dn1", "P3-dn1"};
const std::vector<std::string> k_nodes_b{"B1", "B2", "B3"};
constexpr std::size_t k_holders = 2; // P1-dn1 and P2-dn1 hold every chunk; P3-dn1 was just added
constexpr int k_first_day = 1, k_last_day = 10; // 2020.06.01 to 2020.06.10
constexpr int k_hash_buckets = 10;

std::string volume_of(const fs::path& dir,
                      const char* cluster,
                      const std::string& node,
                      const char* disk = "ssd0")
{
  return (dir / cluster / node / disk / "chunkData").string();
}

/// A YAML double-quoted scalar: any path survives.
std::string yaml_quote(const std::string& s)
{
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

/// A word the shell reads back as `s`.
std::string shell_quote(const std::string& s)
{
  const bool plain =
      !s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                        "qrstuvwxyz0123456789_./:+,=@%-") == std::string::npos;
  if (plain) {
    return s;
  }
  std::string out = "'";
  for (char c : s) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

std::string topology_text(const char* cluster,
                          const char* comment,
                          const fs::path& dir,
                          const char* sub,
                          const std::vector<std::string>& nodes,
                          const std::vector<std::string>& with_new_disk = {})
{
  std::string y = std::string("# Written by `clsync demo`. ") + comment + "\n";
  y += std::string("cluster: ") + cluster + "\nreplication: 2\nnodes:\n";
  for (const auto& n : nodes) {
    y += "  - name: " + n + "\n    host: local\n    volumes: [" + yaml_quote(volume_of(dir, sub, n));
    if (std::find(with_new_disk.begin(), with_new_disk.end(), n) != with_new_disk.end()) {
      y += ", " + yaml_quote(volume_of(dir, sub, n, "ssd1"));
    }
    y += "]\n";
  }
  y += "databases:\n";
  for (const auto& db : k_databases) {
    y += "  " + db + ":\n    levels: [date, hash]\n";
  }
  return y;
}

void write_text(const fs::path& path, const std::string& text)
{
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    throw std::system_error(errno, std::generic_category(), "cannot write " + path.string());
  }
}

/// Makes `dir` ready: created if missing; refused if it holds anything but a previous demo,
/// which --force removes.
void prepare_dir(const fs::path& dir, bool force)
{
  std::error_code ec;
  const auto st = fs::symlink_status(dir, ec);
  if (!fs::exists(st)) {
    fs::create_directories(dir, ec);
    if (ec) {
      throw UsageError("--dir " + dir.string() + ": cannot create: " + ec.message());
    }
    return;
  }
  if (!fs::is_directory(fs::status(dir, ec))) {
    throw UsageError("--dir " + dir.string() + " is not a directory",
                     "choose a new or empty directory");
  }
  std::vector<fs::path> ours;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const bool demo_file = (name.rfind("cluster-", 0) == 0 && name.size() > 13 &&
                            name.compare(name.size() - 5, 5, ".yaml") == 0) ||
                           name == "a" || name == "b";
    if (!force) {
      throw UsageError("--dir " + dir.string() + " is not empty",
                       "choose an empty directory, or pass --force to rebuild a demo there");
    }
    if (!demo_file) {
      // --force replaces a demo, never someone's other files.
      throw UsageError("--dir " + dir.string() + " holds '" + name +
                           "', which clsync demo did not create; nothing was removed",
                       "choose an empty directory");
    }
    ours.push_back(entry.path());
  }
  for (const auto& p : ours) {
    fs::remove_all(p, ec);
    if (ec) {
      throw std::system_error(ec, "cannot remove " + p.string());
    }
  }
}

timespec chunk_mtime(int day, int hash, const std::string& key, std::uint64_t seed)
{
  // The end of the chunk's trading day (UTC), plus a per-chunk offset with nanoseconds, so
  // that fingerprints see distinct, sub-second mtimes.
  const std::int64_t days_since_epoch = 18414 + (day - 1); // 2020-06-01
  timespec t{};
  t.tv_sec = days_since_epoch * 86400 + 15 * 3600 + hash * 60;
  t.tv_nsec = static_cast<long>(demo_hash(seed, key) % 1000000000ull);
  return t;
}

} // namespace

const std::vector<std::string>& demo_columns()
{
  static const std::vector<std::string> k_columns{
      "SecurityID",   "DateTime",    "PreClosePx",   "OpenPx",       "HighPx",       "LowPx",
      "LastPx",       "Volume",      "Amount",       "BidPrice1",    "BidPrice2",    "BidPrice3",
      "BidPrice4",    "BidPrice5",   "BidOrderQty1", "BidOrderQty2", "BidOrderQty3", "BidOrderQty4",
      "BidOrderQty5", "OfferPrice1", "OfferPrice2",  "OfferPrice3",  "OfferPrice4",  "OfferPrice5",
      "OfferQty1",    "OfferQty2",   "OfferQty3",    "OfferQty4",    "OfferQty5"};
  return k_columns;
}

std::vector<std::string> demo_chunk_keys()
{
  std::vector<std::string> keys;
  for (const auto& db : k_databases) {
    for (int day = k_first_day; day <= k_last_day; ++day) {
      char date[16];
      std::snprintf(date, sizeof date, "202006%02d", day);
      for (int h = 0; h < k_hash_buckets; ++h) {
        keys.push_back(db + "/" + date + "/" + std::to_string(h) + "/Snapshot");
      }
    }
  }
  return keys;
}

std::uint64_t demo_chunk_size(const DemoOptions& opts, const std::string& key)
{
  if (opts.skew <= 0) {
    return opts.chunk_size;
  }
  // u in [-1, 1), from the seed and the key only: the same demo has the same sizes.
  const double u = static_cast<double>(demo_hash(opts.seed, key, "size") >> 11) * 0x1.0p-52 - 1.0;
  return static_cast<std::uint64_t>(
      std::llround(static_cast<double>(opts.chunk_size) * (1.0 + opts.skew * u)));
}

DemoResult build_demo(const DemoOptions& opts, Events* events, const std::atomic<bool>* stop)
{
  if (opts.dir.empty()) {
    throw UsageError("demo needs --dir DIR", "e.g. clsync demo --dir /tmp/clsync-demo");
  }
  if (!(opts.skew >= 0 && opts.skew <= 0.9)) {
    throw UsageError("--skew " + std::to_string(opts.skew) + ": expected a fraction from 0 to 0.9",
                     "e.g. --skew 0.5 varies chunk sizes by up to ±50%");
  }
  if (opts.chunk_size == 0 || opts.chunk_size > (std::uint64_t{1} << 40)) {
    throw UsageError("--chunk-size " + std::to_string(opts.chunk_size) +
                         ": expected from 1 byte to 1 TiB",
                     "e.g. --chunk-size 16K or --chunk-size 8M");
  }
  const fs::path dir = fs::absolute(fs::path(opts.dir)).lexically_normal();
  const fs::path clean = dir.string().size() > 1 && dir.string().back() == '/'
                             ? fs::path(dir.string().substr(0, dir.string().size() - 1))
                             : dir;
  prepare_dir(clean, opts.force);

  std::vector<DemoChunkJob> jobs;
  std::uint64_t replica_bytes = 0;
  for (const auto& key : demo_chunk_keys()) {
    DemoChunkJob job;
    job.key = key;
    job.bytes = demo_chunk_size(opts, key);
    const int day = std::stoi(key.substr(key.find('/') + 7, 2));
    const int hash = key[key.rfind('/') - 1] - '0';
    job.mtime = chunk_mtime(day, hash, key, opts.seed);
    for (std::size_t n = 0; n < k_holders; ++n) {
      job.roots.emplace_back(volume_of(clean, "a", k_nodes_a[n]));
    }
    replica_bytes += job.bytes * job.roots.size();
    jobs.push_back(std::move(job));
  }
  if (struct statvfs vfs{}; ::statvfs(clean.c_str(), &vfs) == 0) {
    const std::uint64_t avail = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    if (replica_bytes > avail) {
      throw UsageError("the demo needs " + format_size(replica_bytes) + " but " + clean.string() +
                           " has " + format_size(avail) + " free",
                       "choose a smaller --chunk-size or another --dir");
    }
  }

  const fs::path file_a = clean / "cluster-a.yaml";
  const fs::path file_b = clean / "cluster-b.yaml";
  // The seed's disk scenario (§5.1): a second, empty disk on each of the two full nodes.
  const std::vector<std::string> new_disks =
      opts.new_disks ? std::vector<std::string>{"P1-dn1", "P2-dn1"} : std::vector<std::string>{};
  write_text(file_a, topology_text("demo-a",
                                   "The seed scenario: P1-dn1 and P2-dn1 hold every chunk;\n"
                                   "# P3-dn1 is the node just added, still empty.",
                                   clean, "a", k_nodes_a, new_disks));
  write_text(file_b, topology_text("demo-b", "An empty second cluster (backup, restore, sync).",
                                   clean, "b", k_nodes_b));
  for (const auto& n : k_nodes_a) {
    fs::create_directories(volume_of(clean, "a", n));
  }
  for (const auto& n : new_disks) {
    fs::create_directories(volume_of(clean, "a", n, "ssd1"));
  }
  for (const auto& n : k_nodes_b) {
    fs::create_directories(volume_of(clean, "b", n));
  }
  // Read back: what demo writes must load, or it is a bug here.
  const Topology topo_a = load_topology(file_a);
  const Topology topo_b = load_topology(file_b);

  if (events) {
    events->phase("writing " + std::to_string(jobs.size() * k_holders) + " demo replicas (" +
                  format_size(replica_bytes) + ")");
  }
  const unsigned threads = std::clamp(std::thread::hardware_concurrency(), 2u, 4u);
  write_demo_chunks(jobs, demo_columns(), opts.seed, threads, events, stop);

  DemoResult r;
  r.dir = clean.string();
  r.clusters.push_back({topo_a.cluster, file_a.string(), static_cast<int>(topo_a.nodes.size()),
                        jobs.size(), jobs.size() * k_holders, replica_bytes});
  r.clusters.push_back(
      {topo_b.cluster, file_b.string(), static_cast<int>(topo_b.nodes.size()), 0, 0, 0});
  const std::string a = "clsync -c " + shell_quote(file_a.string()) + " ";
  const std::string b = "clsync -c " + shell_quote(file_b.string()) + " ";
  const std::string lost =
      shell_quote(volume_of(clean, "a", "P2-dn1") + "/Level1/20200601/0/Snapshot");
  if (opts.new_disks) {
    r.next = {
        a + "status --by volume",
        a + "rebalance-disks --all-nodes --dry-run",
        a + "rebalance-disks --all-nodes",
        a + "move-replicas --node P1-dn1 --from-volume " +
            shell_quote(volume_of(clean, "a", "P1-dn1", "ssd1")),
    };
  } else {
    r.next = {
        a + "status",
        a + "status --chunks --db Level1 --where 'date>=2020.06.09'",
        "rm -r " + lost + " && " + a + "repair",
        a + "rebalance-nodes --by count --dry-run",
        a + "rebalance-nodes --by count",
        a + "status --tasks",
        a + "move-replicas --from-node P3-dn1",
        "clsync demo --dir " + shell_quote(clean.string()) + " --force --new-disks",
    };
  }
  return r;
}

} // namespace clsync::core
