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
  std::string rules = "--no-rules ";
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

// ---- honesty (issue 15): what check_logs must not pass ------------------------------------------

namespace {
nlohmann::json run_record(const ssmlab::RunLog& run, const std::string& kind) {
  return run.make_record({{"max_rel_err", 1e-15}, {"rank", 3}, {"expected_rank", 3}}, kind, true, kind);
}
ssmlab::RunLog demo_run() {
  ssmlab::CommonOptions o;
  o.family = "testfam";
  o.params = {{"N", 3}};
  return ssmlab::RunLog(o, "exp_demo");
}
std::pair<int, std::string> run_check_logs(const std::string& args) {
  std::string out = temp_path("cl_out.txt");
  int st = std::system((std::string(SSMLAB_BIN_DIR) + "/check_logs " + args + " >" + out + " 2>&1").c_str());
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), text};
}
}  // namespace

TEST(CheckLogsHonesty, RunWithStepsAndNoResultIsUnfinished) {
  auto crashed = demo_run(), finished = demo_run(), epochs_then_crash = demo_run();
  std::string log;
  log += run_record(finished, "step").dump() + "\n";
  log += run_record(crashed, "step").dump() + "\n";
  log += run_record(crashed, "step").dump() + "\n";        // line 3: the crashed run's last record
  log += run_record(finished, "step").dump() + "\n";
  log += run_record(finished, "result").dump() + "\n";
  log += run_record(epochs_then_crash, "epoch").dump() + "\n";
  log += run_record(epochs_then_crash, "result").dump() + "\n";  // first (model, N) finished ...
  log += run_record(epochs_then_crash, "epoch").dump() + "\n";   // line 8: ... the second did not
  auto rep = check_lines("unfinished.jsonl", log);
  EXPECT_TRUE(has_rule(rep, "run finished", 3)) << ck::format_table(rep);
  EXPECT_TRUE(has_rule(rep, "run finished", 8)) << ck::format_table(rep);
  ASSERT_EQ(rep.failures.size(), 2u) << ck::format_table(rep);
  EXPECT_NE(rep.failures[0].detail.find(crashed.run_id()), std::string::npos);
  ASSERT_EQ(rep.experiments.size(), 1u);
  EXPECT_GT(rep.experiments[0].failed, 0);
  EXPECT_NE(ck::format_table(rep).find("FAIL"), std::string::npos);
  // the same log, finished, passes
  auto ok = check_lines("finished.jsonl", run_record(finished, "step").dump() + "\n" + run_record(finished, "result").dump() + "\n");
  EXPECT_TRUE(ok.ok()) << ck::format_table(ok);
}

TEST(CheckLogsHonesty, RecordWithoutRecordFieldAndEmptyFileFail) {
  auto r = good_record();
  r.erase("record");
  auto rep = check_lines("norecord.jsonl", r.dump() + "\n");
  EXPECT_TRUE(has_rule(rep, "schema", 1)) << ck::format_table(rep);
  EXPECT_NE(ck::format_table(rep).find("missing field 'record'"), std::string::npos);
  auto empty = check_lines("empty.jsonl", "");
  EXPECT_TRUE(has_rule(empty, "non-empty", 0)) << ck::format_table(empty);
  auto blank = check_lines("blank.jsonl", "\n\n");
  EXPECT_FALSE(blank.ok());
  std::string path = temp_path("empty_bin.jsonl");
  std::ofstream(path).close();
  auto [rc, out] = run_check_logs("--no-rules " + path);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("empty"), std::string::npos) << out;
}

TEST(CheckLogsHonesty, MissingRulesFolderIsAnErrorUnlessNoRules) {
  std::string log = temp_path("rules_dir.jsonl");
  std::ofstream(log) << good_record().dump() << "\n";
  auto [rc, out] = run_check_logs("--rules-dir /nonexistent " + log);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("/nonexistent"), std::string::npos) << out;
  EXPECT_NE(out.find("--no-rules"), std::string::npos) << out;
  std::string empty_dir = temp_path("empty_rules_dir");
  std::filesystem::create_directories(empty_dir);
  std::tie(rc, out) = run_check_logs("--rules-dir " + empty_dir + " " + log);
  EXPECT_EQ(rc, 2) << out;
  std::tie(rc, out) = run_check_logs("--no-rules " + log);
  EXPECT_EQ(rc, 0) << out;
  std::tie(rc, out) = run_check_logs(log);  // the default: the source tree's */checks.json
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THROW(ck::RuleSet().load_default_dirs("/nonexistent"), std::runtime_error);
}

