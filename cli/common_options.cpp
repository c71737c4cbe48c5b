// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/command.hpp"
#include "cli/size_options.hpp"
#include "core/units.hpp"

namespace clsync::cli {

namespace {

/// Wraps a core parser as a CLI11 transform; UsageError becomes CLI11's validation message.
template <typename Parse>
CLI::Validator make_transform(Parse parse)
{
  return CLI::Validator(
      [parse](std::string& value) -> std::string {
        try {
          value = std::to_string(parse(value));
          return {};
        } catch (const Error& e) {
          return std::string(e.what()) + (e.hint().empty() ? "" : "; " + e.hint());
        }
      },
      "");
}

} // namespace

CLI::Validator size_transform()
{
  return make_transform([](const std::string& v) { return core::parse_size(v); });
}

CLI::Validator rate_transform()
{
  return make_transform([](const std::string& v) { return core::parse_rate(v); });
}

CLI::Validator duration_transform()
{
  return make_transform([](const std::string& v) { return core::parse_duration(v).count(); });
}

void add_filter_options(CLI::App& sub, core::FilterOptions& f, bool with_columns)
{
  const char* g = "Filters";
  sub.add_option("--db", f.dbs, "only this database (repeatable)")->group(g);
  sub.add_option("--table", f.tables, "only this table (repeatable)")->group(g);
  sub.add_option("--partition", f.partitions, "partition path glob; '2020060*' selects those dates")->group(g);
  sub.add_option("--where", f.where, "'LEVEL OP VALUE', OP one of = != < <= > >= (repeatable, ANDed)")
      ->group(g);
  sub.add_option("--chunk", f.chunks, "this chunk key (repeatable)")->group(g);
  if (with_columns) {
    sub.add_option("--columns", f.columns, "only these column files (comma-separated)")
        ->delimiter(',')
        ->group(g);
  }
  sub.add_flag("--utc", f.utc, "today/yesterday in UTC instead of local time")->group(g);
}

void add_write_options(CLI::App& sub, core::WriteOptions& w)
{
  const char* g = "Execution";
  sub.add_flag("-n,--dry-run", w.dry_run, "print the plan and change nothing")->group(g);
  sub.add_option("--concurrency", w.concurrency, "tasks at once (default 2 x nodes)")->group(g);
  sub.add_option("--per-node", w.per_node,
                 "transfers at once touching one node (default 2, 8 on a local node)")
      ->check(CLI::Validator(
          [](std::string& v) {
            // 0 is the options' "not given" (2, or 8 on a local node), not a value to pass.
            return v.find_first_not_of("0123456789") == std::string::npos &&
                           v.find_first_not_of('0') != std::string::npos
                       ? std::string()
                       : std::string("must be 1 or more");
          },
          ""))
      ->group(g);
  sub.add_option("--bwlimit", w.bwlimit, "bytes per second over the run, e.g. 50M (0: none)")
      ->transform(rate_transform())
      ->type_name("RATE")
      ->group(g);
  sub.add_option("--bwlimit-per-node", w.bwlimit_per_node, "bytes per second per node, e.g. 20M")
      ->transform(rate_transform())
      ->type_name("RATE")
      ->group(g);
  sub.add_option("--max-bytes", w.max_bytes, "start no task after this many bytes, e.g. 500G")
      ->transform(size_transform())
      ->type_name("SIZE")
      ->group(g);
  sub.add_option("--until", w.until, "start no task after this time (HH:MM or RFC 3339)")->group(g);
  sub.add_option("--headroom", w.headroom, "free share kept on destinations")
      ->capture_default_str()
      ->group(g);
  sub.add_flag("--allow-degraded", w.allow_degraded, "run on a cluster with unhealthy chunks")
      ->group(g);
  sub.add_option("--exclude-node", w.exclude_nodes, "leave this node out (repeatable)")->group(g);
  sub.add_option("--lease-ttl", w.lease_ttl_s,
                 "this run's lease is stale once silent this long (recorded in it), e.g. 10m")
      ->transform(duration_transform())
      ->type_name("DURATION")
      ->default_str("10m")
      ->group(g);
  sub.add_flag("--break-lock", w.break_lock,
               "remove another run's lease first; refused while its pid lives on this host")
      ->group(g);
  sub.add_option("--pre-hook", w.pre_hook, "command run once before anything changes")->group(g);
  sub.add_option("--post-hook", w.post_hook, "command run once at the end")->group(g);
  sub.add_option("--on-move", w.on_move, "command run after each finished move")->group(g);
  sub.add_option("--hook-timeout", w.hook_timeout_s,
                 "kill a hook (and what it started) still running after this, e.g. 10m")
      ->transform(duration_transform())
      ->type_name("DURATION")
      ->default_str("10m")
      ->group(g);
  sub.add_option("--retries", w.retries, "tries of a task after transient errors")
      ->capture_default_str()
      ->group(g);
  sub.add_flag("--compress", w.compress, "zstd on the wire between nodes")->group(g);
  sub.add_option("--max-memory", w.max_memory, "buffers in flight, at least 16M, e.g. 256M")
      ->transform(size_transform())
      ->type_name("SIZE")
      ->default_str("256M")
      ->group(g);
}

void add_direct_option(CLI::App& sub, core::WriteOptions& w)
{
  sub.add_flag("--direct-only", w.direct_only,
               "fail a task between two `transfer: direct` nodes that cannot go direct, "
               "instead of relaying it")
      ->group("Execution");
}

} // namespace clsync::cli
