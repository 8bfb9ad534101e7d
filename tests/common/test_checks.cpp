// check_logs: each corruption is reported, a clean log passes (library and binary).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ssmlab/checks.h"
#include "ssmlab/jsonl_log.h"

namespace ck = ssmlab::checks;

namespace {
std::string temp_path(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / ("ssmlab_ck_" + std::to_string(::getpid()) + "_" + name)).string();
}
nlohmann::json good_record(double err = 1e-15, int rank = 3) {
  ssmlab::CommonOptions o;
  o.family = "testfam";
  o.params = {{"N", 3}};
  ssmlab::RunLog run(o, "exp_demo");
  return run.make_record({{"max_rel_err", err}, {"rank", rank}, {"expected_rank", 3}}, "demo", true);
}
ck::RuleSet demo_rules() {
  std::string path = temp_path("rules.json");
  std::ofstream(path) << R"({"family": "testfam",
    "experiments": {"exp_demo": {"key_metric": "max_rel_err"}},
    "rules": [
      {"experiment": "exp_demo", "name": "equivalence", "require": {"path": "metrics.max_rel_err", "op": "<", "value": 1e-12}},
      {"experiment": "exp_demo", "name": "rank = expected", "when": [{"path": "params.N", "op": ">=", "value": 1}],
       "require": {"path": "metrics.rank", "op": "==", "ref": "metrics.expected_rank"}}]})";
  ck::RuleSet rules;
  rules.load_file(path);
  return rules;
}
ck::Report check_lines(const std::string& name, const std::string& content) {
  std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary) << content;
  ck::Report rep;
  ck::check_file(path, demo_rules(), rep);
  return rep;
}
bool has_rule(const ck::Report& r, const std::string& rule, int line) {
  for (auto& f : r.failures)
    if (f.rule == rule && f.line == line) return true;
  return false;
}
}  // namespace

TEST(CheckLogs, CleanLogPasses) {
  auto rep = check_lines("clean.jsonl", good_record().dump() + "\n" + good_record(2e-16).dump() + "\n");
  EXPECT_TRUE(rep.ok()) << ck::format_table(rep);
  ASSERT_EQ(rep.experiments.size(), 1u);
  EXPECT_EQ(rep.experiments[0].records, 2);
  EXPECT_EQ(rep.experiments[0].key_value.get<double>(), 2e-16);
}

TEST(CheckLogs, DetectsTornLastLine) {
  std::string line = good_record().dump();
  auto rep = check_lines("torn.jsonl", line + "\n" + line.substr(0, line.size() / 2));
  EXPECT_TRUE(has_rule(rep, "complete line", 2)) << ck::format_table(rep);
}

TEST(CheckLogs, DetectsMissingField) {
  auto r = good_record();
  r.erase("run_id");
  auto rep = check_lines("missing.jsonl", r.dump() + "\n");
  ASSERT_TRUE(has_rule(rep, "schema", 1));
  EXPECT_NE(rep.failures[0].detail.find("run_id"), std::string::npos);
}

TEST(CheckLogs, DetectsNonFiniteMetric) {
  auto r = good_record();
  r["metrics"]["loss"] = nullptr;  // how the logger writes NaN
  auto rep = check_lines("nan.jsonl", r.dump() + "\n" + R"({"metrics": {"x": NaN}})" + "\n");
  EXPECT_TRUE(has_rule(rep, "finite metrics", 1)) << ck::format_table(rep);
  EXPECT_TRUE(has_rule(rep, "valid JSON", 2));  // a literal NaN is not JSON
}

TEST(CheckLogs, DetectsFailedInvariantsAndFailedStatus) {
  auto bad_err = good_record(1e-3);
  auto bad_rank = good_record(1e-15, 2);
  auto failed = good_record();
  failed["status"] = "failed";
  auto rep = check_lines("inv.jsonl", bad_err.dump() + "\n" + bad_rank.dump() + "\n" + failed.dump() + "\n");
  EXPECT_TRUE(has_rule(rep, "equivalence", 1)) << ck::format_table(rep);
  EXPECT_TRUE(has_rule(rep, "rank = expected", 2));
  EXPECT_TRUE(has_rule(rep, "status", 3));
  EXPECT_EQ(rep.failures.size(), 3u);
}

TEST(CheckLogs, ConditionOperators) {
  nlohmann::json r = {{"metrics", {{"x", 1.5}, {"s", "a"}}}};
  EXPECT_EQ(ck::evaluate({"metrics.x", "between", "", {1, 2}}, r), "");
  EXPECT_NE(ck::evaluate({"metrics.x", "between", "", {2, 3}}, r), "");
  EXPECT_EQ(ck::evaluate({"metrics.s", "==", "", "a"}, r), "");
  EXPECT_NE(ck::evaluate({"metrics.y", "exists", "", nullptr}, r), "");
  EXPECT_NE(ck::evaluate({"metrics.s", "<", "", 1}, r), "");
}

TEST(CheckLogs, BinaryExitCodesAndMessages) {
  std::string clean = temp_path("bin_clean.jsonl"), bad = temp_path("bin_bad.jsonl"), out = temp_path("bin_out.txt");
  std::ofstream(clean) << good_record().dump() << "\n";
  auto r = good_record();
  r.erase("metrics");
  std::ofstream(bad) << r.dump() << "\n";
  std::string bin = std::string(SSMLAB_BIN_DIR) + "/check_logs";
  std::string rules = "--rules-dir /nonexistent ";
  EXPECT_EQ(WEXITSTATUS(std::system((bin + " " + rules + clean + " >" + out + " 2>&1").c_str())), 0);
  EXPECT_EQ(WEXITSTATUS(std::system((bin + " " + rules + clean + " " + bad + " >" + out + " 2>&1").c_str())), 1);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(bad + ":1"), std::string::npos) << text;
  EXPECT_NE(text.find("missing field 'metrics'"), std::string::npos) << text;
  EXPECT_EQ(WEXITSTATUS(std::system((bin + " /no/such.jsonl >" + out + " 2>&1").c_str())), 2);
}

TEST(CheckLogs, FamilyRuleFilesInTheTreeAreValid) {
  ck::RuleSet rules;
  EXPECT_NO_THROW(rules.load_default_dirs(SSMLAB_SOURCE_DIR));
}
