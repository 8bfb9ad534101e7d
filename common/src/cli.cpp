// cli.cpp — Boost.Program_options behind ssmlab::Cli (see cli.h for the design).
#include "ssmlab/cli.h"

#include "ssmlab/main_guard.h"
#include "ssmlab/runtime.h"
#include "ssmlab/safe_io.h"
#include "ssmlab/yaml.h"

#include <sys/stat.h>

#include <boost/program_options.hpp>
#include <cctype>
#include <cmath>
#include <iostream>
#include <set>

namespace po = boost::program_options;

namespace ssmlab {

std::string CommonOptions::plot_file(const std::string& default_name) const {
  if (!plot_path.empty()) return plot_path;
  return out_dir + "/plots/" + default_name;
}

struct Cli::Impl {
  struct Entry {
    std::string name;
    std::function<void()> validate;         // throws UsageError
    std::function<nlohmann::json()> value;  // current value, for the log
    bool is_flag = false;
    bool is_list = false;                   // takes one or more values
    bool is_unsigned = false;               // an unsigned type: Boost would wrap "-1" around
  };
  std::string program, description, family, default_log;
  po::options_description own{"Options"};
  po::options_description common{"Common options"};
  std::vector<Entry> entries;
  std::vector<std::shared_ptr<void>> keep;  // owns the Option<T> objects

  // common option storage
  std::uint64_t seed = 0;
  std::string log, out = "outputs", plot, config;
  bool quiet = false;
  int threads = 0;

  po::options_description all() const {
    po::options_description d;
    d.add(own).add(common);
    return d;
  }
};

Cli::Cli(std::string program, std::string description, std::string family, std::string default_log)
    : impl_(std::make_unique<Impl>()) {
  impl_->program = std::move(program);
  impl_->description = std::move(description);
  impl_->family = std::move(family);
  impl_->default_log = std::move(default_log);
}
Cli::~Cli() = default;

namespace {
template <class T> struct elem { using type = T; };
template <class T> struct elem<std::vector<T>> { using type = T; };

template <class T>
nlohmann::json to_json_value(const T& v) {
  if constexpr (std::is_floating_point<T>::value) {
    if (!std::isfinite(v)) return nullptr;
  }
  return nlohmann::json(v);
}
}  // namespace

template <class T>
void Cli::add_impl(const std::string& name, T* target, const std::string& help, Option<T>* opt) {
  std::string shown;
  if constexpr (std::is_same<T, std::string>::value) shown = target->empty() ? std::string("''") : *target;
  else shown = detail::show(*target);
  if (shown.empty()) shown = "(none)";
  auto* sem = po::value<T>(target)->default_value(*target, shown);
  if constexpr (detail::is_vector<T>::value) sem->multitoken();
  impl_->own.add_options()(name.c_str(), sem, help.c_str());
  Impl::Entry e;
  e.name = name;
  e.is_list = detail::is_vector<T>::value;
  e.is_unsigned = std::is_unsigned<typename elem<T>::type>::value;
  e.validate = [name, target, opt] {
    if constexpr (std::is_floating_point<typename elem<T>::type>::value) {
      if constexpr (detail::is_vector<T>::value) {
        for (auto x : *target)
          if (!std::isfinite(x)) throw UsageError("--" + name + " values must be finite (got " + detail::show(x) + ")");
      } else if (!std::isfinite(*target)) {
        throw UsageError("--" + name + " must be finite (got " + detail::show(*target) + ")");
      }
    }
    if (auto err = opt->validate(*target)) throw UsageError("--" + name + " " + *err);
  };
  e.value = [target] {
    if constexpr (detail::is_vector<T>::value) {
      nlohmann::json a = nlohmann::json::array();
      for (auto& x : *target) a.push_back(to_json_value(x));
      return a;
    } else {
      return to_json_value(*target);
    }
  };
  impl_->entries.push_back(std::move(e));
}

bool is_valid_flag_name(const std::string& name) {
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0])))
    return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('-', start);
    if (end == std::string::npos) end = name.size();
    const std::string word = name.substr(start, end - start);
    if (word.empty()) return false;  // "--a--b", a leading or trailing '-'
    const bool symbol = word.size() == 1 && std::isupper(static_cast<unsigned char>(word[0]));
    bool lower = true;
    for (char c : word) lower = lower && (std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)));
    if (!symbol && !lower) return false;
    start = end + 1;
  }
  return true;
}

void Cli::check_new_name(const std::string& name) const {
  if (!is_valid_flag_name(name))
    throw std::logic_error("ssmlab::Cli: flag --" + name +
                           " is not kebab-case (lower-case words joined by '-'; a single upper-case letter may be a word)");
  for (auto& e : impl_->entries)
    if (e.name == name) throw std::logic_error("ssmlab::Cli: option --" + name + " declared twice");
}

