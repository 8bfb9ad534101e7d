// checks.h — the log sanity checker behind check_logs.
//
// Design: every line is checked against the schema (docs/log-schema.md) and for non-finite
// metrics; then each family's invariants apply. Invariants are data, in <family>/checks.json,
// so a family registers them without touching this code:
//
//   { "family": "duality",
//     "experiments": { "exp1_scalar_equivalence": { "key_metric": "max_rel_err" } },
//     "rules": [ { "experiment": "exp1_scalar_equivalence", "name": "recurrence equals kernel",
//                  "when":    [ { "path": "record", "op": "==", "value": "result" } ],
//                  "require": { "path": "metrics.max_rel_err", "op": "<", "value": 1e-12 } } ] }
//
// A condition is {path, op, value} or {path, op, ref: other.path}; ops: < <= > >= == != between
// (value [lo, hi]) exists. Paths are dotted into the record ("metrics.rank", "params.T").
// A rule file of the wrong shape (unknown or misspelt fields, wrong types) is an error, not a
// silently skipped check. Besides the rules, check_file fails: an empty log, a torn or invalid
// line, a record missing a schema field (including "record"), and a run (run_id) whose last
// record is not a "result" (it crashed or was killed before finishing).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ssmlab::checks {

struct Condition {
  std::string path, op, ref;
  nlohmann::json value;
};
struct Rule {
  std::string experiment, name;
  std::vector<Condition> when;
  Condition require;
};
struct RuleSet {
  std::vector<Rule> rules;
  nlohmann::json experiments = nlohmann::json::object();  // experiment -> {key_metric}
  void load_file(const std::string& path);   // throws with the path on a bad rule file
  // <source_dir>/*/checks.json; throws when source_dir is not a directory or holds none.
  void load_default_dirs(const std::string& source_dir);
};

struct Failure {
  std::string file;
  int line = 0;
  std::string experiment, rule, detail;
};

// Per-experiment summary of one or more files.
struct ExperimentSummary {
  std::string experiment, family;
  int records = 0, failed = 0;
  std::string key_metric;
  nlohmann::json key_value;  // from the last "result" record
};

struct Report {
  std::vector<Failure> failures;
  std::vector<ExperimentSummary> experiments;
  int lines = 0;
  bool ok() const { return failures.empty(); }
};

// Looks a dotted path up in a record; nullptr when absent.
const nlohmann::json* lookup(const nlohmann::json& record, const std::string& path);
// Evaluates a condition; returns "" when it holds, else what is wrong.
std::string evaluate(const Condition& c, const nlohmann::json& record);

void check_file(const std::string& path, const RuleSet& rules, Report& report);
std::string format_table(const Report& report);
std::string format_markdown(const Report& report);

}  // namespace ssmlab::checks
