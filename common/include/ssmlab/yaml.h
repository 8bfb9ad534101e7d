// yaml.h — YAML config files as JSON values (for Cli's --config FILE.yaml and run folders' config.yaml).
//
// Design: the rest of ssmlab speaks nlohmann::json, so YAML is only a surface syntax. parse_yaml maps
// a YAML document onto JSON (mapping -> object, sequence -> array; a plain scalar becomes null, a
// bool (true/false), an integer or a double when it reads as one, else a string; a quoted scalar is
// always a string), and to_yaml writes JSON back as block YAML whose scalars are JSON literals
// (a JSON string is a valid YAML double-quoted scalar), so to_yaml's output parses back unchanged.
// Parsing needs yaml-cpp (Debian libyaml-cpp-dev, found at configure time: SSMLAB_HAVE_YAML);
// without it parse_yaml throws a clear error and JSON configs keep working. to_yaml needs nothing.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace ssmlab {

// True when this build can read YAML (yaml-cpp was found at configure time).
bool have_yaml();
// True for paths ending in .yaml or .yml (case-insensitive).
bool is_yaml_path(const std::string& path);
// The YAML document `text` as JSON; `where` names the source in error messages. Throws
// std::runtime_error for a syntax error (with line and column) or a build without yaml-cpp.
nlohmann::json parse_yaml(const std::string& text, const std::string& where);
// `j` as block YAML (objects as "key: value" lines, arrays of scalars in flow style [a, b]).
std::string to_yaml(const nlohmann::json& j);

}  // namespace ssmlab
