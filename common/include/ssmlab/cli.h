// cli.h — the command line shared by every ssmlab binary (Boost.Program_options).
//
// Design: a binary declares its own flags by pointing at variables that already hold the
// defaults; the common flags (--seed --log --out --quiet --plot --config --threads --help)
// come for free. Validation is declarative (.at_least(1), .finite(), .sorted(), ...).
// Every error is one line, "error: --T must be >= 1 (got -3)", and exit code 2 through
// parse_or_exit(); parse() throws UsageError instead, for tests.
// Precedence: command line > --config FILE.json or FILE.yaml (ssmlab/yaml.h) > declared default.
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
  // Supported T: int, int64_t, uint64_t, double, std::string, and std::vector of those.
  template <class T>
  Option<T>& add(const std::string& name, T* target, const std::string& help);
  // A switch: --name sets *target = true (default false).
  void flag(const std::string& name, bool* target, const std::string& help);

  // Bare arguments fill the (vector) option `name`, e.g. `check_logs a.jsonl b.jsonl`.
  void positional(const std::string& name) { positional_ = name; }

  // --plot names a folder of plots (synthetic_sweep) rather than one .png file: checked as a folder.
  void plot_is_folder() { plot_folder_ = true; }

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
  bool plot_folder_ = false;
  std::string positional_;
  template <class T> void add_impl(const std::string& name, T* target, const std::string& help, Option<T>* opt);
};

// Applies --threads to OpenMP/Eigen (LibTorch binaries also call ssmlab::torch_set_threads).
void apply_threads(int threads);
// Keeps freed blocks of up to 32 MB in the heap for the next allocation (glibc mallopt; a no-op elsewhere).
// By default glibc maps blocks of 128 KB and more afresh and unmaps them when freed, so every new tensor
// or matrix of that size page-faults on first touch: on the 2-core VM, perf put ~20 % of a fused CPU scan
// call in exc_page_fault, and with this setting bench_scan --quick's fused forward went from 15-22 ms to
// 5-6 ms. Cli::parse calls it (with apply_threads); binaries without Cli call it at start-up.
void keep_freed_memory_for_reuse();
int hardware_threads();

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
