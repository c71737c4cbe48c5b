// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// Internal to the topology loader: typed, position-aware reads of a yaml-cpp tree. Every failure
/// throws TopologyError "FILE:LINE:COL: what; expected …".
namespace clsync::core::yaml {

/// One `key: value` of a mapping, both nodes kept for their positions.
struct Field {
  YAML::Node key;
  YAML::Node value;
  /// Where to point at when the value is wrong: the value, or the key when the value is empty
  /// (yaml-cpp places an empty value at the next token, often on the next line).
  YAML::Mark mark() const;
};

/// Reads YAML nodes of one file and reports errors against it.
class Reader {
public:
  explicit Reader(std::string file) : m_file(std::move(file)) {}

  const std::string& file() const { return m_file; }

  /// Throws TopologyError "FILE:LINE:COL: what" (1-based; 1:1 when yaml-cpp has no position).
  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& what) const;

  /// The fields of `map`, which must be a mapping (else "expected `expected`"). Keys must be
  /// plain scalars, each at most once, and one of `allowed` (else an error with a "did you
  /// mean"); `where` names the mapping in messages ("at the top level", "in node 'P1-dn1'").
  /// An empty `allowed` accepts any key.
  std::map<std::string, Field> fields(const YAML::Node& map,
                                      const YAML::Mark& fallback,
                                      std::string_view where,
                                      std::string_view expected,
                                      const std::vector<std::string>& allowed) const;

  /// A non-empty string scalar.
  std::string text(const Field& f, std::string_view name) const;

  /// A decimal integer scalar in [lo, hi]; `expected` describes the range in the message.
  long long integer(const Field& f,
                    std::string_view name,
                    long long lo,
                    long long hi,
                    std::string_view expected) const;

  /// A finite number scalar.
  double number(const Field& f, std::string_view name) const;

  /// A sequence (flow or block), each element a non-empty string scalar; the elements' nodes in
  /// `items` for their positions.
  std::vector<std::string> strings(const Field& f,
                                   std::string_view name,
                                   std::string_view expected,
                                   std::vector<YAML::Node>* items = nullptr) const;

private:
  std::string m_file;
};

/// Largest topology file read (a 1,000-node cluster takes about 200 KiB).
inline constexpr std::size_t k_max_topology_bytes = 1u << 20;
/// Deepest nesting of flow collections (`[`, `{`) accepted; a topology needs 3.
inline constexpr int k_max_flow_depth = 32;
/// Most YAML values (scalars, aliases, collections) in one file; a node takes about 10.
inline constexpr long k_max_yaml_values = 100000;

/// Refuses, before yaml-cpp builds a tree, text that would cost it unbounded time or memory:
/// flow collections nested deeper than k_max_flow_depth (yaml-cpp's scanner looks ahead over
/// the whole nest: 1 MiB of '[' costs seconds and 250 MB) and more than k_max_yaml_values
/// values (a tree costs about 250 bytes per value: 16 MiB of "1," cost 3.5 GB). Aliases count
/// once and are never expanded, so an alias bomb costs what its text does. Throws
/// TopologyError "FILE:LINE:COL: …" through `r`; malformed YAML is left to the real parse.
void check_yaml_limits(const Reader& r, std::string_view text);
/// The first YAML document of a file, and where a second one starts (if there is one).
struct Documents {
  YAML::Node first;
  std::optional<YAML::Mark> second;
};

/// Parses `text` as `r`'s file. yaml-cpp 0.7's LoadAll never returns on some malformed input: a
/// stray ',' outside a flow collection yields an empty document that consumes nothing, forever,
/// allocating (jbeder/yaml-cpp#1040, fixed after 0.8). So documents are counted by a parser that
/// stops after the second, and a document that consumes no input is malformed YAML. Throws
/// TopologyError for malformed YAML.
Documents load_documents(const Reader& r, const std::string& text);

/// How a node reads in a message: "'two'", "a list", "a mapping", "nothing".
std::string describe(const YAML::Node& node);

} // namespace clsync::core::yaml
