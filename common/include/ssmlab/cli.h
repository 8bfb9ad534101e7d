// cli.h — the command line shared by every ssmlab binary (Boost.Program_options).
//
// Design: a binary declares its own flags by pointing at variables that already hold the
// defaults; the common flags (--seed --log --out --quiet --plot --config --threads --help)
// come for free. Validation is declarative (.at_least(1), .finite(), .sorted(), ...).
// Every error is one line, "error: --T must be >= 1 (got -3)", and exit code 2 through
// parse_or_exit(); parse() throws UsageError instead, for tests.
// Precedence: command line > --config FILE.json or FILE.yaml (ssmlab/yaml.h) > declared default.
// Parsing changes nothing in the process: threads, the heap and --quiet are applied by an explicit
// ssmlab::init_runtime(opts) in main (ssmlab/runtime.h).
//
// Flag names are kebab-case: words of lower-case letters and digits joined by '-', the first word
// starting with a letter (--max-train-len, --d-k, --exp4-t-list). One exception keeps the papers'
// symbols: a word may be a single upper-case letter (--T, --N, --N-values, --max-T-full). Anything
// else, '_' above all, is a programming error: Cli::add and Cli::flag throw std::logic_error.
// Old snake-case spellings keep working on the command line as hidden aliases: a '_' in a flag that
// is not declared is read as '-' when that names a declared flag (--N_values = --N-values), with one
// "warning: --N_values is deprecated: use --N-values" line on stderr; --help lists only the kebab
// names. A --config key maps '_' to '-' the same way, silently (JSON and YAML keys are often snake).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ssmlab {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Flags every binary shares, resolved after parsing.
struct CommonOptions {
  std::string program;
  std::string family;
  std::uint64_t seed = 0;
  std::string log_path;        // JSONL file appended to; "" disables logging
  std::string out_dir;         // outputs root (plots, checkpoints, ...)
  bool quiet = false;
  bool silent = false;          // a data-parallel rank other than 0: no records, progress or summaries (docs/distributed.md)
  bool plot = false;           // --plot given
  std::string plot_path;       // --plot PATH (empty: the binary's default under out_dir/plots)
  std::string config_path;
  int threads = 1;             // resolved: --threads, or all cores when 0
  nlohmann::json params;       // every flag's final value, for the log record

  // Where a plot goes: --plot PATH if given, else <out>/plots/<default_name>.
  std::string plot_file(const std::string& default_name) const;
};

namespace detail {
// Formats a value for messages and --help.
template <class T>
std::string show(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
template <class T>
std::string show(const std::vector<T>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i) os << (i ? " " : "") << v[i];
  return os.str();
}
inline std::string show(const std::string& v) { return "'" + v + "'"; }
template <class T> struct is_vector : std::false_type {};
template <class T> struct is_vector<std::vector<T>> : std::true_type {};
}  // namespace detail

// One declared option; validators return an error fragment ("must be >= 1") or nullopt.
template <class T>
class Option {
 public:
  using Check = std::function<std::optional<std::string>(const T&)>;
  explicit Option(std::string name) : name_(std::move(name)) {}

  Option& check(Check c) { checks_.push_back(std::move(c)); return *this; }

  // For scalars: the value; for vectors: every element.
  template <class V> Option& at_least(V lo) { return elementwise([lo](auto x) { return x >= lo; }, ">= " + detail::show(lo)); }
  template <class V> Option& at_most(V hi) { return elementwise([hi](auto x) { return x <= hi; }, "<= " + detail::show(hi)); }
  template <class V> Option& greater_than(V lo) { return elementwise([lo](auto x) { return x > lo; }, "> " + detail::show(lo)); }
  template <class V> Option& less_than(V hi) { return elementwise([hi](auto x) { return x < hi; }, "< " + detail::show(hi)); }
  Option& one_of(std::vector<std::string> allowed);
  Option& nonempty();  // vectors and strings
  Option& sorted();    // vectors: strictly increasing

  // used by Cli
  std::optional<std::string> validate(const T& v) const {
    for (auto& c : checks_)
      if (auto e = c(v)) return e;
    return std::nullopt;
  }
  const std::string& name() const { return name_; }

 private:
  template <class Pred>
  Option& elementwise(Pred p, std::string what);
  std::string name_;
  std::vector<Check> checks_;
};

