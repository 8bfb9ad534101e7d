// fuzz_check_logs: a JSONL log (one or more lines) through check_logs' checks: read_jsonl, the
// schema and finite-metric checks, every family's rules (the repository's */checks.json, loaded
// once) and the run-finished check, then both report formats. Promise (checks.h): check_file
// reports problems as failures and does not throw; the reports hold no control characters
// other than newlines (no forged lines, no terminal escapes from log strings).
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_util.h"
#include "ssmlab/checks.h"

using namespace ssmlab;

namespace {
const checks::RuleSet& rules() {
  static const checks::RuleSet r = [] {
    checks::RuleSet s;
    try {
      s.load_default_dirs(SSMLAB_SOURCE_DIR);
    } catch (const std::exception& e) {
      fuzz::violated("the repository's checks.json files do not load", e.what());
    }
    return s;
  }();
  return r;
}

void no_control_chars(const std::string& s, const char* what) {
  for (char c : s)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\n') || c == 0x7f) fuzz::violated(what, "control character in the report");
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile file("fuzz_check_logs.jsonl");
  const checks::RuleSet& r = rules();
  const std::string& path = file.write(fuzz::as_text(data, size));
  checks::Report report;
  checks::check_file(path, r, report);
  if (size > 0 && report.lines == 0 && report.failures.empty()) {
    // only blank lines: must still be reported (an empty log is a failure)
    fuzz::violated("a log without records passed");
  }
  no_control_chars(checks::format_table(report), "format_table");
  no_control_chars(checks::format_markdown(report), "format_markdown");
  return 0;
}
