// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/json_names.hpp"
#include "core/plan/replica_planner.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

namespace clsync::core {

namespace {

struct VolumeRef {
  int node = -1;
  int volume = -1;
  const VolumeState* state = nullptr;
};

VolumeRef find_place(const Inventory& inv, const Place& p)
{
  for (std::size_t n = 0; n < inv.nodes.size(); ++n) {
    if (inv.nodes[n].name != p.node) {
      continue;
    }
    const auto& vols = inv.nodes[n].volumes;
    for (std::size_t v = 0; v < vols.size(); ++v) {
      if (vols[v].path == p.volume) {
        return {static_cast<int>(n), static_cast<int>(v), &vols[v]};
      }
    }
    return {static_cast<int>(n), -1, nullptr};
  }
  return {};
}

bool same_filesystem(const VolumeRef& a, const VolumeRef& b)
{
  if (a.state == nullptr || b.state == nullptr || a.node != b.node) {
    return false;
  }
  return a.volume == b.volume ||
         (a.state->filesystem_id != 0 && a.state->filesystem_id == b.state->filesystem_id);
}

/// What a copy of `m` occupies at its destination: the source's allocated bytes when the scan
/// reported them (copies keep holes, so a sparse chunk needs less than its apparent size),
/// else the planned (apparent) size.
std::uint64_t bytes_needed(const Inventory& inv, const Move& m)
{
  if (const Chunk* c = inv.chunk(m.chunk)) {
    for (const Replica& r : c->replicas) {
      if (r.node == m.from.node && r.volume == m.from.volume && r.allocated_bytes) {
        return *r.allocated_bytes;
      }
    }
  }
  return m.bytes;
}

} // namespace

std::vector<CapacityViolation> check_capacity(const Plan& plan,
                                              const Inventory& inv,
                                              double headroom)
{
  struct Incoming {
    int node = 0;
    int volume = 0;  ///< index of the first volume of the filesystem that receives
    std::uint64_t bytes = 0, capacity = 0, free = 0;
    Place place;
  };
  std::vector<Incoming> incoming;
  std::map<std::tuple<int, std::uint64_t, std::string>, std::size_t> index;
  constexpr int k_unknown = 1 << 30;
  auto add = [&](const Place& dest, std::uint64_t bytes) {
    const VolumeRef to = find_place(inv, dest);
    const bool known = to.state != nullptr && to.state->ok;
    const std::uint64_t fs = !known ? 0
                             : to.state->filesystem_id != 0
                                 ? to.state->filesystem_id
                                 : ~std::uint64_t(static_cast<std::uint64_t>(to.volume));
    const auto key = std::make_tuple(to.node, fs, known ? std::string() : dest.volume);
    auto [it, fresh] = index.emplace(key, incoming.size());
    if (fresh) {
      Incoming in;
      in.node = to.node < 0 ? k_unknown : to.node;
      in.volume = to.volume < 0 ? k_unknown : to.volume;
      in.place = dest;
      if (known) {
        in.capacity = to.state->capacity_bytes;
        in.free = to.state->free_bytes;
      }
      incoming.push_back(in);
    }
    incoming[it->second].bytes += bytes;
  };
  for (const auto& m : plan.moves) {
    if (m.kind == MoveKind::drop_duplicate || m.kind == MoveKind::remove) {
      continue;
    }
    if (m.kind == MoveKind::write) {
      // Fan-out: every target receives the whole chunk (a replaced version leaves only after).
      for (const auto& t : m.targets) {
        add(t.place, m.bytes);
      }
      continue;
    }
    if (m.from.node == m.to.node &&
        same_filesystem(find_place(inv, m.from), find_place(inv, m.to))) {
      continue;  // a rename within one filesystem needs no room
    }
    add(m.to, bytes_needed(inv, m));
  }
  std::sort(incoming.begin(), incoming.end(), [](const Incoming& a, const Incoming& b) {
    return std::tie(a.node, a.volume, a.place.node, a.place.volume) <
           std::tie(b.node, b.volume, b.place.node, b.place.volume);
  });
  std::vector<CapacityViolation> out;
  for (const auto& in : incoming) {
    const auto reserve = static_cast<std::uint64_t>(
        std::ceil(std::max(0.0, headroom) * static_cast<double>(in.capacity)));
    const std::uint64_t needed = in.bytes + reserve;
    if (needed > in.free) {
      out.push_back({in.place.node, in.place.volume, needed, in.free});
    }
  }
  return out;
}

PlanMatrix plan_matrix(const Plan& plan, const Topology* topo, bool by_volume)
{
  const auto label = [by_volume](const Place& p) {
    return by_volume ? p.node + ":" + p.volume : p.node;
  };
  std::vector<std::string> seen;
  for (const auto& m : plan.moves) {
    seen.push_back(label(m.from));
    seen.push_back(label(m.to));
  }
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  // Topology order first (node order, then volume order), the rest sorted.
  const auto rank = [&](const std::string& l) -> std::pair<std::size_t, std::size_t> {
    if (topo == nullptr) {
      return {0, 0};
    }
    for (std::size_t n = 0; n < topo->nodes.size(); ++n) {
      const auto& node = topo->nodes[n];
      if (!by_volume && l == node.name) {
        return {n, 0};
      }
      for (std::size_t v = 0; by_volume && v < node.volumes.size(); ++v) {
        if (l == node.name + ":" + node.volumes[v]) {
          return {n, v};
        }
      }
    }
    return {topo->nodes.size(), 0};
  };
  std::stable_sort(seen.begin(), seen.end(),
                   [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
  PlanMatrix mx;
  mx.labels = seen;
  mx.cells.assign(seen.size(), std::vector<PlanMatrix::Cell>(seen.size()));
  const auto at = [&](const std::string& l) {
    return static_cast<std::size_t>(std::find(seen.begin(), seen.end(), l) - seen.begin());
  };
  for (const auto& m : plan.moves) {
    auto& cell = mx.cells[at(label(m.from))][at(label(m.to))];
    ++cell.moves;
    cell.bytes += m.bytes;
  }
  return mx;
}

namespace {


nlohmann::json loads_json(const std::map<std::string, NodeLoad>& loads)
{
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, l] : loads) {
    out[name] = {{"chunks", l.chunks}, {"bytes", l.bytes}};
  }
  return out;
}

/// Field access with messages naming the source and the field's path.
class PlanReader {
public:
  explicit PlanReader(const std::string& source) : m_source(source) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const
  {
    throw UsageError(m_source + ": not a valid clsync plan: " + where + ": " + what,
                     "make a plan with --plan-out");
  }

  const nlohmann::json& field(const nlohmann::json& obj, const char* key,
                              const std::string& where) const
  {
    if (!obj.is_object()) {
      fail(where, "expected an object");
    }
    const auto it = obj.find(key);
    if (it == obj.end()) {
      fail(where, std::string("missing \"") + key + "\"");
    }
    return *it;
  }

  /// A name (core/json_names.hpp): "<key>_b64" when present, exact bytes; else the string.
  std::string name(const nlohmann::json& obj,
                   const char* key,
                   const std::string& where,
                   bool non_empty = true) const
  {
    const std::string b64 = std::string(key) + "_b64";
    if (obj.is_object() && obj.contains(b64)) {
      const auto& v = obj[b64];
      auto exact = v.is_string() ? base64_decode(v.get_ref<const std::string&>()) : std::nullopt;
      if (!exact || (non_empty && exact->empty())) {
        fail(where + "." + b64, "expected base64 of a non-empty name");
      }
      text(obj, key, where, false); // the readable form is there too
      return *exact;
    }
    return text(obj, key, where, non_empty);
  }

  std::string text(const nlohmann::json& obj, const char* key, const std::string& where,
                   bool non_empty = true) const
  {
    const auto& v = field(obj, key, where);
    if (!v.is_string() || (non_empty && v.get_ref<const std::string&>().empty())) {
      fail(where + "." + key, non_empty ? "expected a non-empty string" : "expected a string");
    }
    return v.get<std::string>();
  }

  std::uint64_t count(const nlohmann::json& obj, const char* key, const std::string& where) const
  {
    const auto& v = field(obj, key, where);
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0)) {
      fail(where + "." + key, "expected a non-negative integer");
    }
    return v.get<std::uint64_t>();
  }

