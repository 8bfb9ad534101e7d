// test_mamba_train.cpp — mamba_train end to end, and its band figures (plot_logs): 30 steps of each model on
// each data set lower the validation loss; the best-checkpoint folder reloads with the same
// validation loss (moe_transformer's ssmlab-only folder too, and generate decodes from it); a resumed
// run continues identically; --complete-bands (set in mamba_experiments/plots.json) fails on a missing seed; bad input gives one
// "error:" line and exit 2 (a folder whose weights are another architecture's included).
#include <gtest/gtest.h>

#include "tests/common/child_process.h"

#include "ssmlab/plot.h"

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mamba_experiments/data.h"
#include "ssmlab/hf/tokenizer.h"
#include "ssmlab/jsonl_log.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
const std::string kTrain = std::string(SSMLAB_BIN_DIR) + "/mamba_train";
const std::string kPlot = std::string(SSMLAB_BIN_DIR) + "/plot_logs";
const std::string kBandsSpec = std::string(SSMLAB_SOURCE_DIR) + "/mamba_experiments/plots.json";
// The band figure of one metric over seeds on recall, as mamba_experiments/plots.json declares it.
std::string band_figure(const fs::path& log, const std::string& metric, const fs::path& png) {
  return kPlot + " --quiet --logs " + log.string() + " --experiment mamba_train --record epoch --where metrics.dataset=recall" +
         " --x metrics.epoch --y metrics." + metric + " --group-by metrics.model --aggregate mean_std --band-over seed" +
         " --minmax --style band --output " + png.string();
}
const std::string kGenerate = std::string(SSMLAB_BIN_DIR) + "/generate";
const std::string kTok = std::string(SSMLAB_SOURCE_DIR) + "/tests/fixtures/hf/tokenizer.json";

struct Cmd {
  int rc = -1;
  std::string out;
};
Cmd run_cmd(const std::string& cmd) {  // the shared helper, with a deadline for a busy machine
  auto [rc, out] = ssmlab::test::run_command(cmd, 600);
  return Cmd{rc, out};
}
std::vector<json> records(const fs::path& log, const std::string& kind) {
  std::vector<json> out;
  for (auto& l : ssmlab::read_jsonl(log.string()))
    if (l.value.is_object() && l.value.value("record", "") == kind) out.push_back(l.value);
  return out;
}
int error_lines(const std::string& out) {
  int n = 0;
  std::istringstream is(out);
  std::string line;
  while (std::getline(is, line)) n += line.rfind("error:", 0) == 0;
  return n;
}

class MambaTrainBase : public ::testing::Test {
 public:
  void SetUp() override {
    dir = ssmlab::test::fresh_temp_dir("mx_train");
    std::ofstream(dir / "ts_train.txt") << ssmlab::mamba_experiments::generated_stories(200, 5);
    std::ofstream(dir / "ts_valid.txt") << ssmlab::mamba_experiments::generated_stories(30, 6);
  }
  void TearDown() override { ssmlab::test::remove_tree(dir); }
  // Small sizes: width 32, one layer, windows of 32 tokens, batches of 8.
  std::string base(const std::string& model, const std::string& dataset, const std::string& lr = "3e-3") const {
    std::string c = kTrain + " --quiet --threads 1 --model " + model + " --dataset " + dataset +
                    " --d-model 32 --n-layers 1 --n-state 8 --headdim 16 --seq-len 32 --batch-size 8 --lr " + lr +
                    (model == "moe_transformer" ? " --n-experts 4 --top-k 2" : "") +
                    " --train-max-samples 240 --val-max-samples 32 --out " + dir.string();
    if (dataset == "recall") c += " --gap 2 --recall-vocab 8";
    if (dataset == "wikitext2") c += " --max-vocab 300 --allow-generated-text";
    if (dataset == "tinystories")
      c += " --tokenizer " + kTok + " --train-file " + (dir / "ts_train.txt").string() + " --valid-file " +
           (dir / "ts_valid.txt").string();
    return c;
  }
  fs::path dir;
};
using MambaTrain = MambaTrainBase;
}  // namespace