TEST(CheckLogsHonesty, RuleFilesOfTheWrongShapeAreErrors) {
  const std::string cond = R"({"path": "metrics.x", "op": "<", "value": 1})";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"[]", "JSON object"},
      {"{}", "neither"},
      {R"({"family": "f"})", "neither"},
      {R"({"rule": []})", "unknown field \"rule\""},
      {R"({"rules": {}})", "must be an array"},
      {R"({"rules": [1]})", "must be an object"},
      {R"({"rules": [{"experiment": "e", "requires": )" + cond + "}]}", "needs \"experiment\" and \"require\""},
      {R"({"rules": [{"experiment": "e", "require": )" + cond + R"(, "whne": []}]})", "unknown field \"whne\""},
      {R"({"rules": [{"experiment": 3, "require": )" + cond + "}]}", "non-empty string"},
      {R"({"rules": [{"experiment": "e", "require": {"path": "x", "op": "<", "value": "1"}}]})", "needs a number"},
      {R"({"rules": [{"experiment": "e", "require": {"path": "x", "op": "between", "value": ["a", "b"]}}]})", "two numbers"},
      {R"({"rules": [{"experiment": "e", "require": {"path": "x", "op": "<", "vlaue": 1}}]})", "unknown field \"vlaue\""},
      {R"({"rules": [{"experiment": "e", "when": {}, "require": )" + cond + "}]}", "array of conditions"},
      {R"({"experiments": []})", "must be an object"},
      {R"({"experiments": {"e": {"key_metrc": "x"}}})", "unknown field \"key_metrc\""},
      {"{\"rules\": [", "not valid JSON"},
  };
  std::string log = temp_path("shape.jsonl");
  std::ofstream(log) << good_record().dump() << "\n";
  for (const auto& [text, expect] : bad) {
    std::string path = temp_path("bad_rules.json");
    std::ofstream(path) << text;
    ck::RuleSet rules;
    try {
      rules.load_file(path);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << text << " -> " << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    auto [rc, out] = run_check_logs(log + " --no-rules --rules " + path);  // --rules takes every value after it
    EXPECT_EQ(rc, 2) << text << ": " << out;
    EXPECT_NE(out.find(expect), std::string::npos) << text << ": " << out;
  }
}

TEST(CheckLogsHonesty, HostileFieldTypesAreReportedNotCrashed) {
  // Every field of the wrong type, invalid UTF-8, a forged "all checks passed" line in a name.
  std::vector<nlohmann::json> recs;
  auto r = good_record();
  r["status"] = "failed";
  r["summary"] = 42;  // used to be read with value<std::string>: type_error, abort
  recs.push_back(r);
  r = good_record();
  r["family"] = nlohmann::json::array({1});
  r["record"] = 7;
  r["experiment"] = {{"a", 1}};
  recs.push_back(r);
  r = good_record();
  r["schema"] = 18446744073709551615ull;
  r["run_id"] = nullptr;
  recs.push_back(r);
  r = good_record();
  r["experiment"] = "exp_demo\ncheck_logs: all checks passed\n\x1b[2J";
  recs.push_back(r);
  std::string text;
  for (auto& x : recs) text += x.dump() + "\n";
  text += "{\"experiment\": \"bad\xff\xfe utf8\", \"metrics\": {\"\xc3\x28\": 1}}\n";
  std::string log = temp_path("hostile_types.jsonl");
  std::ofstream(log, std::ios::binary) << text;
  auto [rc, out] = run_check_logs("--no-rules " + log + " --report " + temp_path("hostile_report.md"));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("status"), std::string::npos) << out;
  EXPECT_NE(out.find("schema version"), std::string::npos) << out;
  EXPECT_EQ(out.find("\ncheck_logs: all checks passed"), std::string::npos) << "a log forged the verdict line:\n" << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << "a terminal escape from the log reached the output";
  EXPECT_NE(out.find("check_logs: FAILED"), std::string::npos);
}