  Place place(const nlohmann::json& obj, const char* key, const std::string& where) const
  {
    const auto& p = field(obj, key, where);
    const std::string at = where + "." + key;
    return {text(p, "node", at), name(p, "volume", at)};
  }

  std::map<std::string, NodeLoad> loads(const nlohmann::json& doc, const char* key) const
  {
    std::map<std::string, NodeLoad> out;
    const auto it = doc.find(key);
    if (it == doc.end()) {
      return out;
    }
    if (!it->is_object()) {
      fail(key, "expected an object");
    }
    for (const auto& [name, v] : it->items()) {
      const std::string at = std::string(key) + "." + name;
      out[name] = {count(v, "chunks", at), count(v, "bytes", at)};
    }
    return out;
  }

private:
  const std::string& m_source;
};

} // namespace

nlohmann::json plan_to_json(const Plan& plan)
{
  nlohmann::json moves = nlohmann::json::array();
  for (const auto& m : plan.moves) {
    nlohmann::json j{{"kind", to_string(m.kind)},
                     {"from", place_json(m.from)},
                     {"to", place_json(m.to)},
                     {"bytes", m.bytes},
                     {"fingerprint", m.fingerprint}};
    put_name(j, "chunk", m.chunk);
    moves.push_back(std::move(j));
  }
  nlohmann::json notes = nlohmann::json::array();
  for (const auto& n : plan.notes) {
    nlohmann::json j = nlohmann::json::object();
    put_name(j, "chunk", n.chunk);
    put_name(j, "reason", n.reason);
    notes.push_back(std::move(j));
  }
  return {{"format", "clsync-plan"},
          {"version", k_plan_format_version},
          {"command", plan.command},
          {"cluster", plan.cluster},
          {"created", plan.created},
          {"by", plan.by},
          {"moves", std::move(moves)},
          {"notes", std::move(notes)},
          {"before", loads_json(plan.before)},
          {"after", loads_json(plan.after)}};
}

