// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/integration/crash_sweep.hpp"

#include "tests/integration/rebalance_fixture.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <cerrno>
#include <cstring>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace clsync::test {
namespace {

/// FNV-1a, 64 bits: enough to tell a torn or changed copy from an exact one in a test.
struct SweepFnv {
  std::uint64_t h = 0xcbf29ce484222325ull;
  void add(const void* p, std::size_t n)
  {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) {
      h = (h ^ b[i]) * 0x100000001b3ull;
    }
  }
  void add_u64(std::uint64_t v) { add(&v, sizeof v); }
  void add_str(const std::string& s)
  {
    add_u64(s.size());
    add(s.data(), s.size());
  }
};

void digest_entry(SweepFnv& f, const fs::path& path, const std::string& rel)
{
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    f.add_str("vanished:" + rel);
    return;
  }
  f.add_str(rel);
  f.add_u64(st.st_mode);
  f.add_u64(st.st_uid);
  f.add_u64(st.st_gid);
  if (S_ISREG(st.st_mode)) {
    f.add_u64(static_cast<std::uint64_t>(st.st_size));
    f.add_u64(static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000000000ull +
              static_cast<std::uint64_t>(st.st_mtim.tv_nsec));
    std::ifstream in(path, std::ios::binary);
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      f.add(buf, static_cast<std::size_t>(in.gcount()));
    }
  } else if (S_ISLNK(st.st_mode)) {
    f.add_str(fs::read_symlink(path).string());
  }
}

std::uint64_t sweep_seed()
{
  if (const char* s = std::getenv("CLSYNC_TEST_SEED"); s && *s) {
    return std::strtoull(s, nullptr, 10);
  }
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<hours>(system_clock::now().time_since_epoch()).count() / 24);
}

std::string sweep_dir_name(std::string n)
{
  std::replace_if(n.begin(), n.end(), [](char c) { return c == ':' || c == '/' || c == ' '; }, '_');
  return n;
}

/// Kills one case at `site` (the environment or prefix that does it given), checks, reruns,
/// checks again. True when the run did die.
bool kill_one_site(const std::string& label,
                   const std::function<std::unique_ptr<CrashCase>(const std::string&)>& make,
                   const KillSite& site,
                   const std::string& killer_env,
                   const std::string& killer_prefix)
{
  const std::string what = label + " killed at " + site.label();
  auto c = make(sweep_dir_name(label + "-" + site.label()));
  const std::string run = c->env() + " " + killer_env + " " + killer_prefix + CLSYNC_BINARY +
                          std::string(" ") + c->command() + " >/dev/null 2>&1";
  const int rc = run_shell(run);
  const bool killed = rc == k_killed;
  if (killed) {
    c->check_after_kill(what);
  } else {
    // With several workers a point's arrival count can differ between runs: not reached now.
    CHECK_MESSAGE(rc == c->ok_status(), what, ": not killed, and exit ", rc);
  }
  const int again = run_shell(c->env() + " " + CLSYNC_BINARY + std::string(" ") + c->command() +
                              " >/dev/null 2>&1");
  CHECK_MESSAGE(again == c->ok_status(), what, ": the rerun exited ", again);
  c->check_converged(what + ", then rerun");
  return killed;
}

std::size_t count_sites(const std::map<std::string, int>& arrivals)
{
  std::size_t n = 0;
  for (const auto& [p, k] : arrivals) {
    n += static_cast<std::size_t>(k);
  }
  return n;
}

void print_count(const std::string& label, const SweepCount& n)
{
  MESSAGE("crash sweep ", label, ": ", n.points, " points, ", n.sites, " kill sites, ", n.swept,
          " swept (", full_sweep() ? "full" : "CI sample, seed " + std::to_string(sweep_seed()),
          "), ", n.killed, " killed");
}

/// Built once per process with the binary: the demo at 4 KiB chunks, cut down to the 30
/// chunks the sweeps use, and (on first need) a repository holding a backup of them.
const fs::path& sweep_template()
{
  static const fs::path t = [] {
    const fs::path dir = scratch_dir("crash-sweep-template") / "demo";
    REQUIRE(run_command(std::string(CLSYNC_BINARY) + " demo --chunk-size 4K --dir '" +
                        dir.string() + "' >/dev/null 2>&1") == 0);
    for (const char* n : {"P1-dn1", "P2-dn1", "P3-dn1"}) {
      const fs::path v = dir / "a" / n / "ssd0" / "chunkData";
      fs::remove_all(v / "Level1_TSDB");
      for (int day = 4; day <= 10; ++day) {
        fs::remove_all(v / "Level1" / ((day < 10 ? "2020060" : "202006") + std::to_string(day)));
      }
    }
    return dir;
  }();
  return t;
}

