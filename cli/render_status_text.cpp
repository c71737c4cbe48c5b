// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/render_status.hpp"
#include "cli/text_table.hpp"

#include <algorithm>
#include <map>

namespace clsync::cli {
namespace {

using Align = TextTable::Align;

// Long lists in the human report stop here; --json and --chunks show everything.
constexpr std::size_t k_max_listed = 50;

std::string used_pct(std::uint64_t capacity, std::uint64_t free)
{
  if (capacity == 0) {
    return "-";
  }
  double used = static_cast<double>(capacity - std::min(free, capacity));
  return percent(used / static_cast<double>(capacity) * 100.0);
}

std::string nodes_table(const core::Inventory& inv)
{
  // The STATE column appears only when some node or volume has something to say.
  bool any_state = false;
  for (const auto& n : inv.nodes) {
    any_state = any_state || !n.reachable ||
                std::any_of(n.volumes.begin(), n.volumes.end(),
                            [](const core::VolumeState& v) { return !v.ok; });
  }
  TextTable t;
  t.column("NODE")
      .column("HOST")
      .column("VOLUME")
      .column("CHUNKS", Align::right)
      .column("BYTES", Align::right)
      .column("CAPACITY", Align::right)
      .column("FREE", Align::right)
      .column("USED", Align::right);
  if (any_state) {
    t.column("STATE");
  }
  for (const auto& n : inv.nodes) {
    if (!n.reachable) {
      t.add_row({n.name, n.host, n.volumes.size() == 1 ? n.volumes[0].path : "", "-", "-", "-",
                 "-", "-", n.excluded ? "excluded" : "UNREACHABLE"});
      continue;
    }
    auto volume_row = [](const core::VolumeState& v, std::string node, std::string host) {
      if (!v.ok) {
        return std::vector<std::string>{node, host, v.path, "-", "-", "-", "-", "-",
                                        "UNREADABLE"};
      }
      return std::vector<std::string>{node,
                                      host,
                                      v.path,
                                      std::to_string(v.chunks),
                                      human_size(v.bytes),
                                      human_size(v.capacity_bytes),
                                      human_size(v.free_bytes),
                                      used_pct(v.capacity_bytes, v.free_bytes)};
    };
    if (n.volumes.size() == 1) {
      auto row = volume_row(n.volumes[0], n.name, n.host);
      if (n.volumes[0].ok) {
        row[3] = std::to_string(n.chunks);  // the node's count (also replicas on odd volumes)
        row[4] = human_size(n.bytes);
      }
      t.add_row(row);
      continue;
    }
    t.add_row({n.name, n.host, "(" + std::to_string(n.volumes.size()) + " volumes)",
               std::to_string(n.chunks), human_size(n.bytes), human_size(n.capacity_bytes),
               human_size(n.free_bytes), used_pct(n.capacity_bytes, n.free_bytes)});
    for (const auto& v : n.volumes) {
      t.add_row(volume_row(v, "", ""));
    }
  }
  return t.render();
}

std::string health_line(const core::HealthCounts& h)
{
  std::string s = "health: " + std::to_string(h.chunks) + " chunks, " + std::to_string(h.healthy) +
                  " healthy";
  for (auto [count, name] :
       {std::pair{h.under_replicated, "under-replicated"},
        std::pair{h.over_replicated, "over-replicated"},
        std::pair{h.duplicate_on_node, "duplicate on a node"}, std::pair{h.divergent, "divergent"},
        std::pair{h.zone_unsafe, "zone-unsafe"}}) {
    s += ", " + std::to_string(count) + " " + name;
  }
  return s + "\n";
}

std::string balance_section(const core::Balance& b)
{
  if (b.nodes.empty()) {
    return {};
  }
  TextTable t;
  t.column("NODE")
      .column("SHARE", Align::right)
      .column("CHUNKS", Align::right)
      .column("TARGET", Align::right)
      .column("DEV", Align::right)
      .column("BYTES", Align::right)
      .column("TARGET", Align::right)
      .column("DEV", Align::right);
  for (const auto& n : b.nodes) {
    t.add_row({n.node, percent(n.share * 100.0), std::to_string(n.chunks),
               decimal(n.target_chunks), percent(n.chunks_deviation_pct, true),
               human_size(n.bytes), human_size(static_cast<std::uint64_t>(n.target_bytes)),
               percent(n.bytes_deviation_pct, true)});
  }
  std::string s = "\nBalance (shares by " + b.shares + "):\n" + t.render();
  s += "spread: chunks " + decimal(b.chunks.min) + ".." + decimal(b.chunks.max) + " (mean " +
       decimal(b.chunks.mean) + ", max deviation " + percent(b.chunks.max_deviation_pct) +
       "); bytes " + human_size(static_cast<std::uint64_t>(b.bytes.min)) + ".." +
       human_size(static_cast<std::uint64_t>(b.bytes.max)) + " (mean " +
       human_size(static_cast<std::uint64_t>(b.bytes.mean)) + ", max deviation " +
       percent(b.bytes.max_deviation_pct) + ")\n";
  return s;
}

std::string groups_section(const core::StatusResult& r, const std::string& by)
{
  TextTable t;
  std::vector<std::string> node_names;
  if (by == "volume") {
    t.column("NODE").column("VOLUME");
  } else {
    t.column(by == "db" ? "DB" : "TABLE");
    for (const auto& n : r.inventory.nodes) {
      node_names.push_back(n.name);
    }
  }
  t.column("CHUNKS", Align::right).column("REPLICAS", Align::right).column("BYTES", Align::right);
  for (const auto& name : node_names) {
    t.column(name, Align::right);
  }
  for (const auto& g : r.groups) {
    std::vector<std::string> row;
    if (by == "volume") {
      row = {g.node, g.volume};
    } else {
      row = {g.name};
    }
    row.push_back(std::to_string(g.chunks));
    row.push_back(std::to_string(g.replicas));
    row.push_back(human_size(g.bytes));
    for (const auto& name : node_names) {
      auto it = g.per_node.find(name);
      row.push_back(it == g.per_node.end() ? "0" : std::to_string(it->second.replicas));
    }
    t.add_row(row);
  }
  std::string title = by == "volume" ? "volume" : by;
  if (t.empty()) {
    return "\nBy " + title + ": no chunks\n";
  }
  return "\nBy " + title + (by == "volume" ? "" : " (replicas per node)") + ":\n" + t.render();
}

/// "P1-dn1" for a node with one volume, "P1-dn1:/ssd1" otherwise; duplicates and special
/// files marked.
std::string replicas_cell(const core::Chunk& c, const core::Inventory& inv)
{
  std::string s;
  for (const auto& r : c.replicas) {
    const core::NodeState* n = inv.node(r.node);
    std::string place = n && n->volumes.size() == 1 && n->volumes[0].path == r.volume
                            ? r.node.str()
                            : r.node + ":" + r.volume;
    if (r.duplicate) {
      place += "(duplicate)";
    }
    if (r.has_special) {
      place += "(special files)";
    }
    s += (s.empty() ? "" : " ") + place;
  }
  return s.empty() ? "-" : s;
}

std::string issues_cell(const core::Chunk& c)
{
  if (c.issues.empty()) {
    return "healthy";
  }
  std::string s;
  for (auto h : c.issues) {
    s += (s.empty() ? "" : ",") + std::string(core::to_string(h));
  }
  return s;
}

std::string chunk_rows(const core::Inventory& inv,
                       const std::vector<const core::Chunk*>& chunks,
                       std::size_t limit)
{
  TextTable t;
  t.column("CHUNK")
      .column("BYTES", Align::right)
      .column("REPLICAS", Align::right)
      .column("HEALTH")
      .column("WHERE");
  for (std::size_t i = 0; i < chunks.size() && i < limit; ++i) {
    const core::Chunk& c = *chunks[i];
    t.add_row({c.key, human_size(c.bytes),
               std::to_string(c.replica_count()) + "/" + std::to_string(c.replication),
               issues_cell(c), replicas_cell(c, inv)});
  }
  std::string s = t.render();
  if (chunks.size() > limit) {
    s += "… and " + std::to_string(chunks.size() - limit) + " more (see --json)\n";
  }
  return s;
}

std::string inventory_sections(const core::Inventory& inv)
{
  std::string s;
  if (!inv.unmanaged.empty()) {
    TextTable t;
    t.column("NODE").column("VOLUME").column("PATH").column("FILES", Align::right).column(
        "BYTES", Align::right);
    for (const auto& [node, u] : inv.unmanaged) {
      t.add_row({node, u.volume, u.path, std::to_string(u.files), human_size(u.bytes)});
    }
    s += "\nUnmanaged directories (not in a declared database; left alone):\n" + t.render();
  }
  if (!inv.leftovers.empty()) {
    TextTable t;
    t.column("NODE").column("VOLUME").column("NAME").column("KIND").column("TASK");
    for (const auto& [node, l] : inv.leftovers) {
      t.add_row({node, l.volume, l.name, l.kind, l.task});
    }
    s += "\nLeftovers of clsync runs (recovered by the next writing run):\n" + t.render();
  }
  if (!inv.problems.empty()) {
    s += "\nProblems:\n";
    for (const auto& [node, message] : inv.problems) {
      s += "  " + node + ": " + quote_name(message) + "\n";
    }
  }
  return s;
}

} // namespace

std::string render_status_text(const core::StatusResult& r, const core::StatusOptions& opts)
{
  const core::Inventory& inv = r.inventory;
  std::string s = "cluster " + r.cluster + ", replication " + std::to_string(r.replication);
  if (r.filtered) {
    s += " (filtered: counts cover the matching chunks only)";
  }
  s += "\n\n" + nodes_table(inv) + "\n" + health_line(inv.health);
  s += balance_section(r.balance);
  if (!opts.by.empty()) {
    s += groups_section(r, opts.by);
  }
  if (opts.chunks) {
    std::vector<const core::Chunk*> all;
    for (const auto& c : inv.chunks) {
      all.push_back(&c);
    }
    s += "\nChunks:\n" + (all.empty() ? std::string("  none\n") : chunk_rows(inv, all, all.size()));
  }
  if (!r.unhealthy.empty()) {
    std::vector<const core::Chunk*> bad;
    for (auto i : r.unhealthy) {
      bad.push_back(&inv.chunks[i]);
    }
    s += "\nUnhealthy chunks (" + std::to_string(bad.size()) + "):\n" +
         chunk_rows(inv, bad, opts.chunks ? bad.size() : k_max_listed);
  }
  std::string unreachable;
  for (const auto& n : inv.nodes) {
    if (!n.reachable) {
      unreachable += "  " + n.name + " (" + n.host + "): " + n.error + "\n";
    }
  }
  if (!unreachable.empty()) {
    s += "\nUnreachable nodes (not counted above; their replicas are missing from health):\n" +
         unreachable;
  }
  s += inventory_sections(inv);
  return s;
}

} // namespace clsync::cli
