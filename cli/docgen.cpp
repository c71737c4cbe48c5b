// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// clsync-docgen: writes the man pages and the bash, zsh and fish completions from the same
// CLI11 tree that `clsync` parses with, so every option is documented the moment it exists.
// Prose comes from man/src/*.txt; `tests/docs_current.sh` fails when the committed files differ.
#include "cli/app.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace {

using clsync::cli::Command;
namespace fs = std::filesystem;

struct Opt {
  std::string longs;   ///< "--by"
  std::string shorts;  ///< "-n"
  std::string value;   ///< "TEXT", empty for flags
  std::string help;
  std::string env;
  std::string def;
};

std::vector<Opt> options_of(const CLI::App& app)
{
  std::vector<Opt> out;
  for (const CLI::Option* o : app.get_options([](const CLI::Option* o) {
         return o->nonpositional() && !o->get_group().empty();
       })) {
    Opt x;
    if (!o->get_lnames().empty()) {
      x.longs = "--" + o->get_lnames().front();
    }
    if (!o->get_snames().empty()) {
      x.shorts = "-" + o->get_snames().front();
    }
    if (o->get_type_size() != 0) {
      x.value = o->get_type_name().empty() ? "VALUE" : o->get_type_name();
    }
    x.help = o->get_description();
    x.env = o->get_envname();
    x.def = o->get_default_str();
    if (x.longs == "--help") {
      x.help = "print this help and exit";
    }
    out.push_back(x);
  }
  return out;
}

std::vector<const CLI::App*> subcommands_of(CLI::App& app)
{
  std::vector<const CLI::App*> out;
  for (CLI::App* s : app.get_subcommands([](CLI::App*) { return true; })) {
    out.push_back(s);
  }
  return out;
}

std::string roff_escape(const std::string& s)
{
  std::string o;
  for (char c : s) {
    if (c == '\\') {
      o += "\\e";
    } else if (c == '-') {
      o += "\\-";
    } else {
      o += c;
    }
  }
  if (!o.empty() && (o[0] == '.' || o[0] == '\'')) {
    o = "\\&" + o;
  }
  return o;
}

/// Converts our small prose format: "# HEADING" starts a section, blank lines separate
/// paragraphs, lines indented by 4 spaces are literal blocks, "- " starts a bullet.
std::string prose_to_roff(const std::string& text)
{
  std::istringstream in(text);
  std::ostringstream out;
  std::string line;
  bool literal = false;
  bool need_para = false;
  while (std::getline(in, line)) {
    bool is_lit = line.rfind("    ", 0) == 0;
    if (literal && !is_lit && !line.empty()) {
      out << ".fi\n.RE\n";
      literal = false;
      need_para = true;
    }
    if (line.rfind("# ", 0) == 0) {
      if (literal) {
        out << ".fi\n.RE\n";
        literal = false;
      }
      out << ".SH " << roff_escape(line.substr(2)) << "\n";
      need_para = false;
      continue;
    }
    if (line.empty()) {
      if (literal) {
        out << "\n";
      } else {
        need_para = true;
      }
      continue;
    }
    if (is_lit) {
      if (!literal) {
        out << ".PP\n.RS 4\n.nf\n";
        literal = true;
      }
      out << roff_escape(line.substr(4)) << "\n";
      continue;
    }
    if (line.rfind("- ", 0) == 0) {
      out << ".IP \\(bu 2\n" << roff_escape(line.substr(2)) << "\n";
      need_para = false;
      continue;
    }
    if (need_para) {
      out << ".PP\n";
      need_para = false;
    }
    out << roff_escape(line) << "\n";
  }
  if (literal) {
    out << ".fi\n.RE\n";
  }
  return out.str();
}