const fs::path& sweep_template_repo()
{
  static const fs::path r = [] {
    const fs::path t = sweep_template();
    REQUIRE(run_command(std::string(CLSYNC_BINARY) + " -c '" + (t / "cluster-a.yaml").string() +
                        "' --state-dir '" + (t / "state").string() + "' backup --to '" +
                        (t / "repo").string() + "' >/dev/null 2>&1") == 0);
    return t / "repo";
  }();
  return r;
}

} // namespace

std::string sweep_topology(const std::string& cluster, const std::vector<VolumesOfNode>& nodes)
{
  std::string y = "cluster: " + cluster + "\nreplication: 2\nnodes:\n";
  for (const auto& n : nodes) {
    y += "  - name: " + n.node + "\n    host: local\n    volumes: [";
    for (std::size_t i = 0; i < n.volumes.size(); ++i) {
      y += (i ? ", \"" : "\"") + n.volumes[i].string() + "\"";
    }
    y += "]\n";
  }
  return y + "databases:\n  Level1:\n    levels: [date, hash]\n"
             "  Level1_TSDB:\n    levels: [date, hash]\n";
}

SweepCluster::SweepCluster(const std::string& name, bool repo)
{
  const fs::path& tmpl = sweep_template();
  dir = scratch_dir(name);
  REQUIRE_MESSAGE(::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=128m") == 0,
                  "mounting a tmpfs at ", dir, " failed (tests run as root): ", std::strerror(errno));
  for (const char* n : {"P1-dn1", "P2-dn1", "P3-dn1"}) {
    a_vols.push_back({n, {dir / "a" / n / "ssd0" / "chunkData"}});
  }
  for (const char* n : {"B1", "B2", "B3"}) {
    b_vols.push_back({n, {dir / "b" / n / "ssd0" / "chunkData"}});
    fs::create_directories(b_vols.back().volumes[0]);
  }
  REQUIRE(run_command("cp -a '" + (tmpl / "a").string() + "' '" + dir.string() + "/'") == 0);
  if (repo) {
    REQUIRE(run_command("cp -a '" + sweep_template_repo().string() + "' '" + dir.string() +
                        "/repo'") == 0);
  }
  a_yaml = dir / "cluster-a.yaml";
  b_yaml = dir / "cluster-b.yaml";
  state = dir / "state";
  write_file(a_yaml, sweep_topology("demo-a", a_vols));
  write_file(b_yaml, sweep_topology("demo-b", b_vols));
}

SweepCluster::~SweepCluster()
{
  ::umount2(dir.c_str(), MNT_DETACH);
}

std::string SweepCluster::a_args() const
{
  return "-c '" + a_yaml.string() + "' --state-dir '" + state.string() + "' ";
}

std::vector<fs::path> SweepCluster::volumes() const
{
  std::vector<fs::path> v;
  for (const auto* side : {&a_vols, &b_vols}) {
    for (const auto& n : *side) {
      v.insert(v.end(), n.volumes.begin(), n.volumes.end());
    }
  }
  return v;
}

bool full_sweep()
{
  const char* f = std::getenv("CLSYNC_TEST_FULL");
  return f && std::string(f) == "1";
}

int run_shell(const std::string& shell_command, std::string* out)
{
  return run_command(shell_command, out);
}

std::map<std::string, int> read_fault_log(const fs::path& log)
{
  std::map<std::string, int> m;
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      ++m[line];
    }
  }
  return m;
}

std::vector<KillSite> choose_sites(const std::map<std::string, int>& arrivals, std::size_t budget)
{
  std::vector<KillSite> ends, middles;
  for (const auto& [point, count] : arrivals) {
    ends.push_back({point, 1});
    if (count > 1) {
      ends.push_back({point, count});
    }
    for (int n = 2; n < count; ++n) {
      middles.push_back({point, n});
    }
  }
  std::vector<KillSite> all = ends;
  all.insert(all.end(), middles.begin(), middles.end());
  if (full_sweep()) {
    return all;
  }
  std::mt19937_64 rng(sweep_seed());
  std::shuffle(ends.begin(), ends.end(), rng);
  std::shuffle(middles.begin(), middles.end(), rng);
  // One first arrival leads: it is reached whatever the threads do (a syscall's n-th call is
  // counted per thread, so a later site may not be reached in the killed run).
  auto first = std::find_if(ends.begin(), ends.end(), [](const KillSite& k) { return k.nth == 1; });
  if (first != ends.end()) {
    std::iter_swap(ends.begin(), first);
  }
  std::vector<KillSite> chosen = ends;
  chosen.insert(chosen.end(), middles.begin(), middles.end());
  if (chosen.size() > budget) {
    chosen.resize(budget);
  }
  return chosen;
}