template <class T>
Option<T>& Cli::add(const std::string& name, T* target, const std::string& help) {
  check_new_name(name);
  auto opt = std::make_shared<Option<T>>(name);
  impl_->keep.push_back(opt);
  add_impl(name, target, help, opt.get());
  return *opt;
}

void Cli::flag(const std::string& name, bool* target, const std::string& help) {
  check_new_name(name);
  *target = false;
  impl_->own.add_options()(name.c_str(), po::bool_switch(target), help.c_str());
  Impl::Entry e;
  e.name = name;
  e.is_flag = true;
  e.validate = [] {};
  e.value = [target] { return nlohmann::json(*target); };
  impl_->entries.push_back(std::move(e));
}

std::string Cli::help() const {
  std::ostringstream os;
  os << "Usage: " << impl_->program << " [options]\n\n" << impl_->description << "\n\n";
  os << impl_->own << "\n" << impl_->common;
  return os.str();
}

namespace {
// Boost.Program_options fills its message templates lazily, in what(): each %placeholder% (value,
// original_token, canonical_option, ...) is replaced by the user's text until none is left
// (error_with_option_name::replace_token), so a text that holds its own placeholder never ends:
// `--threads %value%` hung every binary at 100 % CPU (found by tests/fuzz/fuzz_cli). Before what()
// is called, every '%' in those texts becomes U+FF05 (a full-width percent sign, which no
// placeholder contains); the templates themselves are Boost's.
struct PoMessageGuard : po::error_with_option_name {
  static void defuse(po::error_with_option_name& e) {
    auto& subs = e.*(&PoMessageGuard::m_substitutions);
    for (auto& kv : subs) {
      std::string safe;
      for (char c : kv.second) safe += c == '%' ? std::string("\xEF\xBC\x85") : std::string(1, c);
      kv.second = safe;
    }
  }
};
std::string po_message(po::error& e) {
  if (auto* named = dynamic_cast<po::error_with_option_name*>(&e)) PoMessageGuard::defuse(*named);
  return e.what();
}

// Turns a --config object (a JSON file, or a YAML file by its .yaml/.yml extension) into command-line tokens.
std::vector<std::string> config_tokens(const std::string& path, const po::options_description& desc) {
  // Checked reader: a FIFO or /dev/zero given as --config is refused, not hung on or read forever;
  // deep nesting is refused by the parser (safe_io.h).
  std::string text;
  try {
    text = read_regular_file(path, kMaxJsonFileBytes, "config file");
  } catch (const std::exception& e) {
    throw UsageError(std::string("--config: ") + e.what());
  }
  nlohmann::json j;
  const bool yaml = is_yaml_path(path);
  try {
    j = yaml ? parse_yaml(text, "'" + path + "'") : parse_json_limited(text, "'" + path + "'");
  } catch (const std::exception& e) {
    throw UsageError(std::string("--config: ") + e.what());
  }
  if (!j.is_object())
    throw UsageError("--config: '" + path + "' must hold " + (yaml ? "a YAML mapping" : "a JSON object") + " of flag: value");
  std::vector<std::string> toks;
  auto scalar = [&](const std::string& key, const nlohmann::json& v) -> std::string {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer()) return std::to_string(v.get<long long>());
    if (v.is_number()) {
      std::ostringstream os;
      os.precision(17);
      os << v.get<double>();
      return os.str();
    }
    throw UsageError("--config: value of '" + key + "' must be a number, string, bool or list");
  };
  for (auto& [k, v] : j.items()) {
    std::string key = k;
    if (key.rfind("//", 0) == 0 || key == "_comment" || key == "description") continue;  // comments
    if (!desc.find_nothrow(key, false)) {
      std::string dashed = key;
      for (auto& c : dashed) if (c == '_') c = '-';
      if (desc.find_nothrow(dashed, false)) key = dashed;
      else throw UsageError("--config: unknown flag '" + k + "' in '" + path + "'");
    }
    if (key == "config") throw UsageError("--config: a config file cannot include another");
    if (yaml && v.is_null()) continue;  // "key:" with no value in YAML: keep the default
    // The value's JSON type must be what the flag takes: the command line refuses `--lr 0.1 0.2`
    // and `--quiet maybe`, so the config file refuses their JSON forms instead of silently
    // keeping the first element or reading any string as "true".
    const auto& sem = *desc.find(key, false).semantic();
    const bool is_switch = sem.max_tokens() == 0;
    const bool takes_list = sem.max_tokens() > 1;
    const std::string where = "--config: '" + k + "' in '" + path + "'";
    if (is_switch) {
      if (!v.is_boolean()) throw UsageError(where + " is a switch: its value must be true or false (got " + v.dump() + ")");
      if (v.get<bool>()) toks.push_back("--" + key);
      continue;
    }
    if (v.is_boolean()) throw UsageError(where + " takes a value, not true/false");
    if (v.is_array() && !takes_list)
      throw UsageError(where + " takes one value, not a list (got " + v.dump() + ")");
    if (v.is_array() && v.empty()) throw UsageError(where + " needs at least one value (got [])");
    toks.push_back("--" + key);
    if (v.is_array()) {
      for (auto& x : v) toks.push_back(scalar(k, x));
    } else {
      toks.push_back(scalar(k, v));
    }
  }
  return toks;
}
}  // namespace