// One test per model, so that CTest runs them side by side; each trains on the three data sets.
void thirty_steps_lower_the_loss(const MambaTrainBase& t, const std::string& model) {
  const auto& dir = t.dir;
  for (const std::string ds : {"recall", "wikitext2", "tinystories"}) {
    {
      const fs::path log = dir / (model + "_" + ds + ".jsonl");
      auto r = run_cmd(t.base(model, ds) + " --max-steps 30 --log " + log.string());
      ASSERT_EQ(r.rc, 0) << model << " " << ds << ": " << r.out;
      auto res = records(log, "result");
      ASSERT_EQ(res.size(), 1u);
      const json& m = res[0]["metrics"];
      EXPECT_LT(m["final_val_loss"].get<double>(), m["initial_val_loss"].get<double>() - 0.05) << model << " " << ds << " " << m.dump();
      auto ep = records(log, "epoch");
      ASSERT_GE(ep.size(), 2u);
      for (auto& e : ep) {
        const json& em = e["metrics"];
        EXPECT_NEAR(em["val_ppl"].get<double>(), std::exp(em["val_loss"].get<double>()), 1e-9 * em["val_ppl"].get<double>());
        if (em["step"].get<int>() > 0) {
          EXPECT_TRUE(em.contains("train_loss"));
          EXPECT_GT(em["tokens_per_s"].get<double>(), 0);
          // the load-balancing loss beside the LM loss, MoE only (>= ~1: 1 is perfectly balanced)
          EXPECT_EQ(em.contains("aux_loss"), model == "moe_transformer") << em.dump();
          if (em.contains("aux_loss")) EXPECT_GT(em["aux_loss"].get<double>(), 0.9) << em.dump();
        }
      }
      // total and active parameters: equal for dense models, 2 of 4 experts per token for the MoE
      const int64_t total = m["params"].get<int64_t>(), active = m["params_active"].get<int64_t>();
      if (model == "moe_transformer") EXPECT_LT(active, total);
      else EXPECT_EQ(active, total);
      EXPECT_EQ(res[0]["params"]["n_params_active"].get<int64_t>(), active);
    }
  }
}

TEST_F(MambaTrain, ThirtyStepsLowerTheLossMambaSimple) { thirty_steps_lower_the_loss(*this, "mamba_simple"); }
TEST_F(MambaTrain, ThirtyStepsLowerTheLossMambaSsd) { thirty_steps_lower_the_loss(*this, "mamba_SSD_diag_exp"); }
TEST_F(MambaTrain, ThirtyStepsLowerTheLossTransformer) { thirty_steps_lower_the_loss(*this, "transformer"); }
TEST_F(MambaTrain, ThirtyStepsLowerTheLossMoeTransformer) { thirty_steps_lower_the_loss(*this, "moe_transformer"); }

