// fuzz_check_rules: a checks.json rule file, a NUL byte, then a JSONL log. RuleSet::load_file on
// the rule file (a bad one must be a std::runtime_error naming the problem); when it loads, the
// log is checked with those rules (checks::evaluate on arbitrary conditions and records).
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_util.h"
#include "ssmlab/checks.h"

using namespace ssmlab;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile rule_file("fuzz_checks.json");
  static fuzz::MemFile log_file("fuzz_check_rules.jsonl");
  const auto parts = fuzz::split_at_nul(fuzz::as_text(data, size));
  checks::RuleSet rules;
  try {
    rules.load_file(rule_file.write(parts.first));
  } catch (const std::runtime_error&) {
    return 0;
  }
  if (!parts.has_second) return 0;
  checks::Report report;
  checks::check_file(log_file.write(parts.second), rules, report);
  (void)checks::format_table(report);
  (void)checks::format_markdown(report);
  return 0;
}