namespace {
// The old snake-case spellings (cli.h): "--N_values" or "--N_values=1" for a declared --N-values
// becomes "--N-values", with one warning per flag on stderr. A name that is declared as typed, or
// whose kebab form is not declared either, is left for Boost (which names it as typed).
void read_snake_case_aliases(std::vector<std::string>& args, const po::options_description& desc) {
  std::set<std::string> warned;
  for (auto& a : args) {
    if (a.rfind("--", 0) != 0 || a.size() <= 2) continue;
    const size_t eq = a.find('=');
    const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    if (name.find('_') == std::string::npos || desc.find_nothrow(name, false)) continue;
    std::string kebab = name;
    for (auto& c : kebab) if (c == '_') c = '-';
    if (!desc.find_nothrow(kebab, false)) continue;
    if (warned.insert(name).second) std::cerr << "warning: --" << name << " is deprecated: use --" << kebab << "\n";
    a = "--" + kebab + (eq == std::string::npos ? std::string() : a.substr(eq));
  }
}

// Boost reads "-1" into an unsigned option as 2^64 - 1; refuse a negative value instead.
void refuse_negative_unsigned(const std::vector<std::string>& args, const std::vector<std::string>& unsigned_names,
                              const std::string& source) {
  auto negative = [](const std::string& v) {
    size_t i = 0;
    while (i < v.size() && std::isspace(static_cast<unsigned char>(v[i]))) ++i;
    return i < v.size() && v[i] == '-';
  };
  for (size_t i = 0; i < args.size(); ++i) {
    for (const auto& n : unsigned_names) {
      const std::string flag = "--" + n;
      std::string value;
      bool has = false;
      if (args[i] == flag && i + 1 < args.size()) value = args[i + 1], has = true;
      else if (args[i].rfind(flag + "=", 0) == 0) value = args[i].substr(flag.size() + 1), has = true;
      if (has && negative(value))
        throw UsageError(flag + " must be >= 0 (got " + value + ")" + source);
    }
  }
}
}  // namespace