// moe_transformer's best folder (model_type ssmlab_moe_transformer) reloads through --eval-checkpoint
// with the same validation loss, and generate decodes from it with the KV cache; a folder whose
// config says MoE but whose weights are the dense Transformer's is a clear error.
TEST_F(MambaTrain, MoeCheckpointReloadsAndGenerates) {
  const fs::path ck = dir / "ck_moe", ckt = dir / "ck_dense";
  auto r = run_cmd(base("moe_transformer", "wikitext2") + " --epochs 2 --log none --checkpoint-dir " + ck.string());
  ASSERT_EQ(r.rc, 0) << r.out;
  std::ifstream cj(ck / "best" / "config.json");
  const json cfg = json::parse(cj);
  EXPECT_EQ(cfg["model_type"], "ssmlab_moe_transformer");
  EXPECT_EQ(cfg["n_experts"], 4);
  EXPECT_EQ(cfg["top_k"], 2);
  std::ifstream bj(ck / "best.json");
  const json best = json::parse(bj);
  auto e = run_cmd(base("moe_transformer", "wikitext2") + " --eval-checkpoint " + (ck / "best").string() + " --log " +
                   (dir / "e.jsonl").string());
  ASSERT_EQ(e.rc, 0) << e.out;
  auto res = records(dir / "e.jsonl", "result");
  ASSERT_EQ(res.size(), 1u);
  EXPECT_NEAR(res[0]["metrics"]["val_loss"].get<double>(), best["val_loss"].get<double>(), 1e-5);
  EXPECT_EQ(res[0]["metrics"]["model_family"], "T_rope_moe");
  auto g = run_cmd(kGenerate + " --quiet --log none --threads 1 --model " + (ck / "best").string() +
                   " --prompt 'the' --max-new-tokens 6 --ignore-eos");
  ASSERT_EQ(g.rc, 0) << g.out;
  EXPECT_FALSE(g.out.empty());
  // weights of the dense Transformer under the MoE config: load_strict names what is missing
  auto t = run_cmd(base("transformer", "wikitext2") + " --epochs 1 --log none --checkpoint-dir " + ckt.string());
  ASSERT_EQ(t.rc, 0) << t.out;
  fs::copy_file(ckt / "best" / "model.safetensors", ck / "best" / "model.safetensors", fs::copy_options::overwrite_existing);
  auto w = run_cmd(base("moe_transformer", "wikitext2") + " --log none --eval-checkpoint " + (ck / "best").string());
  EXPECT_EQ(w.rc, 2) << w.out;
  EXPECT_EQ(error_lines(w.out), 1) << w.out;
  EXPECT_NE(w.out.find("mlp.router.weight"), std::string::npos) << w.out;
  // and a run folder of the dense Transformer does not resume as moe_transformer
  auto rs = run_cmd(base("moe_transformer", "wikitext2") + " --epochs 1 --resume --log none --checkpoint-dir " + ckt.string());
  EXPECT_EQ(rs.rc, 2) << rs.out;
  EXPECT_EQ(error_lines(rs.out), 1) << rs.out;
  EXPECT_NE(rs.out.find("different model"), std::string::npos) << rs.out;
}

TEST_F(MambaTrain, BestCheckpointReloadsWithTheSameValidationLoss) {
  const fs::path ck = dir / "ck";
  auto r = run_cmd(base("mamba_simple", "wikitext2") + " --epochs 3 --log " + (dir / "a.jsonl").string() +
                   " --checkpoint-dir " + ck.string());
  ASSERT_EQ(r.rc, 0) << r.out;
  ASSERT_TRUE(fs::exists(ck / "best" / "config.json"));
  ASSERT_TRUE(fs::exists(ck / "last.ckpt"));
  std::ifstream bj(ck / "best.json");
  const json best = json::parse(bj);
  // the WordLevel tokenizer.json saved beside the model loads back
  auto tk = ssmlab::hf::Tokenizer::from_file((ck / "best" / "tokenizer.json").string());
  EXPECT_EQ(tk.token_to_id("<eos>").value_or(-1), 1);
  auto e = run_cmd(base("mamba_simple", "wikitext2") + " --eval-checkpoint " + (ck / "best").string() + " --log " +
                   (dir / "e.jsonl").string());
  ASSERT_EQ(e.rc, 0) << e.out;
  auto res = records(dir / "e.jsonl", "result");
  ASSERT_EQ(res.size(), 1u);
  EXPECT_NEAR(res[0]["metrics"]["val_loss"].get<double>(), best["val_loss"].get<double>(), 1e-5);
}

