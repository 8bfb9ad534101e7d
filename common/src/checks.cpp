// checks.cpp — see checks.h.
#include "ssmlab/checks.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>
#include <stdexcept>

#include "ssmlab/jsonl_log.h"
#include "ssmlab/safe_io.h"

namespace ssmlab::checks {

namespace {
bool is_comment_key(const std::string& k) { return k.rfind("//", 0) == 0 || k.rfind("_", 0) == 0 || k == "description"; }

// Throws unless every key of `j` is in `allowed` (or a comment key): catches misspelt fields,
// which would otherwise silently disable a check.
void only_keys(const nlohmann::json& j, std::initializer_list<const char*> allowed, const std::string& where) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = is_comment_key(it.key());
    for (auto* a : allowed) ok = ok || it.key() == a;
    if (!ok) {
      std::string list;
      for (auto* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
      throw std::runtime_error(where + ": unknown field \"" + printable(it.key()) + "\" (expected " + list + ")");
    }
  }
}

std::string string_field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw std::runtime_error(where + ": needs \"" + key + "\"");
  if (!j[key].is_string() || j[key].get<std::string>().empty())
    throw std::runtime_error(where + ": \"" + key + "\" must be a non-empty string");
  return j[key].get<std::string>();
}

Condition parse_condition(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("path") || !j.contains("op"))
    throw std::runtime_error(where + ": a condition needs \"path\" and \"op\"");
  only_keys(j, {"path", "op", "value", "ref"}, where);
  Condition c;
  c.path = string_field(j, "path", where);
  c.op = string_field(j, "op", where);
  static const char* kOps[] = {"<", "<=", ">", ">=", "==", "!=", "between", "exists"};
  bool known = false;
  for (auto* o : kOps) known |= c.op == o;
  if (!known) throw std::runtime_error(where + ": unknown op '" + printable(c.op) + "'");
  if (j.contains("ref")) c.ref = string_field(j, "ref", where);
  if (j.contains("value")) c.value = j.at("value");
  if (c.op != "exists" && c.ref.empty() && !j.contains("value"))
    throw std::runtime_error(where + ": condition on '" + c.path + "' needs \"value\" or \"ref\"");
  if (c.op == "between" && !(c.value.is_array() && c.value.size() == 2 && c.value[0].is_number() && c.value[1].is_number()))
    throw std::runtime_error(where + ": 'between' needs value [lo, hi] (two numbers)");
  if ((c.op == "<" || c.op == "<=" || c.op == ">" || c.op == ">=") && c.ref.empty() && !c.value.is_number())
    throw std::runtime_error(where + ": op '" + c.op + "' needs a number as value");
  return c;
}

std::string show(const nlohmann::json& v) { return printable(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)); }

// Finds null / non-finite numbers in metrics (depth is bounded by the reader's nesting limit).
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

// A string field of an untrusted record, or `fallback` when absent or not a string.
std::string str_of(const nlohmann::json& r, const char* key, const std::string& fallback = std::string()) {
  auto it = r.find(key);
  return it != r.end() && it->is_string() ? it->get<std::string>() : fallback;
}
}  // namespace

void RuleSet::load_file(const std::string& path) {
  nlohmann::json j;
  try {
    j = read_json_file(path);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("rule file: ") + e.what());
  }
  if (!j.is_object()) throw std::runtime_error("rule file '" + path + "' must hold a JSON object");
  only_keys(j, {"family", "experiments", "rules"}, "rule file '" + path + "'");
  if (!j.contains("rules") && !j.contains("experiments"))
    throw std::runtime_error("rule file '" + path + "' has neither \"rules\" nor \"experiments\"");
  if (j.contains("family") && !j["family"].is_string())
    throw std::runtime_error("rule file '" + path + "': \"family\" must be a string");
  if (j.contains("experiments")) {
    if (!j["experiments"].is_object())
      throw std::runtime_error("rule file '" + path + "': \"experiments\" must be an object of experiment: {key_metric}");
    for (auto& [k, v] : j["experiments"].items()) {
      std::string where = path + " experiment '" + printable(k) + "'";
      if (!v.is_object()) throw std::runtime_error(where + ": must be an object");
      only_keys(v, {"key_metric"}, where);
      if (v.contains("key_metric")) string_field(v, "key_metric", where);
      experiments[k] = v;
    }
  }
  if (!j.contains("rules")) return;
  if (!j["rules"].is_array()) throw std::runtime_error("rule file '" + path + "': \"rules\" must be an array");
  int i = 0;
  for (auto& r : j["rules"]) {
    std::string where = path + " rule " + std::to_string(i++);
    if (!r.is_object()) throw std::runtime_error(where + ": must be an object");
    if (!r.contains("experiment") || !r.contains("require"))
      throw std::runtime_error(where + ": needs \"experiment\" and \"require\"");
    only_keys(r, {"experiment", "name", "when", "require"}, where);
    Rule rule;
    rule.experiment = string_field(r, "experiment", where);
    rule.require = parse_condition(r["require"], where);
    rule.name = r.contains("name") ? string_field(r, "name", where) : rule.require.path;
    if (r.contains("when")) {
      if (!r["when"].is_array()) throw std::runtime_error(where + ": \"when\" must be an array of conditions");
      for (auto& c : r["when"]) rule.when.push_back(parse_condition(c, where));
    }
    rules.push_back(std::move(rule));
  }
}