CommonOptions Cli::parse(int argc, const char* const* argv) {
  auto& I = *impl_;
  if (I.common.options().empty()) {
    std::string log_default = I.default_log.empty() ? std::string("none") : "<out>/logs/" + I.default_log;
    I.common.add_options()
      ("help,h", "print this help and exit")
      ("seed", po::value<std::uint64_t>(&I.seed)->default_value(default_seed_), "random seed")
      ("log", po::value<std::string>(&I.log)->default_value(log_default), "JSONL log file, appended to ('none' disables)")
      ("out", po::value<std::string>(&I.out)->default_value("outputs"), "output directory (plots, checkpoints, logs)")
      ("quiet", po::bool_switch(&I.quiet), "print only errors and the final summary")
      ("plot", po::value<std::string>(&I.plot)->implicit_value(""), "draw the plot (optionally to PATH, a .png)")
      ("config", po::value<std::string>(&I.config), "JSON or YAML (.yaml/.yml) file of flag values (the command line overrides them)")
      ("threads", po::value<int>(&I.threads)->default_value(0), "CPU threads (0 = all cores)");
  }
  po::options_description desc = I.all();
  po::variables_map vm;
  try {
    auto style = po::command_line_style::unix_style ^ po::command_line_style::allow_short;
    // "-h" still works: allow it as the only short option by mapping it to --help.
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) args.push_back(std::string(argv[i]) == "-h" ? "--help" : argv[i]);
    read_snake_case_aliases(args, desc);
    // A list flag followed directly by another flag has no values (Boost would instead try to
    // read the next flag as a value and print a confusing message).
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i].rfind("--", 0) != 0 || args[i].find('=') != std::string::npos) continue;
      for (auto& e : I.entries)
        if (e.is_list && "--" + e.name == args[i] &&
            (i + 1 == args.size() || (args[i + 1].rfind("--", 0) == 0 && args[i + 1].size() > 2)))
          throw UsageError("--" + e.name + " needs at least one value");
    }
    std::vector<std::string> unsigned_names{"seed"};
    for (auto& e : I.entries)
      if (e.is_unsigned) unsigned_names.push_back(e.name);
    refuse_negative_unsigned(args, unsigned_names, "");
    po::positional_options_description pos;
    if (!positional_.empty()) pos.add(positional_.c_str(), -1);
    po::store(po::command_line_parser(args).options(desc).positional(pos).style(style).run(), vm);
    if (vm.count("help")) {
      help_requested_ = true;
      return {};
    }
    if (vm.count("config")) {
      auto toks = config_tokens(vm["config"].as<std::string>(), desc);
      refuse_negative_unsigned(toks, unsigned_names, " in --config '" + vm["config"].as<std::string>() + "'");
      po::store(po::command_line_parser(toks).options(desc).style(style).run(), vm);
    }
    po::notify(vm);
  } catch (const po::too_many_positional_options_error&) {
    throw UsageError("unexpected bare argument (flags start with --; see --help)");
  } catch (const po::unknown_option& e) {
    throw UsageError("unknown flag '" + e.get_option_name() + "' (see --help)");
  } catch (po::error& e) {  // invalid_option_value and the rest: Boost's message, placeholders defused
    throw UsageError(po_message(e));
  }
  for (auto& e : I.entries) e.validate();
  if (I.threads < 0) throw UsageError("--threads must be >= 0 (got " + std::to_string(I.threads) + ")");
  if (I.threads > max_threads())
    throw UsageError("--threads must be <= " + std::to_string(max_threads()) + " (4 x the " +
                     std::to_string(hardware_threads()) +
                     " hardware threads of this machine; more only oversubscribes the cores) (got " +
                     std::to_string(I.threads) + ")");
  if (I.out.empty()) throw UsageError("--out must not be empty");

  CommonOptions o;
  o.program = I.program;
  o.family = I.family;
  o.seed = I.seed;
  o.out_dir = I.out;
  o.quiet = I.quiet;
  o.plot = vm.count("plot") > 0;
  o.plot_path = I.plot;
  o.config_path = I.config;
  o.threads = I.threads == 0 ? hardware_threads() : I.threads;
  if (vm["log"].defaulted()) o.log_path = I.default_log.empty() ? "" : I.out + "/logs/" + I.default_log;
  else o.log_path = (I.log == "none" || I.log.empty()) ? "" : I.log;
  // Outputs every binary shares, checked before any work (main_guard.h): the log file, and the
  // plot file. --plot DIR is refused: plots are single files (give DIR/name.png).
  if (!o.log_path.empty()) {
    if (vm["log"].defaulted()) check_output_dir("out", I.out);
    check_output_file("log", o.log_path);
  }
  if (o.plot) {
    if (o.plot_path.empty()) check_output_dir("out", I.out);
    struct stat st {};
    if (!o.plot_path.empty() && ::stat(o.plot_path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      throw UsageError("--plot '" + o.plot_path + "' is a directory: give the plot's file name (e.g. " +
                       o.plot_path + (o.plot_path.back() == '/' ? "" : "/") + "plot.png)");
    check_output_file("plot", o.plot_path);
  }
  for (auto& e : I.entries) o.params[e.name] = e.value();
  o.params["seed"] = o.seed;
  o.params["threads"] = o.threads;
  return o;
}

CommonOptions Cli::parse_or_exit(int argc, char** argv) {
  try {
    CommonOptions o = parse(argc, argv);
    if (help_requested_) {
      std::cout << help();
      std::exit(0);
    }
    return o;
  } catch (const UsageError& e) {
    std::cerr << "error: " << e.what() << "\n";
    std::exit(2);
  }
}

#define SSMLAB_CLI_INSTANTIATE(T) \
  template Option<T>& Cli::add<T>(const std::string&, T*, const std::string&);
SSMLAB_CLI_INSTANTIATE(int)
SSMLAB_CLI_INSTANTIATE(long)
SSMLAB_CLI_INSTANTIATE(long long)
SSMLAB_CLI_INSTANTIATE(unsigned long)
SSMLAB_CLI_INSTANTIATE(double)
SSMLAB_CLI_INSTANTIATE(std::string)
SSMLAB_CLI_INSTANTIATE(std::vector<int>)
SSMLAB_CLI_INSTANTIATE(std::vector<long>)
SSMLAB_CLI_INSTANTIATE(std::vector<double>)
SSMLAB_CLI_INSTANTIATE(std::vector<std::string>)
#undef SSMLAB_CLI_INSTANTIATE

}  // namespace ssmlab
