// test_doc_commands.cpp — every command example in README.md and docs/*.md names a binary or a
// script that exists and uses only flags that binary or script accepts.
//
// What is a command: a line of a fenced code block whose info string is empty, bash, sh, shell or
// console (```text / ```cpp / ```json blocks are not commands), or of an indented (4 spaces) block;
// lines ending in '\' continue; '#' starts a comment; '&&', '||', ';' and '|' separate commands;
// leading VAR=value words, "bash"/"sh", "( )", "[ ]" around optional flags and "..." are dropped.
// A command is checked when its first word is
//   - a binary of this project: build*/bin/NAME or a bare NAME, where NAME.cpp with a main() exists
//     under the source tree (outside tests/; fuzz targets of tests/fuzz/ count, and are skipped: they
//     exist only in the fuzz build) or NAME is a program CMake builds into bin/ in this build (any
//     target, e.g. one built from a shared main under the table's name). A build*/bin/NAME that is
//     no binary of this project fails.
//   - a script of this project: a path ending in .sh, relative to the source tree.
// Everything else (cmake, ctest, git, source, huggingface-cli, ...) is not ours and is left alone.
//
// How a binary is checked (nothing long runs): the command, with build*/bin replaced by this build's
// bin folder, runs in a temporary folder with --help appended. Cli (and ssmlab_launch) read every
// flag and its value type before they answer --help, so an unknown flag, a value of the wrong type
// or a misspelt binary exits non-zero. Google Benchmark binaries answer --help before Google
// Benchmark sees its flags, so they get --benchmark_list_tests=true instead (lists, runs nothing).
// ssmlab_launch LAUNCHER-FLAGS -- BINARY FLAGS is checked as two commands. A deprecated snake-case
// spelling fails too (its warning is on stderr): the docs use the kebab-case names.
// A script must exist, pass `bash -n`, and name every --flag of the command in its text; a command
// holding --dry-run (a documented dry run) is run as written, from the source tree.
// A binary not built in this build (no LibTorch, no Google Benchmark) is skipped and listed.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_support.h"

namespace fs = std::filesystem;

namespace {

const std::string kSource = SSMLAB_SOURCE_DIR;
const std::string kBin = SSMLAB_BIN_DIR;

// Binaries whose --help is answered before Google Benchmark reads its own flags.
const std::set<std::string> kGoogleBenchmark = {"bench_scan", "bench_ssd", "bench_duality"};

struct Command {
  std::string where;  // "docs/x.md:12"
  std::string text;   // the logical line, for messages
  std::vector<std::string> words;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Word {
  std::string text;
  bool quoted = false;  // held quotes: taken as written ("..." is then a value, not an elision)
};

// Shell-like words of one logical line: quotes group, '#' at a word start ends the line, and the
// separators && || ; | become words of their own.
std::vector<Word> shell_words(const std::string& line) {
  std::vector<Word> words;
  std::string cur;
  bool in_word = false, quoted = false;
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote) {
      if (c == quote) quote = 0;
      else if (c == '\\' && quote == '"' && i + 1 < line.size()) cur += line[++i];
      else cur += c;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      in_word = quoted = true;
      continue;
    }
    auto end_word = [&] {
      if (in_word) words.push_back({cur, quoted});
      cur.clear();
      in_word = quoted = false;
    };
    if (std::isspace(static_cast<unsigned char>(c))) {
      end_word();
      continue;
    }
    if (c == '#' && !in_word) break;
    if (c == ';' || c == '|' || (c == '&' && i + 1 < line.size() && line[i + 1] == '&')) {
      end_word();
      std::string sep(1, c);
      if (i + 1 < line.size() && line[i + 1] == c) sep += line[++i];
      words.push_back({sep, false});
      continue;
    }
    cur += c;
    in_word = true;
  }
  if (in_word) words.push_back({cur, quoted});
  return words;
}

bool is_separator(const std::string& w) { return w == "&&" || w == "||" || w == ";" || w == "|" || w == ";;"; }