void RuleSet::load_default_dirs(const std::string& source_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(source_dir, ec))
    throw std::runtime_error("rules folder '" + source_dir + "' is not a directory (--no-rules checks the schema only)");
  std::vector<std::string> files;
  for (auto& d : fs::directory_iterator(source_dir, ec)) {
    auto f = d.path() / "checks.json";
    std::error_code e2;
    if (d.is_directory(e2) && fs::exists(f, e2)) files.push_back(f.string());
  }
  if (ec) throw std::runtime_error("cannot list rules folder '" + source_dir + "': " + ec.message());
  if (files.empty())
    throw std::runtime_error("rules folder '" + source_dir + "' has no */checks.json (--no-rules checks the schema only)");
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
  if (lines.empty()) {
    report.failures.push_back({path, 0, "", "non-empty", "the log holds no records (empty file)"});
    return;
  }
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < report.experiments.size(); ++i) index[report.experiments[i].experiment] = i;
  // run_id -> its last record (line, kind, experiment), in order of first appearance
  struct RunEnd { int line = 0; std::string kind, experiment; };
  std::vector<std::string> run_order;
  std::map<std::string, RunEnd> run_end;
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
      add("", "valid JSON", "line is not a JSON object: " + (l.error.empty() ? printable(l.raw.substr(0, 80)) : l.error));
      continue;
    }
    const auto& r = l.value;
    std::string exp = str_of(r, "experiment", "?");
    int before = static_cast<int>(report.failures.size());
    // schema
    struct Field { const char* name; bool (nlohmann::json::*is)() const noexcept; };
    static const Field kFields[] = {
        {"schema", &nlohmann::json::is_number_integer}, {"experiment", &nlohmann::json::is_string},
        {"family", &nlohmann::json::is_string},         {"record", &nlohmann::json::is_string},
        {"run_id", &nlohmann::json::is_string},         {"timestamp", &nlohmann::json::is_string},
        {"git", &nlohmann::json::is_string},            {"seed", &nlohmann::json::is_number},
        {"params", &nlohmann::json::is_object},         {"metrics", &nlohmann::json::is_object},
        {"summary", &nlohmann::json::is_string},        {"status", &nlohmann::json::is_string},
        {"wall_s", &nlohmann::json::is_number}};
    for (const auto& f : kFields) {
      if (!r.contains(f.name)) add(exp, "schema", std::string("missing field '") + f.name + "'");
      else if (!(r[f.name].*(f.is))()) add(exp, "schema", std::string("field '") + f.name + "' has the wrong type");
    }
    if (r.contains("schema") && r["schema"].is_number_integer()) {
      const auto& v = r["schema"];
      bool newer = v.is_number_unsigned() ? v.get<std::uint64_t>() > static_cast<std::uint64_t>(kSchemaVersion)
                                          : v.get<std::int64_t>() > kSchemaVersion;
      if (newer)
        add(exp, "schema", "schema version " + v.dump() + " is newer than this check_logs (" + std::to_string(kSchemaVersion) + ")");
      else if (!v.is_number_unsigned() && v.get<std::int64_t>() < 1)
        add(exp, "schema", "schema version " + v.dump() + " is not a version (versions start at 1)");
    }
    if (r.contains("record") && r["record"].is_string() && r["record"].get<std::string>().empty())
      add(exp, "schema", "field 'record' is empty");
    if (r.contains("status") && r["status"].is_string()) {
      auto s = r["status"].get<std::string>();
      if (s == "failed") add(exp, "status", "the run reported status \"failed\": " + printable(str_of(r, "summary")));
      else if (s != "ok") add(exp, "schema", "status must be \"ok\" or \"failed\" (got \"" + printable(s) + "\")");
    }
    if (r.contains("wall_s") && r["wall_s"].is_number() && !(r["wall_s"].get<double>() >= 0))
      add(exp, "schema", "wall_s must be >= 0");
    // A "failed" record is a finished run that says it failed (a diverged training run, a
    // violated invariant): the one failure reported for it is its status and summary; its metrics
    // (a diverged loss, missing accuracies) are not checked again against finiteness and rules.
    const bool failed_record = r.contains("status") && r["status"].is_string() && r["status"].get<std::string>() == "failed";
    if (r.contains("metrics") && !failed_record) {
      std::vector<std::string> bad;
      find_nonfinite(r["metrics"], "metrics", bad);
      for (auto& b : bad) add(exp, "finite metrics", printable(b) + " is NaN, inf or null");
    }
    // family invariants
    for (const auto& rule : rules.rules) {
      if (failed_record) break;
      if (rule.experiment != exp) continue;
      bool applies = true;
      for (const auto& w : rule.when) applies = applies && evaluate(w, r).empty();
      if (!applies) continue;
      std::string why = evaluate(rule.require, r);
      if (!why.empty()) add(exp, rule.name, why);
    }
    // where each run ends
    const std::string run_id = str_of(r, "run_id");
    if (!run_id.empty()) {
      if (!run_end.count(run_id)) run_order.push_back(run_id);
      run_end[run_id] = {l.line_no, str_of(r, "record"), exp};
    }
    // summary
    if (!index.count(exp)) {
      index[exp] = report.experiments.size();
      ExperimentSummary s;
      s.experiment = exp;
      s.family = str_of(r, "family", "?");
      auto e = rules.experiments.find(exp);
      if (e != rules.experiments.end() && e->is_object()) s.key_metric = str_of(*e, "key_metric");
      report.experiments.push_back(s);
    }
    auto& s = report.experiments[index[exp]];
    ++s.records;
    if (static_cast<int>(report.failures.size()) > before) ++s.failed;
    if (!s.key_metric.empty() && str_of(r, "record") == "result") {
      if (auto* v = lookup(r, "metrics." + s.key_metric)) s.key_value = *v;
    }
  }
  // A run ends with its "result" record; one whose last record is anything else (step, epoch,
  // eval, ...) crashed or was killed before it finished, and its numbers are not a result.
  for (const auto& id : run_order) {
    const RunEnd& e = run_end[id];
    if (e.kind == "result") continue;
    report.failures.push_back({path, e.line, e.experiment, "run finished",
                               "run " + printable(id) + " ends with a \"" + printable(e.kind) +
                                   "\" record and no \"result\" after it: it crashed or was killed before finishing"});
    auto it = index.find(e.experiment);
    if (it != index.end()) ++report.experiments[it->second].failed;
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
  std::string d = show(v);
  return d.size() > 40 ? d.substr(0, 40) + "..." : d;
}
// Strings from a log as one table cell: no control characters (no forged lines, no terminal
// escapes), bounded length.
std::string cell(const std::string& s, size_t max = 80) {
  std::string p = printable(s);
  return p.size() > max ? p.substr(0, max) + "..." : p;
}
// ... and for markdown: no '|' (a new column) or '`' (unbalanced code spans).
std::string md(const std::string& s, size_t max = 80) {
  std::string out;
  for (char c : cell(s, max)) {
    if (c == '|') out += "\\|";
    else if (c == '`') out += '\'';
    else out += c;
  }
  return out;
}
}  // namespace

