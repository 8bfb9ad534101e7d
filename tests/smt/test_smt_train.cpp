// test_smt_train.cpp — the smt family end to end at tiny sizes (CPU, the generated corpus): the run
// folder holds every file, smt_compare and smt_plot_results read it, --resume continues it, a YAML
// config is applied with flags overriding it; the parts load from the tiny GPT-2 / Mamba fixtures and
// a mismatched folder is a clear error; packing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/common/child_process.h"
#include "models/smt.h"
#include "smt/results.h"
#include "smt/smt_lib.h"
#include "ssmlab/atomic_file.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/safe_io.h"
#include "ssmlab/yaml.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
namespace sm = ssmlab::models;
using nlohmann::json;

namespace {
const std::string kBin = SSMLAB_BIN_DIR;
const std::string kFix = std::string(SSMLAB_SOURCE_DIR) + "/tests/fixtures/hf/";

std::string tiny_flags() {
  return " --allow-generated-text --d-model 16 --n-layer 1 --n-head 2 --memory-layers 1 --d-state 4"
         " --n-ssm-outputs 2 --m-input-tokens 6 --max-seq-length 24 --batch-size 4 --grad-accum 2"
         " --tbptt-chunk 8 --train-max-seqs 16 --val-max-seqs 4 --eval-every 2 --ckpt-every 2 --warmup 1 --threads 1 --quiet";
}
}  // namespace

TEST(SmtPack, PackedSequencesCoverEveryTargetOnce) {
  std::vector<int32_t> stream(50);
  for (int i = 0; i < 50; ++i) stream[i] = i + 1;
  auto p = ssmlab::smt::pack_sequences(stream, 8, 0);
  ASSERT_EQ(p.n(), 7);  // 49 targets in sequences of 8
  EXPECT_EQ(p.real_tokens(), 49);
  EXPECT_EQ(p.inputs[1][0].item<int64_t>(), 9);
  EXPECT_EQ(p.targets[1][0].item<int64_t>(), 10);
  EXPECT_EQ(p.targets[6][0].item<int64_t>(), 50);  // the last real target
  EXPECT_EQ(p.mask[6][0].item<float>(), 1.0f);
  EXPECT_EQ(p.mask[6][1].item<float>(), 0.0f);     // pads: no loss
  EXPECT_EQ(p.targets[6][1].item<int64_t>(), 0);   // the pad id
  EXPECT_EQ(ssmlab::smt::pack_sequences(stream, 8, 0, 3).n(), 3);
}

