// check_logs — verifies JSONL logs: schema, finite metrics, and every family's invariants
// (<family>/checks.json). Prints a table; exits 1 on any failure, naming file, line and rule.
#include <filesystem>
#include <iostream>

#include "ssmlab/atomic_file.h"
#include "ssmlab/checks.h"
#include "ssmlab/cli.h"

#ifndef SSMLAB_SOURCE_DIR
#define SSMLAB_SOURCE_DIR "."
#endif

int main(int argc, char** argv) {
  std::vector<std::string> files, rule_files;
  std::string report_path, rules_dir = SSMLAB_SOURCE_DIR;
  ssmlab::Cli cli("check_logs", "Sanity-checks ssmlab JSONL logs: every line parses and carries the schema, metrics are finite,\n"
                                "and each family's invariants (<family>/checks.json) hold. Exit 1 on any failure.",
                  "tools");
  cli.add("files", &files, "JSONL files to check").nonempty();
  cli.add("rules", &rule_files, "extra rule files (JSON) on top of <rules-dir>/*/checks.json");
  cli.add("rules-dir", &rules_dir, "folder whose */checks.json hold the families' invariants");
  cli.add("report", &report_path, "also write a markdown table to this path");
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
  ssmlab::checks::RuleSet rules;
  try {
    rules.load_default_dirs(rules_dir);
    for (auto& f : rule_files) rules.load_file(f);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  ssmlab::checks::Report report;
  for (auto& f : files) {
    if (!std::filesystem::exists(f)) {
      std::cerr << "error: no such log file '" << f << "'\n";
      return 2;
    }
    ssmlab::checks::check_file(f, rules, report);
  }
  std::cout << ssmlab::checks::format_table(report);
  if (!report_path.empty()) ssmlab::write_file_atomic(report_path, ssmlab::checks::format_markdown(report));
  std::cout << (report.ok() ? "check_logs: all checks passed" : "check_logs: FAILED") << std::endl;
  return report.ok() ? 0 : 1;
}
