// table.h — the duality experiments as one table, which drives every entry point.
//
// Design: one row per experiment {name, program, description, key metric, parameters (their
// flags declared once, by the experiment's add_flags), run}. The rows drive
//   - the per-experiment binaries: one generic main (bin/experiment.cpp) compiled once per
//     program name, which declares the row's flags bare (--T, --T-values, ...);
//   - run_and_log, which declares every row's flags with the prefix "<name>-" (--exp3-T-values);
//   - verify_ssd, which runs every row once with its defaults and prints the key metric.
// A record's params are the flags' values (as the binary's Cli reports them) merged with
// Params::to_json(), so run_and_log and the binary write the same record for the same flags.
// Figures are not drawn here: every figure is drawn from the log by plot_logs --spec
// duality/plots.json (the records it reads are "eval", "point" and "result", experiments.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "duality/experiments.h"

namespace ssmlab::duality {

// One experiment's parameters behind a common interface: the Params of that experiment, with
// its flags, its run and its record params.
class Configured {
 public:
  virtual ~Configured() = default;
  // Declares the experiment's flags, --<prefix><flag>, bound to these parameters.
  virtual void add_flags(Cli& cli, const std::string& prefix) = 0;
  virtual std::uint64_t& seed() = 0;                    // bound to the common --seed by the binaries
  virtual nlohmann::json to_json() const = 0;           // Params::to_json()
  virtual ExperimentResult run() const = 0;             // throws std::invalid_argument for bad params
  virtual std::unique_ptr<Configured> clone() const = 0;
};

template <class P>
class ConfiguredParams final : public Configured {
 public:
  using AddFlags = void (*)(Cli&, P*, const std::string&);
  using Run = ExperimentResult (*)(const P&);
  ConfiguredParams(AddFlags add_flags, Run run) : add_flags_(add_flags), run_(run) {}
  void add_flags(Cli& cli, const std::string& prefix) override { add_flags_(cli, &params, prefix); }
  std::uint64_t& seed() override { return params.seed; }
  nlohmann::json to_json() const override { return params.to_json(); }
  ExperimentResult run() const override { return run_(params); }
  std::unique_ptr<Configured> clone() const override { return std::make_unique<ConfiguredParams>(*this); }
  P params;  // starts at the experiment's defaults

 private:
  AddFlags add_flags_;
  Run run_;
};

// The experiment's own Params inside `c`, or nullptr if `c` belongs to another experiment.
template <class P>
P* params_of(Configured& c) {
  auto* typed = dynamic_cast<ConfiguredParams<P>*>(&c);
  return typed ? &typed->params : nullptr;
}

struct Experiment {
  std::string name;         // short name: run_and_log --experiment NAME, flag prefix "NAME-"
  std::string program;      // the binary, and the records' "experiment"
  std::string description;  // the binary's --help text
  std::string key_metric;   // verify_ssd's column (= duality/checks.json's key_metric)
  std::unique_ptr<Configured> (*make)();  // the parameters at their defaults
};

// Every experiment, in run order (exp1 exp2 exp2b exp3 exp3b exp4 exp4b exp5 exp5b exp6).
const std::vector<Experiment>& experiments();
// The row whose name or program is `name_or_program`; throws std::invalid_argument otherwise.
const Experiment& find_experiment(const std::string& name_or_program);

// Runs c and writes its records (log_result). `flag_params` are the flag values for the record
// (what Cli::parse put in CommonOptions::params for the bare flags, plus seed and threads).
ExperimentResult run_and_record(const CommonOptions& opts, const nlohmann::json& flag_params, const Configured& c);

// The error text for --plot (and run_and_log's former --NAME-plot): figures come from the log.
std::string plot_moved();

// The whole main of a per-experiment binary: flags, run, record. Exit 0 / 1 (the experiment's own
// check failed) / 2 (usage error, including --plot: plot_moved()).
int experiment_main(const std::string& program, int argc, char** argv);

}  // namespace ssmlab::duality