Plan plan_from_json(const nlohmann::json& doc, const std::string& source)
{
  const PlanReader rd(source);
  if (!doc.is_object()) {
    rd.fail("document", "expected an object");
  }
  if (rd.text(doc, "format", "document") != "clsync-plan") {
    rd.fail("format", "expected \"clsync-plan\"");
  }
  const std::uint64_t version = rd.count(doc, "version", "document");
  if (version != static_cast<std::uint64_t>(k_plan_format_version)) {
    rd.fail("version", "version " + std::to_string(version) + " is not supported (this clsync "
                           "reads version " + std::to_string(k_plan_format_version) + ")");
  }
  Plan plan;
  plan.command = rd.text(doc, "command", "document");
  plan.cluster = rd.text(doc, "cluster", "document");
  plan.created = rd.text(doc, "created", "document", false);
  plan.by = rd.text(doc, "by", "document");
  if (plan.by != "bytes" && plan.by != "count") {
    rd.fail("by", "expected \"bytes\" or \"count\"");
  }
  const auto& moves = rd.field(doc, "moves", "document");
  if (!moves.is_array()) {
    rd.fail("moves", "expected an array");
  }
  for (std::size_t i = 0; i < moves.size(); ++i) {
    const std::string at = "moves[" + std::to_string(i) + "]";
    const auto& m = moves[i];
    Move mv;
    const std::string kind = rd.text(m, "kind", at);
    if (kind == "move") {
      mv.kind = MoveKind::move;
    } else if (kind == "copy") {
      mv.kind = MoveKind::copy;
    } else if (kind == "drop_duplicate") {
      mv.kind = MoveKind::drop_duplicate;
    } else {
      rd.fail(at + ".kind", "expected move, copy or drop_duplicate");
    }
    mv.chunk = rd.name(m, "chunk", at);
    mv.from = rd.place(m, "from", at);
    mv.to = rd.place(m, "to", at);
    mv.bytes = rd.count(m, "bytes", at);
    mv.fingerprint = rd.text(m, "fingerprint", at, false);
    if (mv.from == mv.to) {
      rd.fail(at, "from and to are the same place");
    }
    plan.moves.push_back(std::move(mv));
  }
  if (const auto it = doc.find("notes"); it != doc.end()) {
    if (!it->is_array()) {
      rd.fail("notes", "expected an array");
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
      const std::string at = "notes[" + std::to_string(i) + "]";
      plan.notes.push_back(
          {rd.name((*it)[i], "chunk", at, false), rd.name((*it)[i], "reason", at)});
    }
  }
  plan.before = rd.loads(doc, "before");
  plan.after = rd.loads(doc, "after");
  return plan;
}

void save_plan(const Plan& plan, const std::filesystem::path& file)
{
  const std::filesystem::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << dump_json(plan_to_json(plan), 2) << '\n';
    out.flush();
    if (!out) {
      const int err = errno;
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw Error(ExitCode::failed,
                  "cannot write plan file " + file.string() + ": " + std::strerror(err));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw Error(ExitCode::failed, "cannot write plan file " + file.string() + ": " + ec.message());
  }
}

Plan load_plan(const std::filesystem::path& file)
{
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw UsageError("cannot read plan file " + file.string() + ": " + std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw UsageError(file.string() + ": not a valid clsync plan: " + e.what(),
                     "make a plan with --plan-out");
  }
  return plan_from_json(doc, file.string());
}

} // namespace clsync::core