std::string tree_digest(const fs::path& dir)
{
  std::vector<std::pair<std::string, fs::path>> entries;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    entries.emplace_back(it->path().lexically_relative(dir).string(), it->path());
  }
  std::sort(entries.begin(), entries.end());
  SweepFnv f;
  for (const auto& [rel, path] : entries) {
    digest_entry(f, path, rel);
  }
  std::ostringstream s;
  s << std::hex << f.h << "/" << entries.size();
  return s.str();
}

ReplicaMap walk_replicas(const std::vector<VolumesOfNode>& nodes, int depth)
{
  ReplicaMap m;
  for (const auto& n : nodes) {
    for (const auto& v : n.volumes) {
      std::error_code ec;
      for (auto it = fs::recursive_directory_iterator(v, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->path().filename().string().rfind(".clsync", 0) == 0) {
          it.disable_recursion_pending();
          continue;
        }
        if (it.depth() == depth - 1 && it->is_directory()) {
          m[it->path().lexically_relative(v).string()].push_back({n.node, tree_digest(it->path())});
          it.disable_recursion_pending();
        }
      }
    }
  }
  return m;
}

std::vector<std::string> crash_leftovers(const std::vector<fs::path>& roots)
{
  std::vector<std::string> found;
  for (const auto& r : roots) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(r, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      const bool partial = name.size() > 8 && name.compare(name.size() - 8, 8, ".partial") == 0;
      if (name.rfind(".clsync-", 0) == 0 || partial) {
        found.push_back(it->path().string());
      }
    }
  }
  return found;
}

std::vector<std::string> replica_losses(const ReplicaMap& before,
                                        const ReplicaMap& after,
                                        const std::map<std::string, std::string>& allowed)
{
  std::vector<std::string> problems;
  for (const auto& [key, reps] : before) {
    std::set<std::string> old_digests, nodes_before, nodes_after;
    for (const auto& r : reps) {
      old_digests.insert(r.digest);
      nodes_before.insert(r.node);
    }
    auto it = after.find(key);
    if (it != after.end()) {
      for (const auto& r : it->second) {
        auto a = allowed.find(key);
        const bool asked = a != allowed.end() && a->second == r.digest;
        if (old_digests.count(r.digest) || asked) {
          nodes_after.insert(r.node);
        } else {
          problems.push_back(key + " on " + r.node + ": content changed");
        }
      }
    }
    if (nodes_after.size() < nodes_before.size()) {
      problems.push_back(key + ": " + std::to_string(nodes_after.size()) + " intact replica(s), " +
                         std::to_string(nodes_before.size()) + " before");
    }
  }
  return problems;
}

