// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/integration/rebalance_fixture.hpp"

#include "core/demo.hpp"
#include "core/cluster/inventory.hpp"
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <sys/stat.h>

namespace fs = std::filesystem;

namespace clsync::test {
namespace {

const fs::path& demo_template()
{
  static const fs::path t = [] {
    fs::path dir = scratch_dir("demo-template");
    core::DemoOptions o;
    o.dir = (dir / "demo").string();
    o.chunk_size = 4096;
    core::build_demo(o);
    return dir / "demo";
  }();
  return t;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to)
{
  for (std::size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) {
    s.replace(p, from.size(), to);
  }
  return s;
}

} // namespace

void RecordingEvents::task(const core::TaskEvent& t)
{
  std::lock_guard l(m);
  tasks.push_back(t);
}

void RecordingEvents::warning(const std::string& w)
{
  std::lock_guard l(m);
  warnings.push_back(w);
}

void RecordingEvents::progress(const core::Progress& p)
{
  if (p.stalled_s > max_stalled_s.load()) {
    max_stalled_s.store(p.stalled_s);
  }
  if (stop && stop_after_bytes > 0 && p.bytes_done >= stop_after_bytes) {
    stop->store(true);
  }
}

std::size_t RecordingEvents::count(const std::string& state)
{
  std::lock_guard l(m);
  return static_cast<std::size_t>(std::count_if(
      tasks.begin(), tasks.end(), [&](const core::TaskEvent& t) { return t.state == state; }));
}

DemoCopy::DemoCopy(const std::string& name)
{
  const fs::path& tmpl = demo_template();
  dir = scratch_dir(name);
  REQUIRE(run_command("cp -a '" + tmpl.string() + "' '" + dir.string() + "/demo'") == 0);
  dir /= "demo";
  yaml = dir / "cluster-a.yaml";
  // The copy's topology points at the copy's volumes.
  std::string text = read_file(yaml);
  write_file(yaml, replace_all(text, tmpl.string(), dir.string()));
  reload();
}

void DemoCopy::edit_yaml(const std::function<void(std::string&)>& edit)
{
  std::string text = read_file(yaml);
  edit(text);
  write_file(yaml, text);
  reload();
}

void DemoCopy::reload()
{
  topo = std::make_shared<core::Topology>(core::load_topology(yaml));
  nodes = std::make_shared<core::NodeSet>(*topo);
  ctx = core::Context{};
  ctx.topology = topo;
  ctx.nodes = nodes;
  ctx.events = &events;
  ctx.state_dir = dir / "state";
  ctx.stop_requested = &stop;
  events.stop = &stop;
}

core::Inventory DemoCopy::inventory(bool verify)
{
  core::InventoryOptions o;
  o.verify = verify;
  core::NullEvents quiet;
  return core::take_inventory(*topo, *nodes, o, quiet);
}

std::string DemoCopy::volume(const std::string& node, std::size_t i) const
{
  const auto* n = topo->find_node(node);
  REQUIRE(n != nullptr);
  REQUIRE(i < n->volumes.size());
  return n->volumes[i];
}

std::map<std::string, std::uint64_t> replicas_per_node(const core::Inventory& inv)
{
  std::map<std::string, std::uint64_t> m;
  for (const auto& n : inv.nodes) {
    m[n.name] = n.chunks;
  }
  return m;
}

std::map<std::string, std::string> content_by_chunk(const core::Inventory& inv)
{
  std::map<std::string, std::string> m;
  for (const auto& c : inv.chunks) {
    for (const auto& r : c.replicas) {
      CHECK_MESSAGE(!r.content_hash.empty(), c.key);
      auto [it, fresh] = m.try_emplace(c.key, r.content_hash);
      CHECK_MESSAGE(it->second == r.content_hash, (c.key + " differs on " + r.node));
    }
  }
  return m;
}

std::string tree_listing(const fs::path& root)
{
  std::vector<std::string> lines;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    struct stat st {};
    ::lstat(it->path().c_str(), &st);
    std::ostringstream l;
    l << it->path().string() << ' ' << (st.st_mode & 0170000) << ' ' << (st.st_mode & 07777) << ' '
      << (S_ISDIR(st.st_mode) ? 0 : st.st_size) << ' ' << st.st_mtim.tv_sec << '.'
      << st.st_mtim.tv_nsec;
    lines.push_back(l.str());
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) {
    out += l + '\n';
  }
  return out;
}

std::string first_difference(const std::string& a, const std::string& b)
{
  std::istringstream x(a), y(b);
  std::string lx, ly;
  for (;;) {
    bool gx = static_cast<bool>(std::getline(x, lx));
    bool gy = static_cast<bool>(std::getline(y, ly));
    if (!gx && !gy) {
      return {};
    }
    if (!gx || !gy || lx != ly) {
      return "before: " + (gx ? lx : "(end)") + "\nafter:  " + (gy ? ly : "(end)");
    }
  }
}

std::map<std::string, int> replicas_on_disk(const core::Topology& topo)
{
  std::map<std::string, std::set<std::string>> nodes_of;
  for (const auto& n : topo.nodes) {
    for (const auto& v : n.volumes) {
      // Chunks of the demo sit at <db>/<date>/<hash>/<table>: depth 4 under the volume.
      std::error_code ec;
      for (auto it = fs::recursive_directory_iterator(v, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        auto rel = it->path().lexically_relative(v).string();
        if (rel.rfind(".clsync", 0) == 0) {
          it.disable_recursion_pending();
          continue;
        }
        if (it.depth() == 3 && it->is_directory()) {
          nodes_of[rel].insert(n.name);
          it.disable_recursion_pending();
        }
      }
    }
  }
  std::map<std::string, int> m;
  for (const auto& [k, s] : nodes_of) {
    m[k] = static_cast<int>(s.size());
  }
  return m;
}

int run_clsync(const std::string& args, std::string* out, const std::string& env)
{
  return run_command(env + (env.empty() ? "" : " ") + CLSYNC_BINARY + std::string(" ") + args + "",
                     out);
}

core::ExecSettings settings_for(DemoCopy& d, const std::string& run_id)
{
  core::ExecSettings s;
  s.run = {run_id, "rebalance-nodes", d.topo->cluster};
  return s;
}

std::string volumes_listing(DemoCopy& d)
{
  std::istringstream all(tree_listing(d.dir / "a"));
  std::string out;
  for (std::string line; std::getline(all, line);) {
    bool root = false;
    for (const auto& n : d.topo->nodes) {
      for (const auto& v : n.volumes) {
        root = root || line.rfind(v + " ", 0) == 0;
      }
    }
    if (!root) {
      out += line + "\n";
    }
  }
  return out;
}

} // namespace clsync::test
