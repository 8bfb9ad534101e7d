// mamba_train — one model on one data set (recall, WikiText-2, TinyStories, plain text), trained
// with the models/ stack's Trainer; per epoch (or every --eval-every steps) it logs train_loss,
// val_loss, val_ppl and tokens/s, keeps the best checkpoint by validation loss as a Hugging Face
// folder (hf::save_pretrained, with the tokenizer), and can resume. See docs/mamba_experiments.md.
//
//   mamba_train --model mamba_simple --dataset recall --seq-len 64 --gap 16 --epochs 5
//   mamba_train --model mamba_SSD_diag_exp --dataset wikitext2 --max-vocab 20000 --epochs 10
//               --checkpoint-dir out/ckpt/ssd_s0 --seed 0
//   mamba_train --model mamba_simple --dataset tinystories --max-steps 5000 --checkpoint-dir out/ts
//   mamba_train --eval-checkpoint out/ts/best --dataset tinystories     (validation loss of a folder)
//
// Records (family mamba_experiments, experiment "mamba_train", log <out>/logs/mamba_experiments.jsonl,
// or <plot-dir>/train_runs.jsonl when --plot-dir is given without --log):
//   step    from the trainer every --log-every steps;   eval  the trainer's per-eval record
//   epoch   model, dataset, epoch, step, train_loss, val_loss, val_ppl, val_acc, tokens_per_s
//           (moe_transformer: aux_loss, the load-balancing loss beside train_loss, which stays the LM loss)
//   result  one per run: initial/final/best val loss, params (params_active: per token), steps, tokens/s
#include "ssmlab/main_guard.h"
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "mamba_experiments/data.h"
#include "models/registry.h"
#include "kernels/kernel_impl.h"
#include "models/trainer.h"
#include "ssmlab/atomic_file.h"
#include "ssmlab/cli.h"
#include "ssmlab/runtime.h"
#include "ssmlab/hf/pretrained.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/plot.h"
#include "ssmlab/safe_io.h"
#include "ssmlab/timer.h"

namespace sm = ssmlab::models;
namespace mamba_experiments = ssmlab::mamba_experiments;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The original's model names -> the registry's (models/registry.h).
std::string registry_name(const std::string& model) {
  if (model == "mamba_simple") return "mamba";          // Mamba-1 block, selective scan, A (E, N) diagonal
  if (model == "mamba_SSD_diag_exp") return "mamba2";   // SSD block, A_h = -exp(A_log_h) per head
  if (model == "moe_transformer") return "T_rope_moe";  // T_rope with a sparse top-k MoE MLP
  return "T_rope";                                      // transformer: GPT-NeoX layout (rotary, pre-LN)
}
// model_type of the Hugging Face folder each model is saved as.
std::string hf_model_type(const std::string& reg) {
  if (reg == "mamba") return "mamba";
  if (reg == "mamba2") return "mamba2";
  if (reg == "T_rope_moe") return "ssmlab_moe_transformer";  // ssmlab-only (hf/config.h says why)
  return "gpt_neox";
}

// One split as tensors: inputs/targets (N, L) int64, mask (N, L) float or undefined.
struct Split {
  torch::Tensor inputs, targets, mask;
  int64_t n() const { return inputs.size(0); }
};

Split windows_of(const std::vector<int32_t>& stream, int64_t L, int64_t max_n) {
  const int64_t n = mamba_experiments::n_windows(static_cast<int64_t>(stream.size()), L, max_n);
  auto all = torch::from_blob(const_cast<int32_t*>(stream.data()), {static_cast<int64_t>(stream.size())}, torch::kInt32)
                 .to(torch::kInt64);
  Split s;
  if (n == 0) return s;
  auto idx = torch::arange(n).unsqueeze(1) * L + torch::arange(L).unsqueeze(0);  // (N, L)
  s.inputs = all.index_select(0, idx.reshape(-1)).reshape({n, L});
  s.targets = all.index_select(0, (idx + 1).reshape(-1)).reshape({n, L});
  return s;
}

Split recall_split(const mamba_experiments::RecallSet& r) {
  Split s;
  s.inputs = torch::from_blob(const_cast<int32_t*>(r.inputs.data()), {r.n, r.L}, torch::kInt32).to(torch::kInt64);
  s.targets = torch::from_blob(const_cast<int32_t*>(r.targets.data()), {r.n, r.L}, torch::kInt32).to(torch::kInt64);
  s.mask = torch::from_blob(const_cast<uint8_t*>(r.mask.data()), {r.n, r.L}, torch::kUInt8).to(torch::kFloat32);
  return s;
}