std::vector<std::string> snapshot_ids(const fs::path& repo)
{
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(repo / "snapshots", ec)) {
    const auto name = e.path().filename().string();
    if (e.path().extension() == ".json" && name[0] != '.') {
      ids.push_back(e.path().stem().string());
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::string> repository_problems(const fs::path& repo, std::size_t* objects_named)
{
  std::vector<std::string> problems;
  std::set<std::string> checked;
  struct ObjectToHash {
    std::string object, file, sha256;
  };
  std::vector<ObjectToHash> to_hash;
  for (const auto& id : snapshot_ids(repo)) {
    nlohmann::json snap;
    try {
      snap = nlohmann::json::parse(read_file(repo / "snapshots" / (id + ".json")));
    } catch (const std::exception& e) {
      problems.push_back("snapshot " + id + ": unreadable: " + e.what());
      continue;
    }
    for (const auto& c : snap.at("chunks")) {
      const std::string object = c.at("object");
      if (!checked.insert(object).second) {
        continue;
      }
      const fs::path file = repo / "objects" / object.substr(0, 2) / (object + ".tar.zst");
      std::error_code ec;
      const auto size = fs::file_size(file, ec);
      if (ec) {
        problems.push_back("snapshot " + id + " names missing object " + object);
        continue;
      }
      if (size != c.at("object_size").get<std::uint64_t>()) {
        problems.push_back("object " + object + ": " + std::to_string(size) + " bytes");
        continue;
      }
      to_hash.push_back({object, file.string(), c.at("object_sha256").get<std::string>()});
    }
  }
  // sha256sum over many objects at once (a line each, in argument order): a process per object
  // was a good part of the crash sweeps' time under ASan.
  constexpr std::size_t k_batch = 200;
  for (std::size_t at = 0; at < to_hash.size(); at += k_batch) {
    const std::size_t end = std::min(to_hash.size(), at + k_batch);
    std::string cmd = "sha256sum";
    for (std::size_t i = at; i < end; ++i) {
      cmd += " '" + to_hash[i].file + "'";
    }
    std::string out;
    run_command(cmd, &out);
    std::istringstream lines(out);
    for (std::size_t i = at; i < end; ++i) {
      std::string line;
      std::getline(lines, line);
      if (line.substr(0, 64) != to_hash[i].sha256) {
        problems.push_back("object " + to_hash[i].object + ": SHA-256 " + line.substr(0, 64));
      }
    }
  }
  if (objects_named) {
    *objects_named = checked.size();
  }
  return problems;
}

bool kill_at_site(const std::string& label,
                  const std::function<std::unique_ptr<CrashCase>(const std::string&)>& make,
                  const KillSite& site)
{
  return kill_one_site(label, make, site, "CLSYNC_TEST_CRASH_AT=" + site.label(), "");
}

SweepCount sweep_fault_points(
    const std::string& label,
    const std::function<std::unique_ptr<CrashCase>(const std::string&)>& make,
    std::size_t budget)
{
  SweepCount n;
  const fs::path log = scratch_dir(sweep_dir_name(label + "-faultlog")) / "points.log";
  {
    auto clean = make(sweep_dir_name(label + "-clean"));
    const int rc = run_shell(clean->env() + " CLSYNC_TEST_FAULT_LOG='" + log.string() + "' " +
                             CLSYNC_BINARY + " " + clean->command() + " >/dev/null 2>&1");
    REQUIRE_MESSAGE(rc == clean->ok_status(), label, ": the clean run exited ", rc);
    clean->check_converged(label + ": the clean run");
  }
  const auto arrivals = read_fault_log(log);
  REQUIRE_MESSAGE(!arrivals.empty(), label, ": the clean run reached no fault point");
  n.points = arrivals.size();
  n.sites = count_sites(arrivals);
  for (const auto& site : choose_sites(arrivals, budget)) {
    ++n.swept;
    n.killed += kill_one_site(label, make, site, "CLSYNC_TEST_CRASH_AT=" + site.label(), "") ? 1 : 0;
  }
  print_count(label, n);
  CHECK(n.killed > 0);
  return n;
}

SweepCount sweep_syscalls(const std::string& label,
                          const std::function<std::unique_ptr<CrashCase>(const std::string&)>& make,
                          const std::vector<std::string>& syscalls,
                          std::size_t budget)
{
  SweepCount n;
  std::string list;
  for (const auto& s : syscalls) {
    list += (list.empty() ? "" : ",") + s;
  }
  const fs::path trace = scratch_dir(sweep_dir_name(label + "-trace")) / "calls.txt";
  {
    auto clean = make(sweep_dir_name(label + "-clean"));
    const int rc = run_shell(clean->env() + " strace -f -qq -o '" + trace.string() +
                             "' -e trace=" + list + " " + CLSYNC_BINARY + " " + clean->command() +
                             " >/dev/null 2>&1");
    REQUIRE_MESSAGE(rc == clean->ok_status(), label, ": the clean run under strace exited ", rc);
    clean->check_converged(label + ": the clean run");
  }
  // Counted per thread, as strace's when= counts: the most any one thread made.
  std::map<std::string, std::map<std::string, int>> per_thread;
  std::ifstream in(trace);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string pid, call;
    ls >> pid >> call;
    call = call.substr(0, call.find('('));
    if (std::find(syscalls.begin(), syscalls.end(), call) != syscalls.end()) {
      ++per_thread[call][pid];
    }
  }
  std::map<std::string, int> arrivals;
  for (const auto& [call, threads] : per_thread) {
    for (const auto& [pid, k] : threads) {
      arrivals["syscall:" + call] = std::max(arrivals["syscall:" + call], k);
    }
  }
  REQUIRE_MESSAGE(!arrivals.empty(), label, ": the clean run made none of ", list);
  n.points = arrivals.size();
  n.sites = count_sites(arrivals);
  for (const auto& site : choose_sites(arrivals, budget)) {
    ++n.swept;
    const std::string call = site.point.substr(8);
    const std::string prefix = "strace -f -qq -o /dev/null -e trace=" + call + " -e inject=" +
                               call + ":signal=SIGKILL:when=" + std::to_string(site.nth) + " ";
    n.killed += kill_one_site(label, make, site, "", prefix) ? 1 : 0;
  }
  print_count(label, n);
  CHECK(n.killed > 0);
  return n;
}

} // namespace clsync::test
