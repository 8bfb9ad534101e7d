// checks.cpp — see checks.h.
#include "ssmlab/checks.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "ssmlab/jsonl_log.h"

namespace ssmlab::checks {

namespace {
Condition parse_condition(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("path") || !j.contains("op"))
    throw std::runtime_error(where + ": a condition needs \"path\" and \"op\"");
  Condition c;
  c.path = j.at("path").get<std::string>();
  c.op = j.at("op").get<std::string>();
  static const char* kOps[] = {"<", "<=", ">", ">=", "==", "!=", "between", "exists"};
  bool known = false;
  for (auto* o : kOps) known |= c.op == o;
  if (!known) throw std::runtime_error(where + ": unknown op '" + c.op + "'");
  if (j.contains("ref")) c.ref = j.at("ref").get<std::string>();
  if (j.contains("value")) c.value = j.at("value");
  if (c.op != "exists" && c.ref.empty() && !j.contains("value"))
    throw std::runtime_error(where + ": condition on '" + c.path + "' needs \"value\" or \"ref\"");
  if (c.op == "between" && !(c.value.is_array() && c.value.size() == 2))
    throw std::runtime_error(where + ": 'between' needs value [lo, hi]");
  return c;
}

std::string show(const nlohmann::json& v) { return v.dump(); }

// Recursively finds null / non-finite numbers in metrics.
void find_nonfinite(const nlohmann::json& v, const std::string& path, std::vector<std::string>& out) {
  if (v.is_null()) out.push_back(path);
  else if (v.is_number_float() && !std::isfinite(v.get<double>())) out.push_back(path);
  else if (v.is_string()) {
    auto s = v.get<std::string>();
    if (s == "nan" || s == "NaN" || s == "inf" || s == "-inf" || s == "Infinity") out.push_back(path);
  } else if (v.is_object()) {
    for (auto& [k, x] : v.items()) find_nonfinite(x, path + "." + k, out);
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) find_nonfinite(v[i], path + "[" + std::to_string(i) + "]", out);
  }
}
}  // namespace

void RuleSet::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open rule file '" + path + "'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw std::runtime_error("rule file '" + path + "' is not valid JSON: " + e.what());
  }
  if (j.contains("experiments"))
    for (auto& [k, v] : j["experiments"].items()) experiments[k] = v;
  if (!j.contains("rules")) return;
  int i = 0;
  for (auto& r : j["rules"]) {
    std::string where = path + " rule " + std::to_string(i++);
    Rule rule;
    if (!r.contains("experiment") || !r.contains("require"))
      throw std::runtime_error(where + ": needs \"experiment\" and \"require\"");
    rule.experiment = r["experiment"].get<std::string>();
    rule.name = r.value("name", r["require"].value("path", std::string("rule")));
    if (r.contains("when"))
      for (auto& c : r["when"]) rule.when.push_back(parse_condition(c, where));
    rule.require = parse_condition(r["require"], where);
    rules.push_back(std::move(rule));
  }
}

void RuleSet::load_default_dirs(const std::string& source_dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(source_dir)) return;
  std::vector<std::string> files;
  for (auto& d : fs::directory_iterator(source_dir)) {
    auto f = d.path() / "checks.json";
    if (d.is_directory() && fs::exists(f)) files.push_back(f.string());
  }
  std::sort(files.begin(), files.end());
  for (auto& f : files) load_file(f);
}

const nlohmann::json* lookup(const nlohmann::json& record, const std::string& path) {
  const nlohmann::json* cur = &record;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '.')) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::string evaluate(const Condition& c, const nlohmann::json& record) {
  const nlohmann::json* lhs = lookup(record, c.path);
  if (c.op == "exists") return lhs ? "" : c.path + " is missing";
  if (!lhs) return c.path + " is missing";
  nlohmann::json rhs = c.value;
  std::string rhs_name = show(c.value);
  if (!c.ref.empty()) {
    const nlohmann::json* r = lookup(record, c.ref);
    if (!r) return c.ref + " is missing";
    rhs = *r;
    rhs_name = c.ref + " (" + show(*r) + ")";
  }
  auto fail = [&](const std::string& what) { return c.path + " = " + show(*lhs) + ", expected " + what; };
  if (c.op == "==") return *lhs == rhs ? "" : fail("== " + rhs_name);
  if (c.op == "!=") return *lhs != rhs ? "" : fail("!= " + rhs_name);
  if (!lhs->is_number()) return fail("a number (op " + c.op + ")");
  double x = lhs->get<double>();
  if (!std::isfinite(x)) return fail("a finite number");
  if (c.op == "between") {
    double lo = rhs[0].get<double>(), hi = rhs[1].get<double>();
    return (x >= lo && x <= hi) ? "" : fail("in [" + show(rhs[0]) + ", " + show(rhs[1]) + "]");
  }
  if (!rhs.is_number()) return rhs_name + " is not a number";
  double y = rhs.get<double>();
  bool ok = (c.op == "<" && x < y) || (c.op == "<=" && x <= y) || (c.op == ">" && x > y) || (c.op == ">=" && x >= y);
  return ok ? "" : fail(c.op + " " + rhs_name);
}