struct EvalResult {
  double loss = NAN, acc = NAN;
  int64_t tokens = 0;
};

// Mean next-token cross-entropy and argmax accuracy over every counted position of `s`.
EvalResult evaluate(sm::LanguageModelImpl& net, const Split& s, int64_t batch, const torch::Device& dev) {
  torch::NoGradGuard ng;
  const bool was_training = net.is_training();
  net.eval();
  double sum = 0, correct = 0, count = 0;
  for (int64_t i = 0; i < s.n(); i += batch) {
    const int64_t j = std::min(s.n(), i + batch);
    auto x = s.inputs.slice(0, i, j).to(dev);
    auto y = s.targets.slice(0, i, j).to(dev);
    auto logits = net.forward(x).to(torch::kFloat32);  // (B, L, V)
    auto ce = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), y.reshape(-1),
                                                   torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    auto hit = (logits.argmax(-1).reshape(-1) == y.reshape(-1)).to(torch::kFloat64);
    if (s.mask.defined()) {
      auto m = s.mask.slice(0, i, j).to(dev).reshape(-1).to(torch::kFloat64);
      sum += (ce.to(torch::kFloat64) * m).sum().item<double>();
      correct += (hit * m).sum().item<double>();
      count += m.sum().item<double>();
    } else {
      sum += ce.to(torch::kFloat64).sum().item<double>();
      correct += hit.sum().item<double>();
      count += static_cast<double>(ce.numel());
    }
  }
  if (was_training) net.train();
  EvalResult r;
  r.loss = count > 0 ? sum / count : NAN;
  r.acc = count > 0 ? correct / count : NAN;
  r.tokens = static_cast<int64_t>(count);
  return r;
}

// Permutation of 0..n-1 for `epoch`, from (seed, epoch) only, so a resumed run sees the same order.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) * 0xD1B54A32D192ED03ULL + 7;
  auto next = [&] {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  };
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[next() % static_cast<uint64_t>(i + 1)]);
  return p;
}

int config_error(const std::string& msg) {
  std::cerr << "error: " << msg << "\n";
  return 2;
}

bool argv_has(int argc, char** argv, const std::string& flag) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == flag || a.rfind(flag + "=", 0) == 0) return true;
  }
  return false;
}

}  // namespace