// The commands of one markdown file (see the file comment for the rules).
std::vector<Command> extract_commands(const fs::path& file, const std::string& shown) {
  std::vector<Command> out;
  std::istringstream in(slurp(file));
  std::vector<std::pair<int, std::string>> lines;  // (line number, text) of command-block lines
  bool fenced = false, fence_is_shell = false, prev_blank = true, in_indented = false;
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    size_t lead = line.find_first_not_of(' ');
    const std::string trimmed = lead == std::string::npos ? "" : line.substr(lead);
    if (trimmed.rfind("```", 0) == 0 || trimmed.rfind("~~~", 0) == 0) {
      if (!fenced) {
        std::string info = trimmed.substr(3);
        info.erase(0, info.find_first_not_of(" `~"));
        info = info.substr(0, info.find(' '));
        fence_is_shell = info.empty() || info == "bash" || info == "sh" || info == "shell" || info == "console";
      }
      fenced = !fenced;
      lines.push_back({n, ""});  // ends a continuation
      prev_blank = false;
      in_indented = false;
      continue;
    }
    if (fenced) {
      if (fence_is_shell) lines.push_back({n, line});
      continue;
    }
    const bool indented = line.rfind("    ", 0) == 0 || line.rfind("\t", 0) == 0;
    if (indented && (prev_blank || in_indented)) {
      in_indented = true;
      lines.push_back({n, trimmed});
    } else {
      in_indented = in_indented && trimmed.empty();
      lines.push_back({n, ""});
    }
    prev_blank = trimmed.empty();
  }
  // logical lines: join '\' continuations
  for (size_t i = 0; i < lines.size(); ++i) {
    const int first = lines[i].first;
    std::string logical = lines[i].second;
    while (!logical.empty() && logical.back() == '\\' && i + 1 < lines.size()) {
      logical.pop_back();
      logical += " " + lines[++i].second;
    }
    std::vector<Word> cur;
    auto flush = [&] {
      // drop VAR=value prefixes, "bash"/"sh", brackets, parentheses and "..."
      std::vector<std::string> w;
      for (auto& word : cur) {
        if (word.quoted) {
          w.push_back(word.text);
          continue;
        }
        std::string s = word.text;
        while (!s.empty() && (s.front() == '(' || s.front() == '[')) s.erase(0, 1);
        while (!s.empty() && (s.back() == ')' || s.back() == ']')) s.pop_back();
        if (s.empty() || s == "..." || s == "…") continue;
        w.push_back(s);
      }
      static const std::regex assignment("^[A-Za-z_][A-Za-z0-9_]*=.*");
      size_t k = 0;
      while (k < w.size() && std::regex_match(w[k], assignment)) ++k;
      if (k < w.size() && (w[k] == "bash" || w[k] == "sh")) ++k;
      w.erase(w.begin(), w.begin() + static_cast<long>(k));
      if (!w.empty()) out.push_back({shown + ":" + std::to_string(first), logical, w});
      cur.clear();
    };
    for (auto& word : shell_words(logical)) {
      if (!word.quoted && is_separator(word.text)) flush();
      else cur.push_back(word);
    }
    flush();
  }
  return out;
}

// NAME of every source file NAME.cpp with a main() (outside tests/, build folders, outputs and .git),
// of every program this build puts in bin/ (SSMLAB_BIN_PROGRAMS, from CMake: it holds the binaries
// built from a shared main under another name, e.g. the duality experiments), and the fuzz targets
// tests/fuzz/fuzz_*.cpp.
struct ProjectBinaries {
  std::set<std::string> mains, fuzz_targets;
};
ProjectBinaries project_binaries() {
  ProjectBinaries b;
  for (auto it = fs::recursive_directory_iterator(kSource); it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_directory()) {
      if (it.depth() == 0 && (name == "tests" || name == "docs" || name == "outputs" || name.rfind("build", 0) == 0 ||
                              name.front() == '.'))
        it.disable_recursion_pending();
      continue;
    }
    if (it->path().extension() == ".cpp" && slurp(it->path()).find("int main(") != std::string::npos)
      b.mains.insert(it->path().stem().string());
  }
#ifdef SSMLAB_BIN_PROGRAMS
  {  // every program CMake builds into bin/, whatever its sources are called
    std::stringstream names(SSMLAB_BIN_PROGRAMS);
    for (std::string n; std::getline(names, n, ',');)
      if (!n.empty()) b.mains.insert(n);
  }
#endif
  for (auto& e : fs::directory_iterator(kSource + "/tests/fuzz"))
    if (e.path().extension() == ".cpp" && e.path().filename().string().rfind("fuzz_", 0) == 0)
      b.fuzz_targets.insert(e.path().stem().string());
  return b;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct RunResult {
  int code = -1;
  std::string out, err;
};
RunResult run(const std::vector<std::string>& argv, const std::string& cwd) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("doc_command_out");
  std::string cmd = "cd " + quote(cwd) + " && timeout 60";
  for (auto& a : argv) cmd += " " + quote(a);
  cmd += " </dev/null >" + quote((dir / "out").string()) + " 2>" + quote((dir / "err").string());
  const int st = std::system(cmd.c_str());
  RunResult r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = slurp(dir / "out");
  r.err = slurp(dir / "err");
  ssmlab::test::remove_tree(dir);
  return r;
}