class Cli {
 public:
  // program: binary name; family: experiment family for logs ("duality", ...);
  // default_log: log file name under <out>/logs/ (e.g. "duality.jsonl"), "" = none by default.
  Cli(std::string program, std::string description, std::string family, std::string default_log = "");
  ~Cli();
  Cli(const Cli&) = delete;
  Cli& operator=(const Cli&) = delete;

  // Declares --name; the variable's current value is the default. help should carry units.
  // name follows the kebab-case rule above (std::logic_error otherwise, or when declared twice).
  // Supported T: int, int64_t, uint64_t, double, std::string, and std::vector of those.
  template <class T>
  Option<T>& add(const std::string& name, T* target, const std::string& help);
  // A switch: --name sets *target = true (default false).
  void flag(const std::string& name, bool* target, const std::string& help);

  // Bare arguments fill the (vector) option `name`, e.g. `check_logs a.jsonl b.jsonl`.
  void positional(const std::string& name) { positional_ = name; }

  // Overrides common defaults before parsing (e.g. a binary whose natural seed is 42).
  void set_default_seed(std::uint64_t s) { default_seed_ = s; }

  // Parses; throws UsageError on any problem. If --help is given, returns with help_requested().
  CommonOptions parse(int argc, const char* const* argv);
  // Parses; on --help prints help and exits 0; on error prints "error: ..." and exits 2.
  CommonOptions parse_or_exit(int argc, char** argv);

  bool help_requested() const { return help_requested_; }
  std::string help() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint64_t default_seed_ = 0;
  bool help_requested_ = false;
  std::string positional_;
  template <class T> void add_impl(const std::string& name, T* target, const std::string& help, Option<T>* opt);
  void check_new_name(const std::string& name) const;  // the naming rule above, and no duplicate
};

// Whether `name` (without "--") follows the flag-name rule above.
bool is_valid_flag_name(const std::string& name);


// ---- Option<T> member templates ---------------------------------------------------
template <class T>
template <class Pred>
Option<T>& Option<T>::elementwise(Pred p, std::string what) {
  std::string n = name_;
  return check([p, what](const T& v) -> std::optional<std::string> {
    if constexpr (detail::is_vector<T>::value) {
      for (const auto& x : v)
        if (!p(x)) return "values must all be " + what + " (got " + detail::show(x) + ")";
      return std::nullopt;
    } else if constexpr (std::is_arithmetic<T>::value) {
      if (!p(v)) return "must be " + what + " (got " + detail::show(v) + ")";
      return std::nullopt;
    } else {
      static_assert(std::is_arithmetic<T>::value || detail::is_vector<T>::value, "range check on non-numeric option");
      return std::nullopt;
    }
  });
}

template <class T>
Option<T>& Option<T>::one_of(std::vector<std::string> allowed) {
  return check([allowed](const T& v) -> std::optional<std::string> {
    auto ok = [&](const std::string& x) {
      for (auto& a : allowed) if (a == x) return true;
      return false;
    };
    std::string list;
    for (size_t i = 0; i < allowed.size(); ++i) list += (i ? "|" : "") + allowed[i];
    if constexpr (std::is_same<T, std::string>::value) {
      if (!ok(v)) return "must be one of " + list + " (got '" + v + "')";
    } else if constexpr (std::is_same<T, std::vector<std::string>>::value) {
      for (auto& x : v) if (!ok(x)) return "values must be in " + list + " (got '" + x + "')";
    }
    return std::nullopt;
  });
}

template <class T>
Option<T>& Option<T>::nonempty() {
  return check([](const T& v) -> std::optional<std::string> {
    if constexpr (detail::is_vector<T>::value || std::is_same<T, std::string>::value) {
      if (v.empty()) return std::string("must not be empty");
    }
    return std::nullopt;
  });
}

template <class T>
Option<T>& Option<T>::sorted() {
  return check([](const T& v) -> std::optional<std::string> {
    if constexpr (detail::is_vector<T>::value) {
      for (size_t i = 1; i < v.size(); ++i)
        if (!(v[i - 1] < v[i]))
          return "values must be strictly increasing (got " + detail::show(v[i - 1]) + " then " + detail::show(v[i]) + ")";
    }
    return std::nullopt;
  });
}

}  // namespace ssmlab