std::string format_table(const Report& report) {
  std::ostringstream os;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-34s %-16s %8s %8s  %-28s %s\n", "experiment", "family", "records", "failed", "key metric", "check");
  os << buf;
  for (auto& s : report.experiments) {
    std::string km = s.key_metric.empty() ? "-" : cell(s.key_metric, 40) + "=" + short_value(s.key_value);
    std::snprintf(buf, sizeof buf, "%-34s %-16s %8d %8d  %-28s %s\n", cell(s.experiment).c_str(), cell(s.family, 40).c_str(),
                  s.records, s.failed, km.c_str(), s.failed ? "FAIL" : "pass");
    os << buf;
  }
  for (auto& f : report.failures)
    os << "FAIL " << cell(f.file, 4096) << ":" << f.line << ": " << (f.experiment.empty() ? "" : cell(f.experiment) + ": ")
       << "[" << cell(f.rule, 200) << "] " << cell(f.detail, 4096) << "\n";
  os << report.lines << " lines, " << report.failures.size() << " failures\n";
  return os.str();
}

std::string format_markdown(const Report& report) {
  std::ostringstream os;
  os << "| experiment | family | records | key metric | value | check |\n|---|---|---:|---|---:|---|\n";
  for (auto& s : report.experiments)
    os << "| " << md(s.experiment) << " | " << md(s.family) << " | " << s.records << " | "
       << (s.key_metric.empty() ? "-" : md(s.key_metric)) << " | " << md(short_value(s.key_value)) << " | "
       << (s.failed ? "**FAIL**" : "pass") << " |\n";
  if (!report.failures.empty()) {
    os << "\nFailures:\n\n";
    for (auto& f : report.failures)
      os << "- `" << md(f.file, 4096) << ":" << f.line << "` " << md(f.experiment) << " [" << md(f.rule, 200) << "] "
         << md(f.detail, 4096) << "\n";
  }
  return os.str();
}

}  // namespace ssmlab::checks