std::string first_lines(const std::string& s, int n = 3) {
  std::istringstream in(s);
  std::string out, line;
  for (int i = 0; i < n && std::getline(in, line); ++i) out += (i ? " | " : "") + line;
  return out;
}

// The checker: failures ("file:line: `command`: why") and skips ("file:line: NAME not built").
struct Checker {
  ProjectBinaries bins = project_binaries();
  std::vector<std::string> failures, skipped;
  int checked = 0;

  // "build/bin/x", "./build-gpu/bin/x" -> "x"; else "".
  static std::string build_bin_name(const std::string& w) {
    static const std::regex re("^(\\./)?build[^/]*/bin/([^/]+)$");
    std::smatch m;
    return std::regex_match(w, m, re) ? m[2].str() : "";
  }
  static std::vector<std::string> with_this_build(std::vector<std::string> words) {
    for (auto& w : words)
      if (auto name = build_bin_name(w); !name.empty()) w = kBin + "/" + name;
    return words;
  }

  void fail(const Command& c, const std::string& why) { failures.push_back(c.where + ": `" + c.text + "`: " + why); }

  void check(const Command& c) { check_words(c, c.words); }

  void check_words(const Command& c, const std::vector<std::string>& words) {
    const std::string& head = words[0];
    std::string name = build_bin_name(head);
    const bool under_build = !name.empty();
    if (!under_build && head.find('/') == std::string::npos) name = head;
    if (head.size() > 3 && head.compare(head.size() - 3, 3, ".sh") == 0 && !under_build) return check_script(c, words);
    if (bins.fuzz_targets.count(name)) return skipped.push_back(c.where + ": " + name + " (fuzz build only)");
    if (!bins.mains.count(name)) {
      if (under_build) fail(c, head + " is no binary of this project (no " + name + ".cpp with a main)");
      return;  // a bare word that is not ours: cmake, git, ...
    }
    const std::string exe = kBin + "/" + name;
    if (!fs::exists(exe)) return skipped.push_back(c.where + ": " + name + " (not built here)");
    std::vector<std::string> argv = with_this_build(words);
    argv[0] = exe;
    if (name == "ssmlab_launch") {  // LAUNCHER-FLAGS -- BINARY FLAGS: two commands
      auto sep = std::find(argv.begin(), argv.end(), "--");
      if (sep == argv.end()) return fail(c, "ssmlab_launch without '-- BINARY'");
      std::vector<std::string> inner(words.begin() + (sep - argv.begin()) + 1, words.end());
      argv.erase(sep, argv.end());
      run_binary(c, name, argv);
      if (inner.empty()) return fail(c, "ssmlab_launch without a binary after '--'");
      return check_words(c, inner);
    }
    run_binary(c, name, argv);
  }

  void run_binary(const Command& c, const std::string& name, std::vector<std::string> argv) {
    argv.push_back(kGoogleBenchmark.count(name) ? "--benchmark_list_tests=true" : "--help");
    const fs::path tmp = ssmlab::test::fresh_temp_dir("doc_command_cwd");
    const RunResult r = run(argv, tmp.string());
    ssmlab::test::remove_tree(tmp);
    ++checked;
    if (r.code != 0) fail(c, name + " exited " + std::to_string(r.code) + ": " + first_lines(r.err + r.out));
    else if (r.err.find("is deprecated") != std::string::npos) fail(c, "old flag spelling: " + first_lines(r.err));
  }

  void check_script(const Command& c, const std::vector<std::string>& words) {
    std::string rel = words[0];
    if (rel.rfind("./", 0) == 0) rel = rel.substr(2);
    const fs::path path = fs::path(kSource) / rel;
    if (!fs::is_regular_file(path)) return fail(c, "no script " + rel + " in the source tree");
    ++checked;
    const RunResult syntax = run({"bash", "-n", path.string()}, kSource);
    if (syntax.code != 0) return fail(c, rel + " does not parse: " + first_lines(syntax.err));
    const std::string text = slurp(path);
    bool dry_run = false;
    for (size_t i = 1; i < words.size() && words[i] != "--"; ++i) {
      if (words[i].rfind("--", 0) != 0) continue;
      const std::string flag = words[i].substr(0, words[i].find('='));
      if (text.find(flag) == std::string::npos) fail(c, rel + " has no flag " + flag);
      dry_run = dry_run || flag == "--dry-run";
    }
    if (!dry_run) return;
    std::vector<std::string> argv = with_this_build(words);
    argv[0] = path.string();
    for (auto& a : argv)
      if (a.rfind(kBin + "/", 0) == 0 && !fs::exists(a)) return skipped.push_back(c.where + ": " + a + " (not built here)");
    const RunResult r = run(argv, kSource);
    if (r.code != 0) fail(c, rel + " --dry-run exited " + std::to_string(r.code) + ": " + first_lines(r.err + r.out));
  }
};

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += "  " + x + "\n";
  return s;
}

}  // namespace

