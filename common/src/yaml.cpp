// yaml.cpp — see yaml.h.
#include "ssmlab/yaml.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#ifdef SSMLAB_HAVE_YAML
#include <yaml-cpp/yaml.h>
#endif

namespace ssmlab {

bool have_yaml() {
#ifdef SSMLAB_HAVE_YAML
  return true;
#else
  return false;
#endif
}

bool is_yaml_path(const std::string& path) {
  std::string p = path;
  std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto ends = [&](const std::string& s) { return p.size() >= s.size() && p.compare(p.size() - s.size(), s.size(), s) == 0; };
  return ends(".yaml") || ends(".yml");
}

#ifdef SSMLAB_HAVE_YAML
namespace {
// A plain (unquoted) scalar typed as YAML 1.2's core schema would type it.
nlohmann::json plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  const char* b = s.c_str();
  char* end = nullptr;
  errno = 0;
  const long long i = std::strtoll(b, &end, 10);
  if (end && *end == '\0' && errno == 0) return i;
  errno = 0;
  const double d = std::strtod(b, &end);
  const bool hexlike = s.find_first_of("xXpP") != std::string::npos;  // strtod reads hex floats: YAML does not
  if (end && *end == '\0' && errno == 0 && !hexlike && s.find_first_not_of("+-.0123456789eE") == std::string::npos) return d;
  return s;
}

nlohmann::json to_json(const YAML::Node& n, int depth) {
  if (depth > 64) throw std::runtime_error("nested more than 64 levels");
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Scalar: return n.Tag() == "!" ? nlohmann::json(n.Scalar()) : plain_scalar(n.Scalar());
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& x : n) a.push_back(to_json(x, depth + 1));
      return a;
    }
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& kv : n) {
        const std::string key = kv.first.Scalar();
        if (o.contains(key)) throw std::runtime_error("duplicate key '" + key + "'");
        o[key] = to_json(kv.second, depth + 1);
      }
      return o;
    }
  }
  return nullptr;
}
}  // namespace
#endif

nlohmann::json parse_yaml(const std::string& text, const std::string& where) {
#ifdef SSMLAB_HAVE_YAML
  try {
    return to_json(YAML::Load(text), 0);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("YAML error in " + where + " at line " + std::to_string(e.mark.line + 1) + ", column " +
                             std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("YAML error in " + where + ": " + e.what());
  }
#else
  (void)text;
  throw std::runtime_error(where + " is YAML, but this build has no YAML support (yaml-cpp was not found when it was "
                           "configured: install libyaml-cpp-dev and re-run cmake), or give the same keys as a JSON file");
#endif
}

namespace {
// A key written plain when it cannot be read as anything but a string, JSON-quoted otherwise.
std::string yaml_key(const std::string& k) {
  const bool plain = !k.empty() && std::all_of(k.begin(), k.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; }) &&
                     std::isalpha(static_cast<unsigned char>(k[0]));
  static const char* reserved[] = {"true", "false", "null", "yes", "no", "on", "off", "True", "False", "Null", "Yes", "No"};
  if (plain && std::none_of(std::begin(reserved), std::end(reserved), [&](const char* r) { return k == r; })) return k;
  return nlohmann::json(k).dump();
}

void emit(std::ostringstream& os, const nlohmann::json& j, int indent) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  for (const auto& [k, v] : j.items()) {
    if (v.is_object() && !v.empty()) {
      os << pad << yaml_key(k) << ":\n";
      emit(os, v, indent + 2);
    } else if (v.is_array() && std::any_of(v.begin(), v.end(), [](const nlohmann::json& x) { return x.is_structured(); })) {
      os << pad << yaml_key(k) << ":\n";
      for (const auto& x : v) os << pad << "  - " << x.dump() << "\n";  // JSON is YAML flow style
    } else {
      os << pad << yaml_key(k) << ": " << v.dump() << "\n";          // JSON literals are YAML flow scalars
    }
  }
}
}  // namespace

std::string to_yaml(const nlohmann::json& j) {
  std::ostringstream os;
  if (!j.is_object()) return j.dump() + "\n";
  emit(os, j, 0);
  return os.str();
}

}  // namespace ssmlab
