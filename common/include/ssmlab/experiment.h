// experiment.h — what every in-process experiment returns (aggregate runners log it).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace ssmlab {

struct ExperimentResult {
  std::string name;         // experiment name, e.g. "exp1_scalar_equivalence"
  std::string details;      // one human-readable line
  nlohmann::json metrics = nlohmann::json::object();
  bool ok = true;           // the experiment's own check passed
};

}  // namespace ssmlab