void check_file(const std::string& path, const RuleSet& rules, Report& report) {
  std::vector<JsonlLine> lines;
  try {
    lines = read_jsonl(path);
  } catch (const std::exception& e) {
    report.failures.push_back({path, 0, "", "readable", e.what()});
    return;
  }
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < report.experiments.size(); ++i) index[report.experiments[i].experiment] = i;
  for (const auto& l : lines) {
    ++report.lines;
    auto add = [&](const std::string& exp, const std::string& rule, const std::string& detail) {
      report.failures.push_back({path, l.line_no, exp, rule, detail});
    };
    if (!l.terminated) {
      add("", "complete line", "last line has no newline: truncated or torn write");
      if (l.value.is_null()) continue;
    }
    if (l.value.is_null() || !l.value.is_object()) {
      add("", "valid JSON", "line is not a JSON object: " + l.raw.substr(0, 80));
      continue;
    }
    const auto& r = l.value;
    std::string exp = r.contains("experiment") && r["experiment"].is_string() ? r["experiment"].get<std::string>() : "?";
    int before = static_cast<int>(report.failures.size());
    // schema
    struct Field { const char* name; bool (nlohmann::json::*is)() const noexcept; };
    static const Field kFields[] = {
        {"schema", &nlohmann::json::is_number_integer}, {"experiment", &nlohmann::json::is_string},
        {"family", &nlohmann::json::is_string},         {"run_id", &nlohmann::json::is_string},
        {"timestamp", &nlohmann::json::is_string},      {"git", &nlohmann::json::is_string},
        {"seed", &nlohmann::json::is_number},           {"params", &nlohmann::json::is_object},
        {"metrics", &nlohmann::json::is_object},        {"summary", &nlohmann::json::is_string},
        {"status", &nlohmann::json::is_string},         {"wall_s", &nlohmann::json::is_number}};
    for (const auto& f : kFields) {
      if (!r.contains(f.name)) add(exp, "schema", std::string("missing field '") + f.name + "'");
      else if (!(r[f.name].*(f.is))()) add(exp, "schema", std::string("field '") + f.name + "' has the wrong type");
    }
    if (r.contains("schema") && r["schema"].is_number_integer() && r["schema"].get<int>() > kSchemaVersion)
      add(exp, "schema", "schema version " + r["schema"].dump() + " is newer than this check_logs (" + std::to_string(kSchemaVersion) + ")");
    if (r.contains("status") && r["status"].is_string()) {
      auto s = r["status"].get<std::string>();
      if (s == "failed") add(exp, "status", "the run reported status \"failed\": " + r.value("summary", std::string()));
      else if (s != "ok") add(exp, "schema", "status must be \"ok\" or \"failed\" (got \"" + s + "\")");
    }
    if (r.contains("wall_s") && r["wall_s"].is_number() && !(r["wall_s"].get<double>() >= 0))
      add(exp, "schema", "wall_s must be >= 0");
    if (r.contains("metrics")) {
      std::vector<std::string> bad;
      find_nonfinite(r["metrics"], "metrics", bad);
      for (auto& b : bad) add(exp, "finite metrics", b + " is NaN, inf or null");
    }
    // family invariants
    for (const auto& rule : rules.rules) {
      if (rule.experiment != exp) continue;
      bool applies = true;
      for (const auto& w : rule.when) applies = applies && evaluate(w, r).empty();
      if (!applies) continue;
      std::string why = evaluate(rule.require, r);
      if (!why.empty()) add(exp, rule.name, why);
    }
    // summary
    if (!index.count(exp)) {
      index[exp] = report.experiments.size();
      ExperimentSummary s;
      s.experiment = exp;
      s.family = r.value("family", std::string("?"));
      if (rules.experiments.contains(exp)) s.key_metric = rules.experiments[exp].value("key_metric", std::string());
      report.experiments.push_back(s);
    }
    auto& s = report.experiments[index[exp]];
    ++s.records;
    if (static_cast<int>(report.failures.size()) > before) ++s.failed;
    if (!s.key_metric.empty() && r.value("record", std::string("result")) == "result") {
      if (auto* v = lookup(r, "metrics." + s.key_metric)) s.key_value = *v;
    }
  }
}

namespace {
std::string short_value(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v.get<double>());
    return buf;
  }
  return v.dump();
}
}  // namespace

std::string format_table(const Report& report) {
  std::ostringstream os;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-34s %-16s %8s %8s  %-28s %s\n", "experiment", "family", "records", "failed", "key metric", "check");
  os << buf;
  for (auto& s : report.experiments) {
    std::string km = s.key_metric.empty() ? "-" : s.key_metric + "=" + short_value(s.key_value);
    std::snprintf(buf, sizeof buf, "%-34s %-16s %8d %8d  %-28s %s\n", s.experiment.c_str(), s.family.c_str(), s.records,
                  s.failed, km.c_str(), s.failed ? "FAIL" : "pass");
    os << buf;
  }
  for (auto& f : report.failures)
    os << "FAIL " << f.file << ":" << f.line << ": " << (f.experiment.empty() ? "" : f.experiment + ": ") << "[" << f.rule
       << "] " << f.detail << "\n";
  os << report.lines << " lines, " << report.failures.size() << " failures\n";
  return os.str();
}

std::string format_markdown(const Report& report) {
  std::ostringstream os;
  os << "| experiment | family | records | key metric | value | check |\n|---|---|---:|---|---:|---|\n";
  for (auto& s : report.experiments)
    os << "| " << s.experiment << " | " << s.family << " | " << s.records << " | " << (s.key_metric.empty() ? "-" : s.key_metric)
       << " | " << short_value(s.key_value) << " | " << (s.failed ? "**FAIL**" : "pass") << " |\n";
  if (!report.failures.empty()) {
    os << "\nFailures:\n\n";
    for (auto& f : report.failures)
      os << "- `" << f.file << ":" << f.line << "` " << f.experiment << " [" << f.rule << "] " << f.detail << "\n";
  }
  return os.str();
}

}  // namespace ssmlab::checks