TEST_F(MambaTrain, ResumeContinuesIdentically) {
  const std::string common = base("mamba_SSD_diag_exp", "recall") + " --max-steps 40 --eval-every 10 --ckpt-every 20";
  auto a = run_cmd(common + " --log " + (dir / "a.jsonl").string() + " --checkpoint-dir " + (dir / "ca").string());
  ASSERT_EQ(a.rc, 0) << a.out;
  auto b1 = run_cmd(common + " --stop-at-step 20 --log " + (dir / "b.jsonl").string() + " --checkpoint-dir " + (dir / "cb").string());
  ASSERT_EQ(b1.rc, 3) << b1.out;
  auto b2 = run_cmd(common + " --resume --log " + (dir / "b.jsonl").string() + " --checkpoint-dir " + (dir / "cb").string());
  ASSERT_EQ(b2.rc, 0) << b2.out;
  auto ea = records(dir / "a.jsonl", "epoch"), eb = records(dir / "b.jsonl", "epoch");
  ASSERT_EQ(ea.size(), eb.size());
  for (size_t i = 0; i < ea.size(); ++i) {
    EXPECT_EQ(ea[i]["metrics"]["step"], eb[i]["metrics"]["step"]);
    EXPECT_EQ(ea[i]["metrics"]["val_loss"].get<double>(), eb[i]["metrics"]["val_loss"].get<double>()) << "step " << ea[i]["metrics"]["step"];
  }
  auto ra = records(dir / "a.jsonl", "result"), rb = records(dir / "b.jsonl", "result");
  ASSERT_EQ(ra.size(), 1u);
  ASSERT_EQ(rb.size(), 1u);
  EXPECT_EQ(ra[0]["metrics"]["best_val_loss"].get<double>(), rb[0]["metrics"]["best_val_loss"].get<double>());
}

// --patience K ends the run after K evaluations without a new best validation loss. An lr of 1e-300
// underflows to no update in fp32, so every evaluation after the first repeats the same loss.
TEST_F(MambaTrain, PatienceStopsARunThatNoLongerImproves) {
  auto r = run_cmd(base("mamba_simple", "recall", "1e-300") + " --max-steps 50 --eval-every 5 --min-lr 0 --patience 2" +
                   " --log " + (dir / "p.jsonl").string() + " --checkpoint-dir " + (dir / "cp").string());
  ASSERT_EQ(r.rc, 0) << r.out;
  auto ep = records(dir / "p.jsonl", "epoch");
  ASSERT_EQ(ep.size(), 4u) << r.out;  // before training, steps 5 (first best), 10, 15 (second without a better one)
  EXPECT_EQ(ep.back()["metrics"]["step"].get<int64_t>(), 15);
  auto res = records(dir / "p.jsonl", "result");
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(res[0]["metrics"]["stopped_early"].get<bool>());
  EXPECT_EQ(res[0]["metrics"]["steps"].get<int64_t>(), 15);
  EXPECT_EQ(res[0]["metrics"]["best_step"].get<int64_t>(), 5);
  EXPECT_TRUE(fs::exists(dir / "cp" / "best" / "config.json"));
  // and without --patience the same run goes to the end
  auto f = run_cmd(base("mamba_simple", "recall", "1e-300") + " --max-steps 20 --eval-every 5 --min-lr 0" + " --log " +
                   (dir / "f.jsonl").string());
  ASSERT_EQ(f.rc, 0) << f.out;
  auto rf = records(dir / "f.jsonl", "result");
  ASSERT_EQ(rf.size(), 1u);
  EXPECT_FALSE(rf[0]["metrics"]["stopped_early"].get<bool>());
  EXPECT_EQ(rf[0]["metrics"]["steps"].get<int64_t>(), 20);
}

