// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/size_options.hpp"
#include "core/demo.hpp"
#include "core/json_names.hpp"
#include "core/units.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

namespace clsync::cli {

namespace {

std::string render_text(const core::DemoResult& r)
{
  std::string out = "Built the clsync demo in " + r.dir + ":\n";
  std::size_t width = 0;
  for (const auto& c : r.clusters) {
    width = std::max(width, c.file.size());
  }
  for (const auto& c : r.clusters) {
    char line[512];
    std::snprintf(line, sizeof line, "  %-7s %-*s  %d nodes  %4llu chunks  %4llu replicas  %s\n",
                  c.name.c_str(), static_cast<int>(width), c.file.c_str(), c.nodes,
                  static_cast<unsigned long long>(c.chunks),
                  static_cast<unsigned long long>(c.replicas), core::format_size(c.bytes).c_str());
    out += line;
  }
  out += "\ndemo-a is the seed's cluster: P1-dn1 and P2-dn1 hold every chunk of Level1 and\n"
         "Level1_TSDB (10 dates x 10 hash buckets, table Snapshot, 29 column files each);\n"
         "P3-dn1 is the node just added, still empty. demo-b is an empty second cluster.\n"
         "\nTry next:\n";
  for (const auto& cmd : r.next) {
    out += "  " + cmd + "\n";
  }
  return out;
}

nlohmann::json render_json(const core::DemoResult& r, const core::DemoOptions& opts)
{
  nlohmann::json clusters = nlohmann::json::array();
  for (const auto& c : r.clusters) {
    clusters.push_back({{"name", c.name},
                        {"file", c.file},
                        {"nodes", c.nodes},
                        {"chunks", c.chunks},
                        {"replicas", c.replicas},
                        {"bytes", c.bytes}});
  }
  return {{"dir", r.dir},      {"chunk_size", opts.chunk_size}, {"skew", opts.skew},
          {"seed", opts.seed}, {"clusters", clusters},          {"next", r.next}};
}

} // namespace

Command make_demo(CLI::App& app)
{
  auto opts = std::make_shared<core::DemoOptions>();
  auto* sub = app.add_subcommand("demo", "Build local demo clusters that replay the seed scenario");
  sub->footer(k_exit_status_help);
  sub->add_option("--dir", opts->dir, "folder to build the demo in (new or empty)")
      ->type_name("DIR")
      ->required();
  sub->add_option("--chunk-size", opts->chunk_size, "bytes per chunk, e.g. 16K, 8M")
      ->transform(size_transform())
      ->type_name("SIZE")
      ->default_str("16K");
  sub->add_option("--skew", opts->skew, "vary chunk sizes by up to ±F (0 to 0.9)")
      ->type_name("F")
      ->capture_default_str();
  sub->add_flag("--force", opts->force, "replace a previous demo in --dir");
  sub->add_option("--seed", opts->seed, "seed of the pseudo-random contents")
      ->capture_default_str();
  sub->add_flag("--new-disks", opts->new_disks,
                "declare an empty second volume on P1-dn1 and P2-dn1 (disk rebalancing)");
  return {sub, Needs::nothing,
          [opts](core::Context& ctx, const GlobalOptions& global, std::ostream& out) {
            const core::DemoResult r = core::build_demo(*opts, ctx.events, ctx.stop_requested);
            if (global.json) {
              out << core::dump_json(render_json(r, *opts), 2) << '\n';
            } else {
              out << render_text(r);
            }
            return ExitCode::ok;
          }};
}

} // namespace clsync::cli