TEST(SmtFolders, LoadFromFixturesAndRefuseMismatches) {
  auto t = ssmlab::smt::load_gpt2_folder(kFix + "gpt2");
  auto m = ssmlab::smt::load_mamba_folder(kFix + "mamba");
  sm::SmtOptions o;  // the original's sizes: replaced by the folders' own
  o.n_ssm_outputs(3).m_input_tokens(6).stride(2).dropout(0.0);
  sm::Smt model(o, t, m);
  EXPECT_EQ(model->options.transformer().d_model(), 64);
  EXPECT_EQ(model->vocab_size(), 400);
  model->eval();
  torch::NoGradGuard ng;
  auto tokens = torch::randint(0, 400, {1, 9}, torch::kLong);
  auto seq = model->forward(tokens, sm::SmtMode::Sequential), chk = model->forward(tokens, sm::SmtMode::Chunked, 4);
  EXPECT_LE((seq.logits - chk.logits).abs().max().item<double>(), 1e-5);
  // The first logits are the plain GPT-2's on the same prefix (no memory yet, positions from 0).
  auto plain = t->forward(tokens.narrow(1, 0, 1));
  EXPECT_LE((plain.select(1, 0) - seq.logits.select(1, 0)).abs().max().item<double>(), 1e-5);

  auto expect_error = [](const std::function<void()>& f, const std::string& part) {
    try {
      f();
      FAIL() << "accepted: " << part;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error([&] { ssmlab::smt::load_gpt2_folder(kFix + "mamba"); }, "--transformer-from " + kFix + "mamba: expected a gpt2 folder");
  expect_error([&] { ssmlab::smt::load_mamba_folder(kFix + "gpt2"); }, "--memory-from " + kFix + "gpt2: expected a mamba folder");
  expect_error([&] { ssmlab::smt::load_mamba_folder(kFix + "no_such_folder"); }, "--memory-from");
  auto small = ssmlab::smt::load_mamba_folder(kFix + "mamba_small");  // d_model 32 vs GPT-2's 64
  expect_error([&] { sm::Smt(o, t, small); }, "the memory's d_model 32 differs from the transformer's 64");
}

TEST(SmtTrain, RunFolderCompareResumeAndYaml) {
  auto dir = ssmlab::test::fresh_temp_dir("smt_train");
  const auto results = dir / "results", log = dir / "smt.jsonl";
  const auto cfg = dir / "exp.yaml";
  std::ofstream(cfg.string()) << "arch: smt\nsteps: 4\nlr: 0.003\npooling-lr: 0.01\nstride: 3\n";
  // --stride on the command line overrides the file's 3 (which would warn: 6 / 3 = 2)
  const std::string cmd = "env -u SSMLAB_DATA_DIR " + kBin + "/smt_train --config " + ssmlab::test::sq(cfg.string()) + tiny_flags() + " --results " +
                          ssmlab::test::sq(results.string()) + " --log " + ssmlab::test::sq(log.string());
  auto [rc, out] = ssmlab::test::run_command(cmd + " --stride 2", 200);
  ASSERT_EQ(rc, 0) << out;
  auto runs = ssmlab::smt::find_runs(results.string());
  ASSERT_EQ(runs.size(), 1u) << out;
  const fs::path run = runs[0];
  EXPECT_EQ(run.parent_path().filename(), "generated_smt");
  EXPECT_EQ(run.filename().string().size(), 15u) << run;  // YYYYMMDD_HHMMSS
  for (const auto& f : ssmlab::smt::run_files()) EXPECT_TRUE(fs::is_regular_file(run / f)) << f;
  EXPECT_TRUE(fs::is_regular_file(run / "checkpoint_step0000004.ckpt"));
  EXPECT_TRUE(fs::is_regular_file(run / "checkpoint_step0000002.ckpt"));
  // config.yaml: the resolved configuration, the flag over the file
  if (ssmlab::have_yaml()) {
    auto c = ssmlab::parse_yaml(ssmlab::read_file((run / "config.yaml").string()), "config.yaml");
    EXPECT_EQ(c["stride"], 2);
    EXPECT_DOUBLE_EQ(c["lr"].template get<double>(), 0.003);
  }
  auto r = ssmlab::smt::read_results(run.string());
  EXPECT_EQ(r["status"], "finished");
  EXPECT_EQ(r["experiment"], "generated_smt");
  EXPECT_GT(r["param_counts"]["pool"].get<int64_t>(), 0);
  EXPECT_EQ(r["dataset"]["max_seq_length"], 24);
  EXPECT_TRUE(r["results"]["best_val_ppl"].is_number());
  EXPECT_NEAR(std::log(r["results"]["best_val_ppl"].get<double>()), r["results"]["best_val_loss"].get<double>(), 1e-9);
  auto h = ssmlab::smt::read_history(run.string());
  ASSERT_EQ(h.size(), 3u);  // step 0, 2, 4
  EXPECT_EQ(h[2]["step"], 4);
  // the hybrid's memory-output norms: positive on train and validation batches after training starts
  EXPECT_GT(h[2]["train_memory_norm"].get<double>(), 0.0) << h[2].dump();
  EXPECT_GT(h[2]["val_memory_norm"].get<double>(), 0.0) << h[2].dump();
  // the same records in the JSONL log
  int evals = 0, result = 0;
  for (const auto& l : ssmlab::read_jsonl(log.string())) {
    if (!l.value.is_object() || l.value.value("experiment", "") != "smt_train") continue;
    evals += l.value.value("record", "") == "eval";
    result += l.value.value("record", "") == "result";
  }
  EXPECT_EQ(evals, 3);
  EXPECT_EQ(result, 1);

  // resume the same folder for two more steps
  auto [rc2, out2] = ssmlab::test::run_command(cmd + " --stride 2 --steps 6 --run-dir " + ssmlab::test::sq(run.string()) + " --resume", 200);
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_EQ(ssmlab::smt::read_history(run.string()).size(), 4u);
  EXPECT_EQ(ssmlab::smt::find_runs(results.string()).size(), 1u);
  // as in an uninterrupted run, the evaluation before training is never the "best" one
  EXPECT_GT(ssmlab::smt::read_results(run.string())["results"]["best_step"].get<int64_t>(), 0);
  // resuming it with another model is refused, naming the flag (config.yaml holds the run's flags)
  if (ssmlab::have_yaml()) {
    auto [rc2b, out2b] = ssmlab::test::run_command(cmd + " --stride 3 --steps 8 --run-dir " + ssmlab::test::sq(run.string()) + " --resume", 200);
    EXPECT_EQ(rc2b, 2) << out2b;
    EXPECT_NE(out2b.find("--stride"), std::string::npos) << out2b;
    EXPECT_EQ(ssmlab::smt::read_history(run.string()).size(), 4u);  // nothing written
  }

  // a baseline in the same runner, then the comparison and the curves
  auto [rc3, out3] = ssmlab::test::run_command(cmd + " --stride 2 --arch gpt2_window", 200);
  ASSERT_EQ(rc3, 0) << out3;
  // the log of the hybrid and the baseline passes the family's checks (a baseline writes no memory norms)
  auto [rc3c, out3c] = ssmlab::test::run_command(kBin + "/check_logs " + ssmlab::test::sq(log.string()), 60);
  EXPECT_EQ(rc3c, 0) << out3c;
  auto [rc4, out4] = ssmlab::test::run_command(kBin + "/smt_compare --results " + ssmlab::test::sq(results.string()) +
                                                   " --log " + ssmlab::test::sq(log.string()) + " --quiet", 60);
  ASSERT_EQ(rc4, 0) << out4;
  EXPECT_NE(out4.find("generated_smt/"), std::string::npos) << out4;
  EXPECT_NE(out4.find("| gpt2_window |"), std::string::npos) << out4;
  EXPECT_TRUE(fs::is_regular_file(results / "comparison.md"));
  auto [rc5, out5] = ssmlab::test::run_command(kBin + "/smt_plot_results --result-dir " + ssmlab::test::sq(run.string()) +
                                                   " --log " + ssmlab::test::sq(log.string()) + " --quiet", 60);
  ASSERT_EQ(rc5, 0) << out5;
  EXPECT_NE(out5.find("training_curves.png"), std::string::npos) << out5;
  // bad configurations are usage errors (exit 2, one line)
  auto [rc6, out6] = ssmlab::test::run_command(cmd + " --stride 7", 60);
  EXPECT_EQ(rc6, 2) << out6;
  EXPECT_NE(out6.find("stride 7 > m_input_tokens 6"), std::string::npos) << out6;
  auto [rc7, out7] = ssmlab::test::run_command(cmd + " --stride 2 --memory-from " + ssmlab::test::sq(kFix + "gpt2"), 60);
  EXPECT_EQ(rc7, 2) << out7;
  EXPECT_NE(out7.find("expected a mamba folder"), std::string::npos) << out7;
  ssmlab::test::remove_tree(dir);
}
