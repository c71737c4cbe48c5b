// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/plan_options.hpp"

#include "core/error.hpp"
#include "core/units.hpp"

#include <cstdlib>

namespace clsync::cli {

namespace {

void add_plan_file_options(CLI::App& sub, core::PlanOptions& p, const char* g)
{
  sub.add_option("--plan-out", p.plan_out, "save the plan to this file")->group(g);
  sub.add_option("--plan", p.plan_in, "run this saved plan (each move re-validated)")
      ->check(CLI::ExistingFile)
      ->group(g);
}

} // namespace

void add_placement_plan_options(CLI::App& sub, core::PlanOptions& p)
{
  const char* g = "Planning";
  sub.add_option("--by", p.by,
                 "least-loaded destination by bytes or by replica counts")
      ->check(CLI::IsMember({"bytes", "count"}))
      ->capture_default_str()
      ->group(g);
  add_plan_file_options(sub, p, g);
}

void add_plan_options(CLI::App& sub, core::PlanOptions& p, std::string& threshold_text)
{
  const char* g = "Planning";
  sub.add_option("--by", p.by, "balance bytes or replica counts")
      ->check(CLI::IsMember({"bytes", "count"}))
      ->capture_default_str()
      ->group(g);
  sub.add_option("--threshold", threshold_text,
                 "allowed deviation from a node's share: a size with --by bytes, replicas with "
                 "--by count (default: one average chunk)")
      ->group(g);
  sub.add_option("--min-age", p.min_age, "leave chunks modified more recently than this (7d, 12h)")
      ->group(g);
  add_plan_file_options(sub, p, g);
}

void parse_threshold(core::PlanOptions& p, const std::string& text)
{
  if (text.empty()) {
    return;
  }
  double v = 0;
  if (p.by == "count") {
    char* end = nullptr;
    v = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0') {
      v = -1;
    }
  } else {
    v = static_cast<double>(core::parse_size(text, "--threshold"));
  }
  if (!(v > 0)) {
    throw UsageError("--threshold: '" + text + "' is not a positive " +
                     (p.by == "count" ? "number of replicas" : "size"));
  }
  p.threshold = v;
}

} // namespace clsync::cli