std::string read_text(const fs::path& p)
{
  std::ifstream f(p);
  if (!f) {
    return {};
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string options_roff(const std::vector<Opt>& opts)
{
  std::ostringstream out;
  for (const auto& o : opts) {
    std::string head = o.shorts.empty() ? o.longs : o.shorts + ", " + o.longs;
    out << ".TP\n\\fB" << roff_escape(head) << "\\fR";
    if (!o.value.empty()) {
      out << " \\fI" << roff_escape(o.value) << "\\fR";
    }
    out << "\n" << roff_escape(o.help.empty() ? "(no description)" : o.help);
    if (!o.def.empty()) {
      out << " (default: " << roff_escape(o.def) << ")";
    }
    if (!o.env.empty()) {
      out << " (environment: " << roff_escape(o.env) << ")";
    }
    out << "\n";
  }
  return out.str();
}

/// Splits a prose file into its DESCRIPTION (text before the first heading) and the rest.
std::pair<std::string, std::string> split_prose(const std::string& text)
{
  auto pos = text.rfind("\n# ", text.size());
  pos = text.rfind("# ", 0) == 0 ? 0 : text.find("\n# ");
  if (pos == std::string::npos) {
    return {text, {}};
  }
  if (pos == 0) {
    return {{}, text};
  }
  return {text.substr(0, pos + 1), text.substr(pos + 1)};
}

const char* k_exit_roff = ".SH EXIT STATUS\n"
                          ".TP\n0\ndone\n.TP\n1\nfailed (nothing done, or everything failed)\n"
                          ".TP\n2\nusage or topology error\n"
                          ".TP\n3\npartly done: some tasks failed, or some nodes unreachable\n"
                          ".TP\n4\nanother run holds a lease on a node\n"
                          ".TP\n5\nstatus \\-\\-check found unhealthy chunks\n"
                          ".TP\n130\ninterrupted by SIGINT or SIGTERM\n";

void write_man(CLI::App& app, const fs::path& src, const fs::path& out_dir)
{
  auto globals = options_of(app);
  auto subs = subcommands_of(app);
  {
    auto [desc, rest] = split_prose(read_text(src / "clsync.txt"));
    std::ofstream f(out_dir / "clsync.1");
    f << ".\\\" Generated by clsync-docgen from man/src/clsync.txt and the option tree.\n"
      << ".TH CLSYNC 1 \"\" \"clsync " << CLSYNC_VERSION << "\" \"clsync manual\"\n"
      << ".SH NAME\nclsync \\- " << roff_escape(clsync::cli::k_app_description + 8) << "\n"
      << ".SH SYNOPSIS\n\\fBclsync\\fR [\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n"
      << ".SH DESCRIPTION\n"
      << prose_to_roff(desc) << ".SH COMMANDS\n";
    for (const auto* s : subs) {
      f << ".TP\n\\fBclsync\\-" << roff_escape(s->get_name()) << "\\fR(1)\n"
        << roff_escape(s->get_description()) << "\n";
    }
    f << ".SH GLOBAL OPTIONS\n" << options_roff(globals) << prose_to_roff(rest) << k_exit_roff;
  }
  for (const auto* s : subs) {
    auto [desc, rest] = split_prose(read_text(src / ("clsync-" + s->get_name() + ".txt")));
    std::string upper;
    for (char c : s->get_name()) {
      upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    std::ofstream f(out_dir / ("clsync-" + s->get_name() + ".1"));
    f << ".\\\" Generated by clsync-docgen from man/src/clsync-" << s->get_name()
      << ".txt and the option tree.\n"
      << ".TH CLSYNC\\-" << roff_escape(upper) << " 1 \"\" \"clsync " << CLSYNC_VERSION
      << "\" \"clsync manual\"\n"
      << ".SH NAME\nclsync\\-" << roff_escape(s->get_name()) << " \\- "
      << roff_escape(s->get_description()) << "\n"
      << ".SH SYNOPSIS\n\\fBclsync\\fR [\\fIGLOBAL OPTIONS\\fR] \\fB" << roff_escape(s->get_name())
      << "\\fR [\\fIOPTIONS\\fR]\n"
      << ".SH DESCRIPTION\n"
      << (desc.empty() ? roff_escape(s->get_description()) + ".\n" : prose_to_roff(desc))
      << ".SH OPTIONS\n"
      << options_roff(options_of(*s)) << ".SH GLOBAL OPTIONS\n"
      << options_roff(globals) << prose_to_roff(rest) << k_exit_roff
      << ".SH SEE ALSO\n\\fBclsync\\fR(1)\n";
  }
}

std::string words(const std::vector<Opt>& opts)
{
  std::string w;
  for (const auto& o : opts) {
    for (const auto* n : {&o.shorts, &o.longs}) {
      if (!n->empty()) {
        w += (w.empty() ? "" : " ") + *n;
      }
    }
  }
  return w;
}

bool takes_file(const std::string& name)
{
  return name == "--config" || name == "--plan" || name == "--plan-out" || name == "--log-file" ||
         name == "--identity" || name == "--known-hosts";
}

bool takes_dir(const std::string& name) { return name == "--dir" || name == "--state-dir"; }

void write_bash(CLI::App& app, std::ostream& f)
{
  auto subs = subcommands_of(app);
  std::string names;
  for (const auto* s : subs) {
    names += (names.empty() ? "" : " ") + s->get_name();
  }
  f << "# bash completion for clsync. Generated by clsync-docgen: do not edit.\n"
    << "_clsync() {\n"
    << "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
    << "  local commands=\"" << names << "\"\n"
    << "  local globals=\"" << words(options_of(app)) << "\"\n"
    << "  local sub=\"\" i\n"
    << "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
    << "    case \" $commands \" in *\" ${COMP_WORDS[i]} \"*) sub=${COMP_WORDS[i]}; break ;; esac\n"
    << "  done\n"
    << "  case $prev in\n"
    << "    -c|--config|--plan|--plan-out|--log-file|--identity|--known-hosts)\n"
    << "      COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
    << "    --dir|--state-dir) COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n"
    << "    --by) COMPREPLY=($(compgen -W \"bytes count db table volume\" -- \"$cur\")); return ;;\n"
    << "    --log-format) COMPREPLY=($(compgen -W \"text json\" -- \"$cur\")); return ;;\n"
    << "  esac\n"
    << "  local opts=\"\"\n"
    << "  case $sub in\n";
  for (const auto* s : subs) {
    f << "    " << s->get_name() << ") opts=\"" << words(options_of(*s)) << "\" ;;\n";
  }
  f << "    \"\") COMPREPLY=($(compgen -W \"$commands $globals\" -- \"$cur\")); return ;;\n"
    << "  esac\n"
    << "  COMPREPLY=($(compgen -W \"$opts $globals\" -- \"$cur\"))\n"
    << "}\n"
    << "complete -F _clsync clsync\n";
}

std::string zsh_quote(const std::string& s)
{
  std::string o;
  for (char c : s) {
    if (c == '\'') {
      o += "'\\''";
    } else if (c == '[' || c == ']' || c == ':') {
      o += '\\';
      o += c;
    } else {
      o += c;
    }
  }
  return o;
}

void zsh_specs(const std::vector<Opt>& opts, std::ostream& f, const char* indent)
{
  for (const auto& o : opts) {
    std::string action = takes_file(o.longs) ? ":file:_files" : takes_dir(o.longs) ? ":dir:_files -/"
                         : o.value.empty()   ? ""
                                             : ":value:";
    std::string desc = "[" + zsh_quote(o.help) + "]";
    if (!o.shorts.empty() && !o.longs.empty()) {
      f << indent << "'(" << o.shorts << " " << o.longs << ")'{" << o.shorts << "," << o.longs
        << "}'" << desc << action << "'\n";
    } else {
      f << indent << "'" << (o.longs.empty() ? o.shorts : o.longs) << desc << action << "'\n";
    }
  }
}

void write_zsh(CLI::App& app, std::ostream& f)
{
  auto subs = subcommands_of(app);
  f << "#compdef clsync\n# zsh completion for clsync. Generated by clsync-docgen: do not edit.\n"
    << "_clsync() {\n  local -a globals commands\n  globals=(\n";
  zsh_specs(options_of(app), f, "    ");
  f << "  )\n  commands=(\n";
  for (const auto* s : subs) {
    f << "    '" << s->get_name() << ":" << zsh_quote(s->get_description()) << "'\n";
  }
  f << "  )\n  local curcontext=$curcontext state line\n"
    << "  _arguments -C $globals '1:command:->command' '*::arg:->args'\n"
    << "  case $state in\n    command) _describe 'command' commands ;;\n"
    << "    args)\n      case $words[1] in\n";
  for (const auto* s : subs) {
    f << "        " << s->get_name() << ")\n          _arguments $globals \\\n";
    zsh_specs(options_of(*s), f, "            ");
    f << "          ;;\n";
  }
  f << "      esac ;;\n  esac\n}\n_clsync \"$@\"\n";
}

std::string fish_quote(const std::string& s)
{
  std::string o = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') {
      o += '\\';
    }
    o += c;
  }
  return o + "'";
}

void fish_line(const Opt& o, const std::string& cond, std::ostream& f)
{
  f << "complete -c clsync";
  if (!cond.empty()) {
    f << " -n " << fish_quote(cond);
  }
  if (!o.shorts.empty()) {
    f << " -s " << o.shorts.substr(1);
  }
  if (!o.longs.empty()) {
    f << " -l " << o.longs.substr(2);
  }
  if (!o.value.empty()) {
    f << (takes_file(o.longs) || takes_dir(o.longs) ? " -r -F" : " -r");
  }
  f << " -d " << fish_quote(o.help) << "\n";
}

void write_fish(CLI::App& app, std::ostream& f)
{
  f << "# fish completion for clsync. Generated by clsync-docgen: do not edit.\n"
    << "complete -c clsync -f\n";
  for (const auto& o : options_of(app)) {
    fish_line(o, "", f);
  }
  for (const auto* s : subcommands_of(app)) {
    f << "complete -c clsync -n '__fish_use_subcommand' -a " << s->get_name() << " -d "
      << fish_quote(s->get_description()) << "\n";
    for (const auto& o : options_of(*s)) {
      fish_line(o, "__fish_seen_subcommand_from " + s->get_name(), f);
    }
  }
}

} // namespace

int main(int argc, char** argv)
{
  if (argc != 4) {
    std::cerr << "usage: clsync-docgen MAN_SRC_DIR MAN_OUT_DIR COMPLETIONS_OUT_DIR\n";
    return 2;
  }
  CLI::App app{clsync::cli::k_app_description, "clsync"};
  clsync::cli::GlobalOptions global;
  std::vector<Command> commands;
  clsync::cli::build_app(app, global, commands);
  fs::create_directories(argv[2]);
  fs::create_directories(argv[3]);
  write_man(app, argv[1], argv[2]);
  std::ofstream bash(fs::path(argv[3]) / "clsync.bash");
  write_bash(app, bash);
  std::ofstream zsh(fs::path(argv[3]) / "_clsync");
  write_zsh(app, zsh);
  std::ofstream fish(fs::path(argv[3]) / "clsync.fish");
  write_fish(app, fish);
  return 0;
}
