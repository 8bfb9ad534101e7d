// fuzz_cli: ssmlab::Cli::parse on an argv and a --config file taken from the input:
//   <config JSON> NUL <argv, one argument per line>
// (without a NUL the whole input is the argv and no config file is given). The Cli declares one
// option of every supported type with validators, a flag and a positional list, as the binaries
// do. Promise (cli.h): parse() returns, or throws UsageError; nothing else escapes.
// Arguments that would name another --config file (--config, or any prefix Boost would guess to
// mean it) are dropped: the fuzzer must not read arbitrary files of the machine.
#include <cstdint>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "ssmlab/cli.h"

using namespace ssmlab;

namespace {
bool names_config(const std::string& a) {
  if (a.rfind("--", 0) != 0) return false;
  const std::string name = a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2);
  return !name.empty() && std::string("config").rfind(name, 0) == 0;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile config("fuzz_cli_config.json");
  const auto parts = fuzz::split_at_nul(fuzz::as_text(data, size));
  const std::string_view argv_text = parts.has_second ? parts.second : parts.first;
  std::vector<std::string> args = {"fuzz_cli"};
  size_t pos = 0;
  while (pos <= argv_text.size() && args.size() < 256) {
    const size_t nl = argv_text.find('\n', pos);
    const std::string a(argv_text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    if (!names_config(a)) args.push_back(a);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  if (parts.has_second) {
    args.push_back("--config");
    args.push_back(config.write(parts.first));
  }
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());

  int T = 16;
  int64_t steps = 100;
  uint64_t big = 7;
  double lr = 1e-3;
  std::string mode = "fast", name;
  std::vector<int> dims = {1, 2, 4};
  std::vector<long> sizes = {8};
  std::vector<double> ratios = {0.5, 1.0};
  std::vector<std::string> files, models = {"mamba"};
  bool dry = false;
  Cli cli("fuzz_cli", "libFuzzer target for ssmlab::Cli", "fuzz", "fuzz.jsonl");
  cli.add("T", &T, "sequence length").at_least(1).at_most(1 << 20);
  cli.add("steps", &steps, "training steps").greater_than(0);
  cli.add("big", &big, "an unsigned value").less_than(uint64_t{1} << 40);
  cli.add("lr", &lr, "learning rate").greater_than(0.0).at_most(1.0);
  cli.add("mode", &mode, "mode").one_of({"fast", "slow", "exact"});
  cli.add("name", &name, "a free-form name");
  cli.add("dims", &dims, "dimensions").at_least(1).sorted().nonempty();
  cli.add("sizes", &sizes, "sizes").at_least(1L);
  cli.add("ratios", &ratios, "ratios").greater_than(0.0).less_than(10.0);
  cli.add("models", &models, "models").one_of({"mamba", "lstm", "transformer"}).nonempty();
  cli.add("files", &files, "input files");
  cli.flag("dry-run", &dry, "do nothing");
  cli.positional("files");
  try {
    const CommonOptions o = cli.parse(static_cast<int>(argv.size()), argv.data());
    if (cli.help_requested()) {
      (void)cli.help();
      return 0;
    }
    (void)o.params.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // as the JSONL log writes it
    (void)o.plot_file("fuzz.png");
  } catch (const UsageError&) {
  }
  return 0;
}
