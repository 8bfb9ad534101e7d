// test_smt_config.cpp — --config FILE.yaml (ssmlab/yaml.h through Cli): parsing, types, flag override,
// clear errors; and to_yaml's output reads back as the same values.
#include <gtest/gtest.h>

#include <fstream>

#include "ssmlab/cli.h"
#include "ssmlab/yaml.h"
#include "tests/test_support.h"

namespace {
struct Flags {
  int64_t stride = 16;
  double lr = 1e-3;
  std::string arch = "smt";
  bool resume = false;
  std::vector<int64_t> sizes{1};
};
void declare(ssmlab::Cli& cli, Flags* f) {
  cli.add("stride", &f->stride, "s").at_least(int64_t{1});
  cli.add("lr", &f->lr, "lr");
  cli.add("arch", &f->arch, "arch");
  cli.flag("resume", &f->resume, "r");
  cli.add("sizes", &f->sizes, "list");
}
}  // namespace

TEST(YamlConfig, ParsesAndFlagsOverride) {
  if (!ssmlab::have_yaml()) GTEST_SKIP() << "this build has no yaml-cpp (libyaml-cpp-dev)";
  auto dir = ssmlab::test::fresh_temp_dir("smt_yaml");
  const auto path = (dir / "c.yaml").string();
  // the command line beats the file
  std::ofstream(path) << "# a comment\nstride: 8\nlr: 2.5e-4\narch: \"gpt2_window\"\nresume: true\nsizes: [3, 4]\n";
  std::ofstream((dir / "bad.yaml").string()) << "stride: 8\nnot_a_flag: 1\n";
  std::ofstream((dir / "broken.yaml").string()) << "stride: [8\n";
  {
    Flags f;
    ssmlab::Cli cli("t", "test", "smt", "smt.jsonl");
    declare(cli, &f);
    const char* argv[] = {"t", "--config", path.c_str(), "--stride", "5", "--log", ""};
    auto opts = cli.parse(7, argv);
    EXPECT_EQ(f.stride, 5);  // the command line wins
    EXPECT_DOUBLE_EQ(f.lr, 2.5e-4);
    EXPECT_EQ(f.arch, "gpt2_window");
    EXPECT_TRUE(f.resume);
    EXPECT_EQ(f.sizes, (std::vector<int64_t>{3, 4}));
    EXPECT_EQ(opts.params["stride"], 5);
  }
  for (const char* name : {"bad.yaml", "broken.yaml"}) {
    Flags f;
    ssmlab::Cli cli("t", "test", "smt", "smt.jsonl");
    declare(cli, &f);
    const auto p = (dir / name).string();
    const char* argv[] = {"t", "--config", p.c_str(), "--log", ""};
    try {
      cli.parse(5, argv);
      FAIL() << name << " was accepted";
    } catch (const ssmlab::UsageError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("--config"), std::string::npos) << msg;
      EXPECT_NE(msg.find(std::string(name) == "bad.yaml" ? "unknown flag 'not_a_flag'" : "line"), std::string::npos) << msg;
    }
  }
  ssmlab::test::remove_tree(dir);
}

TEST(YamlConfig, ToYamlReadsBack) {
  const nlohmann::json j{{"lr", 0.0005}, {"arch", "smt"}, {"resume", false}, {"sizes", {1, 2}}, {"yes", "no"}, {"empty", ""},
                         {"nested", {{"a", 1}}}};
  const std::string y = ssmlab::to_yaml(j);
  EXPECT_NE(y.find("lr: 0.0005\n"), std::string::npos) << y;
  if (!ssmlab::have_yaml()) GTEST_SKIP() << "no yaml-cpp: the read-back half is skipped";
  EXPECT_EQ(ssmlab::parse_yaml(y, "to_yaml output"), j) << y;
  EXPECT_TRUE(ssmlab::is_yaml_path("a/B.YML"));
  EXPECT_FALSE(ssmlab::is_yaml_path("a/b.json"));
}
