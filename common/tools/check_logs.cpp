// check_logs — verifies JSONL logs: schema, finite metrics, and every family's invariants
// (<family>/checks.json). Prints a table; exits 1 on any failure, naming file, line and rule,
// 2 on a usage error found before checking (bad flag, missing file, missing or broken rules).
#include "ssmlab/main_guard.h"
#include <sys/stat.h>

#include <iostream>

#include "ssmlab/atomic_file.h"
#include "ssmlab/checks.h"
#include "ssmlab/cli.h"
#include "ssmlab/runtime.h"

#ifndef SSMLAB_SOURCE_DIR
#define SSMLAB_SOURCE_DIR "."
#endif

static int ssmlab_main(int argc, char** argv) {
  std::vector<std::string> files, rule_files;
  std::string report_path, rules_dir = SSMLAB_SOURCE_DIR;
  ssmlab::Cli cli("check_logs", "Sanity-checks ssmlab JSONL logs: every line parses and carries the schema, metrics are finite,\n"
                                "and each family's invariants (<family>/checks.json) hold. Exit 1 on any failure.",
                  "tools");
  cli.add("files", &files, "JSONL files to check").nonempty();
  cli.add("rules", &rule_files, "extra rule files (JSON) on top of <rules-dir>/*/checks.json");
  cli.add("rules-dir", &rules_dir, "folder whose */checks.json hold the families' invariants (must hold at least one)");
  bool no_rules = false;
  cli.flag("no-rules", &no_rules, "do not load <rules-dir>/*/checks.json: schema, finite metrics, finished runs (and --rules) only");
  cli.add("report", &report_path, "also write a markdown table to this path").check(ssmlab::output_file_check());
  cli.positional("files");  // `check_logs a.jsonl b.jsonl`
  ssmlab::CommonOptions opts;
  try {
    opts = cli.parse(argc, argv);
    if (cli.help_requested()) {
      std::cout << cli.help();
      return 0;
    }
  } catch (const ssmlab::UsageError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  ssmlab::init_runtime(opts);  // threads, heap reuse, --quiet (ssmlab/runtime.h)
  ssmlab::checks::RuleSet rules;
  try {
    if (!no_rules) rules.load_default_dirs(rules_dir);
    for (auto& f : rule_files) rules.load_file(f);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  for (auto& f : files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0) {
      std::cerr << "error: no such log file '" << f << "'\n";
      return 2;
    }
    if (!S_ISREG(st.st_mode)) {
      std::cerr << "error: log '" << f << "' is not a regular file (a directory, FIFO or device)\n";
      return 2;
    }
  }
  struct stat rst {};
  if (!report_path.empty() && ::stat(report_path.c_str(), &rst) == 0 && !S_ISREG(rst.st_mode)) {
    std::cerr << "error: --report '" << report_path << "' exists and is not a regular file\n";
    return 2;
  }
  ssmlab::checks::Report report;
  try {
    for (auto& f : files) ssmlab::checks::check_file(f, rules, report);
    std::cout << ssmlab::checks::format_table(report);
    if (!report_path.empty()) ssmlab::write_file_atomic(report_path, ssmlab::checks::format_markdown(report));
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "error: " << e.what() << "\n";
    std::cout << "check_logs: FAILED" << std::endl;
    return 1;
  }
  std::cout << (report.ok() ? "check_logs: all checks passed" : "check_logs: FAILED") << std::endl;
  return report.ok() ? 0 : 1;
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