TEST_F(MambaTrain, VarianceBandsRequireAllModels) {
  const fs::path log = dir / "runs.jsonl";
  for (const std::string model : {"mamba_simple", "mamba_SSD_diag_exp"})
    for (int seed : {0, 1}) {
      if (model == "mamba_SSD_diag_exp" && seed == 1) continue;  // a missing seed
      auto r = run_cmd(base(model, "recall") + " --epochs 2 --seed " + std::to_string(seed) + " --log " + log.string());
      ASSERT_EQ(r.rc, 0) << r.out;
    }
  // one figure with --complete-bands: one error line naming the missing run (exit 1: an error while working)
  auto bad = run_cmd(band_figure(log, "val_loss", dir / "p" / "bad.png") + " --complete-bands");
  EXPECT_EQ(bad.rc, 1) << bad.out;
  EXPECT_EQ(error_lines(bad.out), 1) << bad.out;
  EXPECT_NE(bad.out.find("mamba_SSD_diag_exp/seed 1"), std::string::npos) << bad.out;
  // the family's spec (reproduce.sh) sets complete_bands: it fails the same way
  auto spec = run_cmd(kPlot + " --quiet --spec " + kBandsSpec + " --logs " + log.string() + " --plot-dir " + (dir / "s").string());
  EXPECT_EQ(spec.rc, 1) << spec.out;
  EXPECT_NE(spec.out.find("mamba_SSD_diag_exp/seed 1"), std::string::npos) << spec.out;
  // without it the bands are drawn from the seeds there are
  const std::string ext = ssmlab::plot::gnuplot_available() ? ".png" : ".png.gp";
  for (const std::string metric : {"val_loss", "train_loss"}) {
    auto ok = run_cmd(band_figure(log, metric, dir / "p" / ("variance_recall_" + metric + ".png")));
    if (ssmlab::plot::gnuplot_available()) EXPECT_EQ(ok.rc, 0) << ok.out;  // one figure fails without gnuplot, keeping the script
    EXPECT_TRUE(fs::exists(dir / "p" / ("variance_recall_" + metric + ext))) << ok.out;
  }
}

TEST_F(MambaTrain, BadInputGivesOneErrorLineAndExitTwo) {
  struct Case {
    std::string cmd, needle;
  };
  const std::vector<Case> cases{
      {"env -u SSMLAB_DATA_DIR " + kTrain + " --quiet --dataset wikitext2 --data-dir " + (dir / "nodata").string(),
       (dir / "nodata" / "wikitext-2-raw" / "wiki.train.raw").string()},
      {kTrain + " --quiet --dataset tinystories --data-dir " + (dir / "nodata").string(), "TinyStories-train.txt"},
      {kTrain + " --quiet --dataset recall --seq-len 16 --gap 16", "--gap"},
      {kTrain + " --quiet --dataset wikitext2 --allow-generated-text --max-vocab 0", "--max-vocab"},
      {kTrain + " --quiet --dataset recall --resume", "--resume needs"},
      {kTrain + " --quiet --dataset recall --model moe_transformer --n-experts 2 --top-k 3", "--top-k"},
      // refused at start-up, before data and model (a CPU-only build: no CUDA kernels; a CUDA build: device cpu)
      {kTrain + " --quiet --dataset recall --device cpu --kernel-impl cuda", "--kernel-impl cuda"},
  };
  for (auto& c : cases) {
    auto r = run_cmd(c.cmd + " --log none --out " + dir.string());
    EXPECT_EQ(r.rc, 2) << c.cmd << "\n" << r.out;
    EXPECT_EQ(error_lines(r.out), 1) << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << r.out;
  }
  // a checkpoint folder of another architecture: resume refuses it, and --eval-checkpoint of a
  // model whose vocabulary is too small for the data set is refused too
  const fs::path ck = dir / "ck_t";
  auto t = run_cmd(base("transformer", "recall") + " --max-steps 5 --log none --checkpoint-dir " + ck.string());
  ASSERT_EQ(t.rc, 0) << t.out;
  auto r = run_cmd(base("mamba_simple", "recall") + " --max-steps 5 --resume --log none --checkpoint-dir " + ck.string());
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_EQ(error_lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("different model"), std::string::npos) << r.out;
  auto e = run_cmd(base("transformer", "wikitext2") + " --log none --eval-checkpoint " + (ck / "best").string());
  EXPECT_EQ(e.rc, 2) << e.out;
  EXPECT_EQ(error_lines(e.out), 1) << e.out;
}