// The extractor and the checker themselves: each broken command of a small page is caught, with
// its file and line; the good ones pass.
TEST(DocCommands, CheckerCatchesEachBrokenCommand) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("doc_commands_self");
  std::ofstream(dir / "page.md") << "# page\n"                                              // 1
                                    "```bash\n"                                             // 2
                                    "build/bin/check_logs --no-such-flag x.jsonl\n"         // 3
                                    "build/bin/plot_runs --task x   # a deleted binary\n"  // 4
                                    "cmake --build build && build/bin/check_logs x.jsonl --no-rules  # fine\n"  // 5
                                    "scripts/no_such_script.sh --quick\n"                   // 6
                                    "scripts/reproduce.sh --no-such-option\n"               // 7
                                    "```\n"                                                 // 8
                                    "```json\n{\"check_logs\": 1}\n```\n"                   // 9-11
                                    "\n"                                                    // 12
                                    "    check_logs --rules-dir x \\\n"                     // 13
                                    "        --threads many\n"                              // 14
                                    "\n"                                                    // 15
                                    "```\n"                                                 // 16
                                    "build/bin/plot_logs --spec x.json [--quiet] ...\n"     // 17
                                    "build/bin/exp_synthetic_ndecay --N_values 1 2\n"       // 18
                                    "build/bin/check_logs x.jsonl --rules-dir \"...\"\n"      // 19
                                    "```\n";
  const auto commands = extract_commands(dir / "page.md", "page.md");
  Checker ck;
  for (auto& c : commands) ck.check(c);
  const std::string all = joined(ck.failures);
  auto failed_at = [&](const std::string& where, const std::string& why) {
    for (auto& f : ck.failures)
      if (f.rfind(where + ":", 0) == 0 && f.find(why) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(failed_at("page.md:3", "unknown flag")) << all;
  EXPECT_TRUE(failed_at("page.md:4", "no binary of this project")) << all;
  EXPECT_FALSE(failed_at("page.md:5", "")) << all;
  EXPECT_TRUE(failed_at("page.md:6", "no script")) << all;
  EXPECT_TRUE(failed_at("page.md:7", "has no flag --no-such-option")) << all;
  EXPECT_TRUE(failed_at("page.md:13", "--threads")) << all;  // the indented block, its continuation read
  EXPECT_FALSE(failed_at("page.md:17", "")) << all;
  if (fs::exists(kBin + "/exp_synthetic_ndecay")) EXPECT_TRUE(failed_at("page.md:18", "old flag spelling")) << all;
  EXPECT_FALSE(failed_at("page.md:19", "")) << all;  // a quoted "..." is a value (the unquoted one is dropped)
  for (auto& c : commands) EXPECT_EQ(c.text.find("check_logs\": 1"), std::string::npos) << "a json block was read";
  ssmlab::test::remove_tree(dir);
}

TEST(DocCommands, EveryCommandInReadmeAndDocsIsAccepted) {
  std::vector<fs::path> pages{fs::path(kSource) / "README.md"};
  for (auto& e : fs::directory_iterator(kSource + "/docs"))
    if (e.path().extension() == ".md") pages.push_back(e.path());
  std::sort(pages.begin(), pages.end());
  Checker ck;
  size_t commands = 0;
  for (auto& p : pages)
    for (auto& c : extract_commands(p, fs::relative(p, kSource).string())) {
      ++commands;
      ck.check(c);
    }
  std::printf("%zu command lines in %zu pages; %d checked, %zu skipped:\n%s", commands, pages.size(), ck.checked,
              ck.skipped.size(), joined(ck.skipped).c_str());
  EXPECT_GE(ck.checked + static_cast<int>(ck.skipped.size()), 30) << "the extractor found too few commands";
  EXPECT_TRUE(ck.failures.empty()) << ck.failures.size() << " doc command(s) rejected:\n" << joined(ck.failures);
}