static int ssmlab_main(int argc, char** argv) {
  ssmlab::Cli cli("mamba_train",
                  "Trains one model on recall, WikiText-2, TinyStories or plain text and logs per-epoch\n"
                  "train_loss / val_loss / val_ppl / tokens/s; keeps the best checkpoint by validation loss.\n"
                  "Models: mamba_simple = the Mamba-1 block with its selective scan (A diagonal per channel and\n"
                  "state, registry 'mamba'); mamba_SSD_diag_exp = the Mamba-2 block computed by SSD (A = -exp(A_log),\n"
                  "one decay per head times the identity, chunked matrix products; registry 'mamba2');\n"
                  "transformer = the stack's GPT-NeoX-style Transformer (registry 'T_rope');\n"
                  "moe_transformer = that Transformer with each MLP a sparse mixture of --n-experts MLPs, top --top-k\n"
                  "routing (weights renormalised over the chosen experts), no capacity limit, and the Switch\n"
                  "load-balancing loss (weight --aux-loss-coef, logged as aux_loss; registry 'T_rope_moe').\n"
                  "Aliases of the original's flags:\n"
                  "--n-state = --d-state, --n-layers = --n-layer, --epochs E = E * (train windows / batch) steps.\n"
                  "Here --eval-every 0 (the default) means once per epoch, not only at the end.",
                  "mamba_experiments", "mamba_experiments.jsonl");
  std::string model = "mamba_simple", dataset = "recall", data_dir, train_file, valid_file, tokenizer, cache_dir;
  std::string plot_dir, checkpoint_dir, eval_checkpoint;
  std::vector<std::string> train_files, valid_files;
  int64_t seq_len = 128, gap = 16, recall_vocab = 16, max_vocab = 20000, train_max = 5000, val_max = 1000;
  int64_t n_state = 0, n_layers = 0, epochs = 10, max_steps = 0, batch_size = 64, stop_at_step = 0, patience = 0;
  bool save_plots = false, allow_generated = false;
  cli.add("model", &model, "mamba_simple | mamba_SSD_diag_exp | transformer | moe_transformer (see above)")
      .one_of({"mamba_simple", "mamba_SSD_diag_exp", "transformer", "moe_transformer"});
  cli.add("dataset", &dataset, "recall | wikitext2 | tinystories | text").one_of({"recall", "wikitext2", "tinystories", "text"});
  cli.add("seq-len", &seq_len, "tokens per window L").at_least(int64_t{2});
  cli.add("gap", &gap, "recall: target at t is the input at t - gap (1 <= gap < seq-len)").at_least(int64_t{1});
  cli.add("recall-vocab", &recall_vocab, "recall: number of symbols").at_least(int64_t{2});
  cli.add("max-vocab", &max_vocab, "wikitext2: most frequent training words kept (+ <unk>, <eos>)");
  cli.add("train-max-samples", &train_max, "training windows kept (recall: generated; 0 = all)").at_least(int64_t{0});
  cli.add("val-max-samples", &val_max, "validation windows kept (0 = all)").at_least(int64_t{0});
  cli.add("n-state", &n_state, "alias of --d-state (the original's name; 0 = use --d-state)").at_least(int64_t{0});
  cli.add("n-layers", &n_layers, "alias of --n-layer (the original's name; 0 = use --n-layer)").at_least(int64_t{0});
  cli.add("epochs", &epochs, "passes over the training windows (steps = epochs * windows / batch)").at_least(int64_t{1});
  cli.add("max-steps", &max_steps, "optimizer steps; overrides --epochs (0 = from --epochs; --steps is the same)")
      .at_least(int64_t{0});
  cli.add("batch-size", &batch_size, "windows per step").at_least(int64_t{1});
  cli.add("data-dir", &data_dir, "data folder (layout of ../shared/data; default $SSMLAB_DATA_DIR)");
  cli.flag("allow-generated-text", &allow_generated, "wikitext2/tinystories: use the generated story corpus when the files are missing");
  cli.add("train-file", &train_file, "tinystories: training text (default <data-dir>/tinystories/TinyStories-train[-head].txt)");
  cli.add("valid-file", &valid_file, "tinystories: validation text (default .../TinyStories-valid[-head].txt)");
  cli.add("train-files", &train_files, "text: training files (.txt, or .jsonl with a text field)");
  cli.add("valid-files", &valid_files, "text: validation files");
  cli.add("tokenizer", &tokenizer, "tinystories/text: tokenizer.json or a folder with vocab.json + merges.txt "
                                   "(default <data-dir>/tokenizers/gpt2)");
  cli.add("cache-dir", &cache_dir, "tinystories/text: token cache folder (default <out>/cache)");
  cli.flag("save-plots", &save_plots, "draw this run's loss curves (PNG) into --plot-dir");
  cli.add("plot-dir", &plot_dir, "plots folder; the JSONL log goes to <plot-dir>/train_runs.jsonl unless --log is given");
  cli.add("checkpoint-dir", &checkpoint_dir, "this run's folder: best/ (Hugging Face folder), best.json, last.ckpt, run.json");
  cli.add("eval-checkpoint", &eval_checkpoint, "no training: validation loss of a saved folder on --dataset");
  cli.add("patience", &patience, "early stopping: end the run after K evaluations in a row without a new best "
                                 "validation loss (0 = off; the best checkpoint is kept)").at_least(int64_t{0});
  cli.add("stop-at-step", &stop_at_step, "testing: stop (exit 3) before step K, as if killed (0 = never)").at_least(int64_t{0});
  sm::ModelConfig mc;
  mc.d_model = 64;
  mc.n_layer = 2;
  mc.d_state = 16;
  sm::add_model_flags(cli, &mc);
  sm::TrainConfig tc;
  constexpr int64_t kStepsUnset = 1000000007;  // --steps not given: steps come from --max-steps / --epochs
  tc.steps = kStepsUnset;
  tc.lr = 1e-3;
  tc.min_lr = 1e-4;
  tc.warmup = 10;
  tc.log_every = 10;
  sm::add_train_flags(cli, &tc);
  sm::DistConfig dc;  // data-parallel under ssmlab_launch (docs/distributed.md); --batch-size is per rank
  sm::add_dist_flags(cli, &dc);
  auto opts = cli.parse_or_exit(argc, argv);
  ssmlab::init_runtime(opts);  // threads, heap reuse, --quiet (ssmlab/runtime.h)

  // ---- cross-flag checks (exit 2, one line) ----
  if (max_vocab < 1) return config_error("--max-vocab must be >= 1 (got " + std::to_string(max_vocab) + ")");
  if (dataset == "recall" && gap >= seq_len)
    return config_error("--gap must be < --seq-len (got gap " + std::to_string(gap) + ", seq-len " + std::to_string(seq_len) + ")");
  if (model == "moe_transformer" && mc.top_k > mc.n_experts)
    return config_error("--top-k must be <= --n-experts (got top-k " + std::to_string(mc.top_k) + ", n-experts " +
                        std::to_string(mc.n_experts) + ")");
  if (n_state > 0) mc.d_state = n_state;
  if (n_layers > 0) mc.n_layer = n_layers;
  if (tc.steps != kStepsUnset && max_steps == 0) max_steps = tc.steps;
  if (data_dir.empty())
    if (const char* e = std::getenv("SSMLAB_DATA_DIR")) data_dir = e;
  if (!plot_dir.empty() && !argv_has(argc, argv, "--log")) opts.log_path = (fs::path(plot_dir) / "train_runs.jsonl").string();
  if (plot_dir.empty()) plot_dir = (fs::path(opts.out_dir) / "plots").string();
  if (cache_dir.empty()) cache_dir = (fs::path(opts.out_dir) / "cache").string();
  if (tc.resume && checkpoint_dir.empty() && tc.checkpoint.empty())
    return config_error("--resume needs --checkpoint-dir (or --checkpoint)");
  if (!checkpoint_dir.empty() && fs::exists(checkpoint_dir) && !fs::is_directory(checkpoint_dir))
    return config_error("--checkpoint-dir " + checkpoint_dir + " exists and is not a folder");
  // output paths, before any work (exit 2 naming the flag; ssmlab/main_guard.h)
  try {
    ssmlab::check_output_dir("checkpoint-dir", checkpoint_dir);
    ssmlab::check_output_file("checkpoint", tc.checkpoint);
    if (save_plots) ssmlab::check_output_dir("plot-dir", plot_dir);
    ssmlab::check_output_file("log", opts.log_path);
  } catch (const ssmlab::UsageError& e) {
    return config_error(e.what());
  }
  const std::string reg = registry_name(model);
  sm::torch_set_threads(opts);
  sm::seed_everything(opts.seed);
  torch::Device device = torch::kCPU;
  std::shared_ptr<sm::Distributed> dist;  // WORLD_SIZE > 1: joins the process group (DistError: exit 1)
  try {
    dist = sm::Distributed::join(dc, tc.device);
    device = dist->device();
  } catch (const std::invalid_argument& e) {
    return config_error(e.what());
  }
  if (mc.kernel_impl == "cuda" && !ssmlab::kernels::cuda_kernels_built())
    return config_error("--kernel-impl cuda: this build has no CUDA kernels (built without nvcc and a CUDA LibTorch); use auto");
  if (mc.kernel_impl == "cuda" && !device.is_cuda())
    return config_error("--kernel-impl cuda needs --device cuda (the device is " + device.str() + ")");
  sm::apply_writer_rule(&opts, *dist);  // ranks != 0 write and print nothing
  const bool main_rank = dist->is_main();
  const int64_t global_batch = batch_size * dist->world();

  // ---- data ----
  Split train, val;
  mamba_experiments::Corpus corpus;
  std::string source = "generated";
  try {
    if (dataset == "recall") {
      const int64_t n_tr = train_max > 0 ? train_max : 5000, n_va = val_max > 0 ? val_max : 1000;
      train = recall_split(mamba_experiments::make_recall(n_tr, seq_len, gap, recall_vocab, opts.seed));
      val = recall_split(mamba_experiments::make_recall(n_va, seq_len, gap, recall_vocab, opts.seed + 1000003));
      corpus.vocab_size = recall_vocab;
    } else {
      if (dataset == "wikitext2") {
        try {
          corpus = mamba_experiments::load_wikitext2(data_dir, max_vocab);
        } catch (const mamba_experiments::DataError& e) {
          if (!allow_generated) throw;
          ssmlab::progress(opts, std::string("note: ") + e.what() + "; using the generated story corpus (--allow-generated-text)");
          corpus = mamba_experiments::generated_word_corpus(max_vocab);
        }
      } else {
        mamba_experiments::BpeSpec spec;
        spec.cache_dir = cache_dir;
        spec.tokenizer = !tokenizer.empty() ? tokenizer : (data_dir.empty() ? "" : (fs::path(data_dir) / "tokenizers" / "gpt2").string());
        if (dataset == "tinystories") {
          try {
            mamba_experiments::resolve_tinystories(data_dir, &train_file, &valid_file);
            if (spec.tokenizer.empty()) throw mamba_experiments::DataError("tinystories: no --tokenizer and no data folder to find tokenizers/gpt2 in");
            spec.train_files = {train_file};
            spec.valid_files = {valid_file};
          } catch (const mamba_experiments::DataError& e) {
            if (!allow_generated) throw;
            ssmlab::progress(opts, std::string("note: ") + e.what() + "; using the generated story corpus, word level");
            corpus = mamba_experiments::generated_word_corpus(max_vocab);
            corpus.name = "tinystories";
          }
        } else {
          spec.train_files = train_files;
          spec.valid_files = valid_files;
          if (spec.tokenizer.empty()) throw mamba_experiments::DataError("text: no --tokenizer and no data folder to find tokenizers/gpt2 in");
        }
        if (corpus.train.empty()) {
          bool hit = false;
          corpus = mamba_experiments::load_bpe_corpus(dataset, spec, &hit);
          ssmlab::progress(opts, std::string(hit ? "token cache hit" : "tokenized and cached") + " in " + cache_dir);
        }
      }
      source = corpus.source;
      train = windows_of(corpus.train, seq_len, train_max);
      val = windows_of(corpus.valid, seq_len, val_max);
      if (!train.inputs.defined() || !val.inputs.defined())
        throw mamba_experiments::DataError(dataset + ": fewer than --seq-len + 1 tokens in the training or validation text");
    }
  } catch (const mamba_experiments::DataError& e) {
    return config_error(e.what());
  } catch (const std::invalid_argument& e) {
    return config_error(e.what());
  }
  const int64_t steps_per_epoch = std::max<int64_t>(1, train.n() / global_batch);
  tc.steps = max_steps > 0 ? max_steps : epochs * steps_per_epoch;
  if (tc.eval_every == 0) tc.eval_every = steps_per_epoch;
  mc.vocab_size = corpus.vocab_size;

  // ---- --eval-checkpoint: validation loss of a saved folder ----
  if (!eval_checkpoint.empty()) {
    ssmlab::hf::Pretrained p;
    try {
      p = ssmlab::hf::load_pretrained(eval_checkpoint, {.device = device});
    } catch (const std::exception& e) {
      return config_error("--eval-checkpoint " + eval_checkpoint + ": " + e.what());
    }
    if (p.model->vocab_size() < corpus.vocab_size)
      return config_error("--eval-checkpoint " + eval_checkpoint + ": the model has " + std::to_string(p.model->vocab_size()) +
                          " output rows but " + dataset + " needs " + std::to_string(corpus.vocab_size));
    auto r = evaluate(*p.model, val, batch_size, device);
    ssmlab::RunLog run(opts, "mamba_eval_checkpoint");
    json m{{"dataset", dataset}, {"model_family", p.model->family()}, {"val_loss", r.loss}, {"val_ppl", std::exp(r.loss)},
           {"val_acc", r.acc}, {"val_tokens", r.tokens}};
    m["ppl_consistency_err"] = std::abs(std::log(m["val_ppl"].get<double>()) - r.loss);
    std::ostringstream sum;
    sum << eval_checkpoint << " (" << p.model->family() << ") on " << dataset << ": val_loss " << r.loss;
    std::cout << "val_loss " << std::setprecision(10) << r.loss << "\n";
    run.write(m, sum.str(), std::isfinite(r.loss));
    return std::isfinite(r.loss) ? 0 : 1;
  }

  // ---- model and the run folder ----
  sm::LanguageModel net;
  try {
    net = sm::make_model(reg, mc);
  } catch (const std::exception& e) {
    return config_error(e.what());
  }
  const int64_t n_params = sm::count_params(*net);
  const int64_t n_params_active = sm::active_param_count(reg, mc);  // what one token uses (MoE: top_k experts)
  const json identity{{"model", model}, {"registry", reg}, {"dataset", dataset}, {"vocab_size", corpus.vocab_size},
                      {"model_config", mc.to_json()}};
  double best_val = INFINITY, initial_val = NAN;
  int64_t best_step = -1;
  const fs::path run_dir = checkpoint_dir;
  if (!checkpoint_dir.empty()) {
    if (tc.checkpoint.empty()) tc.checkpoint = (run_dir / "last.ckpt").string();
    const fs::path rj = run_dir / "run.json", bj = run_dir / "best.json", cfg = run_dir / "best" / "config.json";
    if (tc.resume) {
      try {
        if (fs::is_regular_file(rj)) {
          const json prev = ssmlab::read_json_file(rj.string());
          for (const char* k : {"model", "dataset", "vocab_size", "model_config"}) {
            json before = prev.value(k, json());
            if (before.is_object() && identity[k].is_object()) {  // keys added since (n_experts, top_k): this run's
              json merged = identity[k];
              merged.update(before);
              before = merged;
            }
            if (before != identity[k])
              return config_error("--resume: " + checkpoint_dir + " holds a run of a different " + k + " (" +
                                  prev.value(k, json()).dump() + ", this run: " + identity[k].dump() + ")");
          }
        } else if (fs::is_regular_file(cfg)) {
          const json c = ssmlab::read_json_file(cfg.string());
          if (c.value("model_type", std::string()) != hf_model_type(reg))
            return config_error("--resume: " + checkpoint_dir + " holds a " + c.value("model_type", std::string("?")) +
                                " checkpoint, not " + hf_model_type(reg) + " (" + model + ")");
        }
        if (fs::is_regular_file(bj)) {
          const json b = ssmlab::read_json_file(bj.string());
          best_val = b.value("val_loss", INFINITY);
          best_step = b.value("step", int64_t{-1});
          initial_val = b.value("initial_val_loss", NAN);
        }
      } catch (const std::exception& e) {
        return config_error("--resume: " + checkpoint_dir + ": " + e.what());
      }
    }
    try {
      if (main_rank) {  // rank 0 writes the run folder; the other ranks only read it (--resume)
        fs::create_directories(run_dir);
        ssmlab::write_file_atomic(rj.string(), identity.dump(1) + "\n");
      }
    } catch (const std::exception& e) {
      return config_error("--checkpoint-dir " + checkpoint_dir + ": " + e.what());
    }
  }

  ssmlab::RunLog run(opts, "mamba_train");
  run.add_param("n_params", n_params);
  run.add_param("n_params_active", n_params_active);
  run.add_param("model_config", mc.to_json());
  run.add_param("registry_model", reg);
  run.add_param("steps", tc.steps);
  run.add_param("steps_per_epoch", steps_per_epoch);
  run.add_param("data_source", source);
  run.add_param("train_windows", train.n());
  run.add_param("val_windows", val.n());
  ssmlab::progress(opts, model + " (" + reg + "): " + std::to_string(n_params) + " parameters (" +
                             std::to_string(n_params_active) + " active per token); " + dataset + " (" + source +
                             "): " + std::to_string(train.n()) + " train / " + std::to_string(val.n()) + " val windows of " +
                             std::to_string(seq_len) + ", vocab " + std::to_string(corpus.vocab_size) + "; " +
                             std::to_string(tc.steps) + " steps (" + std::to_string(steps_per_epoch) + " per epoch)");

  // ---- training ----
  run.add_param("world_size", dist->world());
  run.add_param("global_batch", global_batch);
  sm::Trainer trainer(net, tc, &run, dist);
  std::vector<int64_t> order;
  int64_t order_epoch = -1;
  double tokens_since = 0, loss_sum = 0, aux_sum = 0;  // aux: the model's aux_loss (MoE), NaN-free
  int64_t loss_n = 0;
  ssmlab::Stopwatch train_clock;
  double last_acc = NAN, last_val = NAN;
  int64_t evals_since_best = 0;  // --patience (counted from this process's start; a resume starts again at 0)
  std::vector<double> curve_epoch, curve_train, curve_val;
  std::string tokenizer_tmp;
  if (!checkpoint_dir.empty()) {
    tokenizer_tmp = (run_dir / "tokenizer.json").string();
    if (!corpus.tokenizer_json.empty() && main_rank) ssmlab::write_file_atomic(tokenizer_tmp, corpus.tokenizer_json);
  }

  if (std::isnan(initial_val) && !(tc.resume && fs::exists(tc.checkpoint))) {
    initial_val = evaluate(*net, val, batch_size, trainer.device()).loss;
    json m{{"model", model}, {"dataset", dataset}, {"epoch", 0.0}, {"step", 0}, {"val_loss", initial_val},
           {"val_ppl", std::exp(initial_val)}};
    m["ppl_consistency_err"] = std::abs(std::log(m["val_ppl"].get<double>()) - initial_val);
    run.write(m, model + " " + dataset + " before training: val_loss " + std::to_string(initial_val), std::isfinite(initial_val),
              "epoch");
    curve_epoch.push_back(0);
    curve_val.push_back(initial_val);
    curve_train.push_back(NAN);
  }
  auto save_best = [&](int64_t step, double vl) {
    if (checkpoint_dir.empty() || !main_rank) return;
    ssmlab::hf::SaveOptions so;
    if (!corpus.tokenizer_json.empty()) so.tokenizer_file = tokenizer_tmp;
    so.eos_token_id = corpus.eos_id;
    ssmlab::hf::save_pretrained(*net, (run_dir / "best").string(), so);
    ssmlab::write_file_atomic((run_dir / "best.json").string(),
                              json{{"val_loss", vl}, {"step", step}, {"epoch", static_cast<double>(step) / steps_per_epoch},
                                   {"initial_val_loss", std::isfinite(initial_val) ? json(initial_val) : json()},
                                   {"model", model}, {"dataset", dataset}}
                                      .dump(1) + "\n");
  };

  sm::BatchFn batch_fn = [&](int64_t step) {
    if (stop_at_step > 0 && step == stop_at_step) throw std::runtime_error("stopped before step " + std::to_string(step));
    const int64_t epoch = step / steps_per_epoch, b = step % steps_per_epoch;
    if (epoch != order_epoch) order = epoch_order(train.n(), opts.seed, epoch), order_epoch = epoch;
    std::vector<int64_t> rows;
    for (int64_t i = b * global_batch; i < std::min<int64_t>((b + 1) * global_batch, train.n()); ++i) rows.push_back(order[i]);
    auto idx = torch::tensor(rows, torch::kInt64);
    sm::Batch batch{train.inputs.index_select(0, idx), train.targets.index_select(0, idx), {}};
    if (train.mask.defined()) batch.mask = train.mask.index_select(0, idx);
    tokens_since += static_cast<double>(batch.inputs.numel());
    return batch;
  };
  auto base_loss = sm::lm_loss(net);
  int64_t aux_n = 0;
  sm::LossFn loss_fn = [&](const sm::Batch& b) {
    auto l = base_loss(b);  // the LM loss; the Trainer adds the model's aux_loss() itself
    if (auto a = net->aux_loss(); a.defined()) aux_sum += a.item<double>(), ++aux_n;  // this rank's
    return l;
  };
  size_t losses_seen = 0;  // the train loss of a window: the trainer's (global) step losses
  sm::EvalFn eval_fn = [&](int64_t step) -> json {
    const double train_s = train_clock.seconds();
    for (const auto& ls = trainer.step_losses(); losses_seen < ls.size(); ++losses_seen) loss_sum += ls[losses_seen].second, ++loss_n;
    auto r = evaluate(*net, val, batch_size, trainer.device());
    const double epoch = static_cast<double>(step) / static_cast<double>(steps_per_epoch);
    const double train_loss = loss_n > 0 ? loss_sum / static_cast<double>(loss_n) : NAN;
    const double tps = train_s > 0 ? tokens_since / train_s : 0.0;
    bool improved = false;
    ++evals_since_best;
    if (std::isfinite(r.loss) && r.loss < best_val) {
      evals_since_best = 0;
      best_val = r.loss;
      best_step = step;
      improved = true;
      save_best(step, r.loss);
    }
    json m{{"model", model},         {"dataset", dataset},   {"epoch", epoch},    {"step", step},
           {"val_loss", r.loss},     {"val_ppl", std::exp(r.loss)}, {"val_acc", r.acc}, {"tokens_per_s", tps},
           {"best_val_loss", best_val}, {"improved", improved}};
    if (std::isfinite(train_loss)) m["train_loss"] = train_loss;
    if (aux_n > 0) m["aux_loss"] = aux_sum / static_cast<double>(aux_n);
    m["ppl_consistency_err"] = std::abs(std::log(m["val_ppl"].get<double>()) - r.loss);
    std::ostringstream line;
    line << model << " " << dataset << " epoch " << std::setprecision(3) << epoch << " step " << step << ": train_loss "
         << std::setprecision(5) << train_loss << " val_loss " << r.loss << " val_ppl " << std::exp(r.loss) << " "
         << std::setprecision(4) << tps << " tok/s" << (improved && !checkpoint_dir.empty() ? " (best, saved)" : "");
    ssmlab::progress(opts, line.str());
    run.write(m, line.str(), std::isfinite(r.loss), "epoch");
    curve_epoch.push_back(epoch);
    curve_train.push_back(train_loss);
    curve_val.push_back(r.loss);
    loss_sum = 0, aux_sum = 0, loss_n = 0, aux_n = 0, tokens_since = 0;
    last_acc = r.acc;
    last_val = r.loss;
    train_clock.reset();  // the next window's training time starts after this evaluation
    json out{{"val_loss", r.loss}, {"val_ppl", std::exp(r.loss)}};
    if (patience > 0 && evals_since_best >= patience) {
      out["stop_training"] = true;
      ssmlab::progress(opts, "early stop: no better validation loss in " + std::to_string(patience) +
                                 " evaluations (best " + std::to_string(best_val) + " at step " + std::to_string(best_step) + ")");
    }
    return out;
  };

  sm::TrainResult res;
  train_clock.reset();
  try {
    res = trainer.fit(batch_fn, loss_fn, eval_fn);
  } catch (const sm::CheckpointError& e) {
    return config_error(e.what());
  } catch (const std::exception& e) {
    if (stop_at_step > 0) {
      std::cerr << "stopped: " << e.what() << " (--stop-at-step)\n";
      return 3;
    }
    throw;
  }

  const double final_val = last_val;  // the double itself (the trainer's eval record is a copy)
  json m{{"model", model},
         {"dataset", dataset},
         {"params", n_params},
         {"params_active", n_params_active},
         {"steps", res.steps_done},
         {"epochs", static_cast<double>(res.steps_done) / steps_per_epoch},
         {"tokens_per_s", res.tokens_per_s},
         {"final_train_loss", res.final_loss},
         {"final_val_loss", final_val},
         {"final_val_ppl", std::exp(final_val)},
         {"best_val_loss", best_val},
         {"best_step", best_step},
         {"stopped_early", res.stopped_early},
         {"data_source", source}};
  if (std::isfinite(initial_val)) m["initial_val_loss"] = initial_val;
  if (std::isfinite(last_acc)) m["final_val_acc"] = last_acc;
  if (std::isfinite(res.final_aux_loss)) m["final_aux_loss"] = res.final_aux_loss;
  if (!checkpoint_dir.empty()) m["best_checkpoint"] = (run_dir / "best").string();
  std::ostringstream sum;
  sum << model << " " << dataset << ": " << n_params << " params";
  if (n_params_active != n_params) sum << " (" << n_params_active << " active)";
  sum << ", " << res.steps_done << " steps, val_loss "
      << std::setprecision(5) << initial_val << " -> " << final_val << " (best " << best_val << " at step " << best_step
      << "), " << std::setprecision(4) << res.tokens_per_s << " tok/s";
  if (!res.ok) {  // a "failed" result saying why and where (docs/log-schema.md, "Failed runs")
    sum << "; FAILED: " << res.error;
    m["failed_step"] = res.failed_step;
    m["error"] = res.error;
  }

  if (save_plots && curve_epoch.size() >= 2) {
    ssmlab::plot::PlotSpec spec;
    spec.title = model + " on " + dataset + ", seed " + std::to_string(opts.seed);
    spec.xlabel = "epoch";
    spec.ylabel = "loss (nats/token)";
    spec.output = (fs::path(plot_dir) / (model + "_" + dataset + "_s" + std::to_string(opts.seed) + "_loss.png")).string();
    ssmlab::plot::Series tr{"train loss", {}, {}, {}, ssmlab::plot::Style::LinesPoints};
    ssmlab::plot::Series va{"val loss", {}, {}, {}, ssmlab::plot::Style::LinesPoints};
    for (size_t i = 0; i < curve_epoch.size(); ++i) {
      if (std::isfinite(curve_train[i])) tr.x.push_back(curve_epoch[i]), tr.y.push_back(curve_train[i]);
      if (std::isfinite(curve_val[i])) va.x.push_back(curve_epoch[i]), va.y.push_back(curve_val[i]);
    }
    if (!tr.x.empty()) spec.series.push_back(tr);
    spec.series.push_back(va);
    try {
      ssmlab::plot::render_plot(spec);
      m["plot"] = spec.output;
    } catch (const std::exception& e) {
      ssmlab::progress(opts, std::string("note: plot not drawn: ") + e.what());
    }
  }
  run.write(m, sum.str(), res.ok && std::isfinite(final_val));
  ssmlab::progress(opts, sum.str());
  return res.ok && std::isfinite(final_val) ? 0 : 1;
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
