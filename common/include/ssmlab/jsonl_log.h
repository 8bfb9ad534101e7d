// jsonl_log.h — the one log format of ssmlab: JSON Lines, one record per run or eval point.
//
// Design: a record is serialised in memory and written with ONE write(2) on a file opened
// O_APPEND, under an exclusive flock(2). Concurrent writers (threads or processes) therefore
// never interleave or tear lines, and a crash can at worst lose the record being written,
// never corrupt earlier ones. Schema: docs/log-schema.md (kSchemaVersion below).
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "ssmlab/cli.h"

namespace ssmlab {

inline constexpr int kSchemaVersion = 1;

// Appends one JSON object as one line to `path` (parent folders are created).
// If the file does not end in '\n' (a torn last line), the record starts on a new line.
// Refuses a `path` that is not a regular file (FIFO, device). A failed write (EFBIG, ENOSPC)
// cuts the partial record off again. Throws std::runtime_error with the path and errno text.
void append_jsonl(const std::string& path, const nlohmann::json& record);

// Reads every line of a JSONL file (through the checked reader: regular files of at most
// kMaxLogFileBytes); lines that do not parse, or nest deeper than kMaxJsonDepth, are returned
// as null with their raw text in `raw` and the reason in `error` (check_logs reports them).
struct JsonlLine {
  int line_no = 0;
  std::string raw;
  nlohmann::json value;   // null if the line is not valid JSON
  bool terminated = true; // false for a last line without '\n' (a torn write)
  std::string error;       // why `value` is null
};
std::vector<JsonlLine> read_jsonl(const std::string& path);

std::string iso8601_utc_now();
std::string new_run_id();      // 16 hex chars, unique per process run
std::string git_revision();    // the built commit: $SSMLAB_GIT_REV, or `git rev-parse` (+ "-dirty"), or "unknown"

// One experiment run: holds the clock and the common options, and writes records that carry
// the full schema (schema, experiment, family, run_id, timestamp, git, seed, params, metrics,
// summary, status, wall_s, record).
class RunLog {
 public:
  RunLog(const CommonOptions& opts, std::string experiment);

  // `record` names the kind of line: "result" (one per run, the default), "eval", "epoch", ...
  // Non-finite metrics are written as null and make check_logs fail the line.
  nlohmann::json make_record(const nlohmann::json& metrics, const std::string& summary, bool ok,
                             const std::string& record = "result") const;
  // Builds the record and appends it to the log (if a log path is set and the run is not silent);
  // prints nothing (library code such as models::Trainer writes its records this way). Returns it.
  nlohmann::json append(const nlohmann::json& metrics, const std::string& summary, bool ok,
                        const std::string& record = "result") const;
  // append(), then prints "[experiment] summary" on stdout (unless quiet or silent, or always for
  // record == "result" when not silent): a binary's own result lines. Returns the record.
  nlohmann::json write(const nlohmann::json& metrics, const std::string& summary, bool ok,
                       const std::string& record = "result") const;

  // Extra params merged into the record's params (e.g. derived sizes).
  void add_param(const std::string& key, nlohmann::json value) { opts_.params[key] = std::move(value); }
  double elapsed_s() const;
  const CommonOptions& options() const { return opts_; }
  const std::string& run_id() const { return run_id_; }
  const std::string& experiment() const { return experiment_; }

 private:
  CommonOptions opts_;
  std::string experiment_;
  std::string run_id_;
  std::chrono::steady_clock::time_point start_;
};

// Prints unless quiet (progress lines go to stderr so stdout stays clean for tables).
void progress(const CommonOptions& opts, const std::string& line);

}  // namespace ssmlab
