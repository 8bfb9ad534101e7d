// results.cpp — see results.h.
#include "smt/results.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "ssmlab/safe_io.h"

namespace fs = std::filesystem;

namespace ssmlab::smt {

const std::vector<std::string>& run_files() {
  static const std::vector<std::string> files{"config.yaml", "results.json", "metrics_history.json", "best_model.ckpt",
                                              "checkpoint_last.ckpt"};
  return files;
}

std::vector<std::string> find_runs(const std::string& root) {
  if (!fs::is_directory(root)) throw std::runtime_error("--results: '" + root + "' is not a folder");
  std::vector<std::string> runs;
  if (fs::is_regular_file(fs::path(root) / "results.json")) runs.push_back(root);
  for (const auto& e : fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied))
    if (e.is_directory() && fs::is_regular_file(e.path() / "results.json")) runs.push_back(e.path().string());
  std::sort(runs.begin(), runs.end());
  return runs;
}

namespace {
nlohmann::json read_json(const fs::path& p) {
  try {
    return read_json_file(p.string());
  } catch (const std::exception& e) {
    throw std::runtime_error(p.string() + ": " + e.what());
  }
}
}  // namespace

nlohmann::json read_results(const std::string& run_dir) {
  auto j = read_json(fs::path(run_dir) / "results.json");
  if (!j.is_object()) throw std::runtime_error(run_dir + "/results.json: not a JSON object");
  return j;
}

nlohmann::json read_history(const std::string& run_dir) {
  auto j = read_json(fs::path(run_dir) / "metrics_history.json");
  if (!j.is_array()) throw std::runtime_error(run_dir + "/metrics_history.json: not a JSON array");
  return j;
}

}  // namespace ssmlab::smt
