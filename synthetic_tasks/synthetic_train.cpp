// synthetic_train — one model on one synthetic task (Jelassi et al. 2024, "Repeat After Me", §4):
// trains on packed rows of fresh examples, evaluates a fixed seeded set per length, teacher-forced
// and greedy, and writes one JSONL "length_eval" record per (eval point, length).
//
//   synthetic_train --model T_rope --train-task copy --eval-task copy \
//       --min-train-len 5 --max-train-len 20 --min-eval-len 20 --max-eval-len 20
//   synthetic_train --config synthetic_tasks/configs/quick.json --model mamba
//   synthetic_train --list-models          # the valid --model names (models::model_names())
// Several models / experiments: synthetic_tasks/sweeps/sweep.sh (docs/synthetic.md).
//
// Records (experiment "synthetic_train", log <out>/logs/synthetic.jsonl by default):
//   step         from the trainer: loss, lr, grad norm, tokens/s every --log-every steps
//   length_eval  model, task, params, step, examples_seen, length, string_acc(_std),
//                char_acc(_std), eos_acc, loss, train_loss, progress (the efficiency-curve length),
//                final; greedy_* and agreement where greedy decoding ran
//   eval         the trainer's per-eval summary;  result  one per run
#include "ssmlab/main_guard.h"
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>

#include "models/registry.h"              // make_model, match_params, model_names
#include "models/trainer.h"               // Trainer, checkpoints
#include "ssmlab/cli.h"
#include "ssmlab/runtime.h"
#include "ssmlab/hf/pretrained.h"         // save_pretrained (--save-hf)
#include "ssmlab/jsonl_log.h"
#include "synthetic_tasks/evaluation.h"   // to_tensors, score_length, cached_greedy
#include "synthetic_tasks/tasks.h"        // TaskSpec, pack_batch, make_eval_set

namespace sm = ssmlab::models;
namespace fs = std::filesystem;
namespace st = ssmlab::synthetic_tasks;
using nlohmann::json;

namespace {

// How many lengths st::eval_lengths(lo, hi, step) returns (without building the list).
double lengths_count(int lo, int hi, int step) { return hi < lo ? 0.0 : std::floor((hi - lo) / static_cast<double>(step)) + 2; }

// Sizes of the original code (reference §1.3): transformers 12 x 1024 with 16 heads (8 windowed
// heads for Hard-ALiBi); Mamba 1024 wide, d_state 32, depth giving the paper's ~160 M; LSTM
// 1024 wide, depth giving the paper's ~40 M.
void paper_arch(const std::string& model, sm::ModelConfig& mc) {
  mc.d_model = 1024;
  if (model.rfind("T_", 0) == 0) {
    mc.n_layer = 12;
    mc.n_head = 16;
  } else if (model == "mamba") {
    mc.n_layer = 24;
    mc.d_state = 32;
  } else if (model == "mamba2") {
    mc.n_layer = 24;
    mc.d_state = 32;
  } else {  // lstm: the original's dropout 0.65
    mc.n_layer = 5;
    mc.dropout = 0.65;
  }
}

}  // namespace

static int ssmlab_main(int argc, char** argv) {
  ssmlab::Cli cli("synthetic_train",
                  "Trains one model on a synthetic copy / n-gram lookup task (Jelassi et al. 2024) and\n"
                  "evaluates string and character accuracy per length, teacher-forced and greedy.",
                  "synthetic", "synthetic.jsonl");
  std::string model = "T_rope", train_task = "copy", eval_task = "copy", arch = "flags", preset = "custom", tag, sweep_exp;
  std::string checkpoint_dir, save_hf;
  int min_train = 5, max_train = 20, min_eval = 20, max_eval = 20, eval_len_step = 1, n_gram = 0, length_answer = 0;
  int batch_size = 8, context_len = 220, eval_context_len = 0, eval_batches = 3, eval_batch_size = 8;
  int greedy_samples = 8, greedy_max_len = 100, progress_len = 0;
  std::int64_t param_budget = 0, match_layers = 0;
  std::uint64_t eval_seed = 1234;
  bool eval_only = false, eval_at_max_train = false, list_models = false;
  cli.add("model", &model, "model family").one_of(sm::model_names());
  cli.add("train-task", &train_task, "training task").one_of({"copy", "prefix_ngram", "suffix_ngram"});
  cli.add("eval-task", &eval_task, "evaluation task").one_of(st::task_names());
  cli.add("min-train-len", &min_train, "shortest training string [letters]").at_least(1);
  cli.add("max-train-len", &max_train, "longest training string [letters] (inclusive)").at_least(1);
  cli.add("min-eval-len", &min_eval, "shortest evaluated string [letters]").at_least(1);
  cli.add("max-eval-len", &max_eval, "longest evaluated string [letters] (inclusive, evaluated)").at_least(1);
  cli.add("eval-len-step", &eval_len_step, "step between evaluated lengths (the max is always evaluated)").at_least(1);
  cli.add("n-gram", &n_gram, "n of the lookup key / duplicated n-gram").at_least(0);
  cli.add("length-answer", &length_answer, "answer only the first K letters (0 = all)").at_least(0);
  cli.add("batch-size", &batch_size, "training rows per step").at_least(1);
  cli.add("context-len", &context_len, "tokens per packed training row").at_least(4);
  cli.add("eval-context-len", &eval_context_len, "longest allowed eval example [tokens] (0 = what --max-eval-len needs)").at_least(0);
  cli.add("eval-batches", &eval_batches, "eval batches per length (mean +- std over them)").at_least(1);
  cli.add("eval-batch-size", &eval_batch_size, "examples per eval batch").at_least(1);
  cli.add("eval-seed", &eval_seed, "seed of the fixed evaluation set (shared by every model)");
  cli.add("greedy-samples", &greedy_samples, "examples per length also decoded greedily (0 = none)").at_least(0);
  cli.add("greedy-max-len", &greedy_max_len, "greedy decoding only at lengths <= this [letters]").at_least(0);
  cli.add("progress-len", &progress_len, "length scored at every --eval-every (0 = --max-train-len)").at_least(0);
  cli.add("arch", &arch, "model size: flags (--d-model ...) | match (--params budget) | paper (original sizes)")
      .one_of({"flags", "match", "paper"});
  cli.add("params", &param_budget, "parameter budget for --arch match").at_least(std::int64_t{0});
  cli.add("match-layers", &match_layers, "--arch match: fix the depth and fit only the width (0 = the library's choice)")
      .at_least(std::int64_t{0});
  cli.add("preset", &preset, "name of the preset in use (recorded only)");
  cli.add("tag", &tag, "free label recorded in params (sweeps/sweep.sh gives its runs one tag)");
  cli.add("sweep-exp", &sweep_exp, "experiment label (copy | lookup | duplicate) set by sweeps/sweep.sh (recorded only)");
  cli.add("checkpoint-dir", &checkpoint_dir, "folder for checkpoints (file <model>_<task>_s<seed>.ckpt) unless --checkpoint");
  cli.add("save-hf", &save_hf, "after the run, save the final model as a Hugging Face folder here (hf::save_pretrained)");
  cli.flag("eval-only", &eval_only, "no training: load --checkpoint (which must exist) and evaluate");
  cli.flag("eval-at-max-train", &eval_at_max_train, "evaluate only at --max-train-len (overrides the eval range)");
  cli.flag("list-models", &list_models, "print the valid --model names, one per line, and exit");
  sm::ModelConfig mc;
  sm::add_model_flags(cli, &mc);
  sm::TrainConfig tc;
  tc.steps = 2000;
  tc.lr = 1e-3;
  tc.eval_every = 100;
  sm::add_train_flags(cli, &tc);
  sm::DistConfig dc;  // data-parallel under ssmlab_launch (docs/distributed.md); --batch-size is per rank
  sm::add_dist_flags(cli, &dc);
  auto opts = cli.parse_or_exit(argc, argv);
  ssmlab::init_runtime(opts);  // threads, heap reuse, --quiet (ssmlab/runtime.h)
  if (list_models) {
    for (const auto& name : sm::model_names()) std::cout << name << "\n";
    return 0;
  }
  opts.params.erase("list-models");  // an action, not a setting: the records stay as they were

  // ---- output paths, checked before any work (exit 2; ssmlab/main_guard.h) ----
  ssmlab::check_output_dir("checkpoint-dir", checkpoint_dir);
  if (!eval_only) ssmlab::check_output_file("checkpoint", tc.checkpoint);
  ssmlab::check_output_dir("save-hf", save_hf);

  // ---- cross-flag checks (exit 2 with one line) ----
  if (!save_hf.empty()) {  // an unusable output folder is found before training, not after
    const fs::path target(save_hf), parent = fs::absolute(target).parent_path();
    if ((fs::exists(target) && !fs::is_directory(target)) || !fs::is_directory(parent)) {
      std::cerr << "error: --save-hf " << save_hf << ": needs a folder (new or existing) inside an existing folder\n";
      return 2;
    }
  }
  if (eval_at_max_train) min_eval = max_eval = max_train;
  if (progress_len == 0) progress_len = max_train;
  st::TaskSpec tspec{st::parse_task(train_task), n_gram, length_answer};
  st::TaskSpec espec{st::parse_task(eval_task), n_gram, length_answer};
  // Memory of the evaluation set and of one batch's activations (attention scores for the
  // Transformers), in double before any int arithmetic on the lengths can overflow.
  auto check_activations = [&](double d_model, double n_layer, double n_head) {
    const double ex_tokens = 2.0 * std::max(max_eval, progress_len) + 2.0 * n_gram + 8;  // an example, roughly
    const double ctx = std::max<double>({ex_tokens, static_cast<double>(eval_context_len), static_cast<double>(context_len)});
    const double eval_tokens = lengths_count(min_eval, max_eval, eval_len_step) * eval_batches * eval_batch_size * ex_tokens;
    const double heads = model.rfind("T_", 0) == 0 ? n_head : 0.0;
    const double rows = std::max(eval_batch_size, batch_size);
    // the lengths first (the attention scores of one batch), then the width (activations)
    ssmlab::check_fits_in_memory("--max-eval-len " + std::to_string(max_eval) + " / --context-len " + std::to_string(context_len),
                                 "the evaluation set and the attention scores of one batch",
                                 eval_tokens * 8 + rows * ctx * heads * ctx * 4 * 2);
    if (d_model > 0)
      ssmlab::check_fits_in_memory("--d-model " + std::to_string(static_cast<long long>(d_model)) + " / --batch-size " +
                                       std::to_string(batch_size) + " / --eval-batch-size " + std::to_string(eval_batch_size),
                                   "the activations of one batch", rows * ctx * d_model * n_layer * 4 * 16);
  };
  check_activations(0.0, 0.0, static_cast<double>(mc.n_head));
  const int eval_need = std::max(st::max_example_tokens(espec, max_eval), st::max_example_tokens(espec, progress_len));
  if (eval_context_len == 0) eval_context_len = eval_need;
  try {
    st::validate(tspec, min_train, max_train, context_len);
  } catch (const std::exception& e) {
    std::cerr << "error: training range: " << e.what() << " (--min-train-len/--max-train-len/--context-len)\n";
    return 2;
  }
  try {
    st::validate(espec, min_eval, max_eval, eval_context_len);
    st::validate(espec, progress_len, progress_len, eval_context_len);
  } catch (const std::exception& e) {
    std::cerr << "error: evaluation range: " << e.what() << " (--min-eval-len/--max-eval-len/--progress-len/--eval-context-len)\n";
    return 2;
  }
  if (arch == "match" && param_budget <= 0) {
    std::cerr << "error: --arch match needs --params > 0\n";
    return 2;
  }
  if (arch == "match")  // 16 bytes per trained parameter (fp32 weights, gradients, two AdamW moments)
    ssmlab::check_fits_in_memory("--params " + std::to_string(param_budget), "fp32 parameters, gradients and AdamW moments",
                                 16.0 * static_cast<double>(param_budget));
  if (tc.checkpoint.empty() && !checkpoint_dir.empty())
    tc.checkpoint = checkpoint_dir + "/" + model + "_" + train_task + "_s" + std::to_string(opts.seed) + ".ckpt";
  if (eval_only && (tc.checkpoint.empty() || !std::filesystem::exists(tc.checkpoint))) {
    std::cerr << "error: --eval-only needs an existing --checkpoint (got '" << tc.checkpoint << "')\n";
    return 2;
  }

  sm::torch_set_threads(opts);
  sm::seed_everything(opts.seed);
  torch::Device device = torch::kCPU;
  std::shared_ptr<sm::Distributed> dist;  // WORLD_SIZE > 1: joins the process group (DistError: exit 1)
  try {
    dist = sm::Distributed::join(dc, tc.device);
    device = dist->device();
  } catch (const std::invalid_argument& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  sm::apply_writer_rule(&opts, *dist);  // ranks != 0 write and print nothing
  const int world = dist->world();

  // ---- model ----
  mc.vocab_size = st::kVocab;
  if (arch == "paper") paper_arch(model, mc);
  if (arch == "match") {  // --match-layers K: depth fixed at K, only the width fitted (registry.h)
    try {
      mc = sm::match_params(param_budget, model, mc, 0.05, match_layers);
    } catch (const std::exception& e) {
      throw ssmlab::UsageError("--params " + std::to_string(param_budget) + ": " + e.what());
    }
  }
  // Shapes and sizes before anything is allocated (exit 2 naming the flag): the model with its
  // AdamW state, and the evaluation set with one eval batch's attention scores.
  {
    const double avail = static_cast<double>(ssmlab::physical_memory_bytes());
    sm::check_model_fits(model, mc, ssmlab::physical_memory_bytes(), !eval_only);
    if (avail > 0) check_activations(mc.d_model, mc.n_layer, mc.n_head);
  }
  sm::LanguageModel net = sm::make_model(model, mc);
  const std::int64_t n_params = sm::count_params(*net);
  const double rel_err = param_budget > 0 ? std::abs(static_cast<double>(n_params - param_budget)) / param_budget : 0.0;

  ssmlab::RunLog run(opts, "synthetic_train");
  run.add_param("n_params", n_params);
  run.add_param("model_config", mc.to_json());
  ssmlab::progress(opts, model + ": " + std::to_string(n_params) + " parameters " + mc.to_json().dump());

  // ---- data ----
  const auto lengths = st::eval_lengths(min_eval, max_eval, eval_len_step);
  const st::EvalSet eval_set = st::make_eval_set(espec, lengths, eval_batches, eval_batch_size, eval_seed);
  const st::EvalSet progress_set = st::make_eval_set(espec, {progress_len}, eval_batches, eval_batch_size, eval_seed);
  // fresh examples every step, derived from (seed, step) so a resumed run sees the same stream
  auto step_rng = [&](std::int64_t step) {
    return st::Rng(opts.seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(step) * 0xBF58476D1CE4E5B9ULL + 1);
  };
  std::vector<int> examples_at;  // complete examples in the batch of each step
  auto batch_for = [&](std::int64_t step) {
    auto rng = step_rng(step);
    return st::pack_batch(tspec, min_train, max_train, batch_size * world, context_len, rng);  // the global batch
  };
  auto examples_seen = [&](std::int64_t step) {  // examples in steps [0, step)
    std::int64_t total = 0;
    for (std::int64_t s = 0; s < step; ++s) {
      if (static_cast<std::int64_t>(examples_at.size()) <= s) examples_at.resize(s + 1, -1);
      if (examples_at[s] < 0) examples_at[s] = batch_for(s).examples;  // after a resume
      total += examples_at[s];
    }
    return total;
  };
  double train_loss = NAN;  // EMA of the training loss, for the eval records
  std::function<void()> update_train_loss = [] {};

  st::ForwardFn forward = [&](const torch::Tensor& ids) { return net->forward(ids.to(device)); };
  const st::GreedyFn greedy = st::cached_greedy(*net);
  auto write_point = [&](const st::LengthScore& s, std::int64_t step, std::int64_t seen, bool progress, bool final) {
    json m{{"model", model},          {"task", eval_task},         {"train_task", train_task},
           {"params", n_params},      {"step", step},              {"examples_seen", seen},
           {"length", s.length},      {"n", s.n},                  {"string_acc", s.string_acc},
           {"string_acc_std", s.string_acc_std}, {"char_acc", s.char_acc}, {"char_acc_std", s.char_acc_std},
           {"eos_acc", s.eos_acc},    {"loss", s.loss},            {"progress", progress},
           {"final", final},          {"in_distribution", s.length >= min_train && s.length <= max_train},
           {"n_gram", n_gram}};
    if (std::isfinite(train_loss)) m["train_loss"] = train_loss;
    if (s.greedy_n > 0) {
      m["greedy_n"] = s.greedy_n;
      m["greedy_string_acc"] = s.greedy_string_acc;
      m["greedy_char_acc"] = s.greedy_char_acc;
      m["tf_string_acc_sample"] = s.tf_string_acc_sample;
      m["agreement"] = s.agreement;
    }
    std::ostringstream line;
    line << model << " " << eval_task << " L=" << s.length << " step " << step << ": string " << s.string_acc << " char "
         << s.char_acc;
    if (s.greedy_n > 0) line << " greedy " << s.greedy_string_acc;
    run.write(m, line.str(), true, "length_eval");
  };

  json final_summary = json::object();
  auto eval_fn = [&](std::int64_t step) -> json {
    update_train_loss();
    const bool final = step >= tc.steps;
    const std::int64_t seen = examples_seen(step);
    if (!final) {
      auto s = st::score_length(forward, greedy, progress_set.examples[0], eval_batch_size, 0, device);
      write_point(s, step, seen, true, false);
      return {{"length", s.length}, {"string_acc", s.string_acc}, {"char_acc", s.char_acc}, {"examples_seen", seen}};
    }
    double id_s = 0, id_c = 0, ood_s = 0, agree_min = 1, greedy_id = 0;
    int id_n = 0, ood_n = 0, greedy_id_n = 0;
    bool progress_done = false;
    for (size_t li = 0; li < lengths.size(); ++li) {
      const int L = lengths[li];
      auto s = st::score_length(forward, greedy, eval_set.examples[li], eval_batch_size, L <= greedy_max_len ? greedy_samples : 0, device);
      write_point(s, step, seen, L == progress_len, true);
      progress_done = progress_done || L == progress_len;
      if (L <= max_train) {
        id_s += s.string_acc, id_c += s.char_acc, ++id_n;
        if (s.greedy_n > 0) greedy_id += s.greedy_string_acc, ++greedy_id_n;
      } else {
        ood_s += s.string_acc, ++ood_n;
      }
      if (s.greedy_n > 0) agree_min = std::min(agree_min, s.agreement);
    }
    if (!progress_done && !eval_only) {  // close the efficiency curve at the last step
      auto s = st::score_length(forward, greedy, progress_set.examples[0], eval_batch_size, 0, device);
      write_point(s, step, seen, true, true);
    }
    final_summary = {{"examples_seen", seen}, {"agreement_min", agree_min}};
    if (id_n) final_summary["id_string_acc"] = id_s / id_n, final_summary["id_char_acc"] = id_c / id_n;
    if (ood_n) final_summary["ood_string_acc"] = ood_s / ood_n;
    if (greedy_id_n) final_summary["id_greedy_string_acc"] = greedy_id / greedy_id_n;
    return final_summary;
  };

  // ---- train (or load) ----
  sm::Trainer trainer(net, tc, &run, dist);
  sm::LossFn loss_fn = sm::lm_loss(net);
  size_t ema_seen = 0;  // the EMA follows the trainer's (global) step losses
  update_train_loss = [&] {
    const auto& ls = trainer.step_losses();
    for (; ema_seen < ls.size(); ++ema_seen) {
      const double v = ls[ema_seen].second;
      train_loss = std::isfinite(train_loss) ? 0.9 * train_loss + 0.1 * v : v;
    }
  };
  sm::BatchFn batch_fn = [&](std::int64_t step) {
    auto pb = batch_for(step);
    if (static_cast<std::int64_t>(examples_at.size()) <= step) examples_at.resize(step + 1, -1);
    examples_at[step] = pb.examples;
    auto t = st::to_tensors(pb);
    return sm::Batch{t.inputs, t.targets, t.mask};
  };
  sm::TrainResult res;
  if (eval_only) {
    std::int64_t at = 0;
    try {
      at = sm::load_checkpoint(tc.checkpoint, *net, trainer.optimizer(), trainer.device());
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << "\n";
      return 2;
    }
    tc.steps = at;
    net->eval();
    {
      torch::NoGradGuard ng;
      res.last_eval = eval_fn(at);
    }
    res.steps_done = at;
    res.start_step = at;
  } else {
    try {
      res = trainer.fit(batch_fn, loss_fn, eval_fn);
    } catch (const sm::CheckpointError& e) {
      std::cerr << "error: " << e.what() << "\n";
      return 2;
    }
  }

  json m{{"model", model},
         {"train_task", train_task},
         {"task", eval_task},
         {"params", n_params},
         {"params_budget", param_budget},
         {"params_rel_err", rel_err},
         {"steps", res.steps_done},
         {"wall_s", run.elapsed_s()},
         {"tokens_per_s", res.tokens_per_s},
         {"final_train_loss", res.final_loss},
         {"eval_only", eval_only},
         {"n_gram", n_gram}};
  for (auto& [k, v] : final_summary.items()) m[k] = v;
  if (!res.ok) {  // a diverged run: a "failed" result record saying why and where (docs/log-schema.md)
    m["failed_step"] = res.failed_step;
    m["error"] = res.error;
  }
  std::ostringstream sum;
  sum << model << " " << train_task << "->" << eval_task << ": " << n_params << " params, " << res.steps_done << " steps ("
      << final_summary.value("examples_seen", 0) << " examples)";
  if (final_summary.contains("id_string_acc"))
    sum << ", string acc " << final_summary["id_string_acc"].get<double>() << " at lengths <= " << max_train;
  if (final_summary.contains("id_greedy_string_acc"))
    sum << " (greedy " << final_summary["id_greedy_string_acc"].get<double>() << ")";
  if (final_summary.contains("ood_string_acc")) sum << ", " << final_summary["ood_string_acc"].get<double>() << " beyond";
  sum << ", " << static_cast<int>(run.elapsed_s()) << " s";
  if (!res.ok) sum << "; FAILED: " << res.error;
  if (res.ok && !save_hf.empty() && dist->is_main()) {
    try {
      net->eval();
      const std::string type = ssmlab::hf::save_pretrained(*net, save_hf);
      m["saved_hf"] = save_hf;
      sum << "; saved as " << type << " in " << save_hf;
    } catch (const std::exception& e) {
      std::cerr << "error: --save-hf " << save_hf << ": " << e.what() << "\n";
      run.write(m, sum.str() + "; FAILED to save: " + e.what(), false);
      return 1;
    }
  }
  run.write(m, sum.str(), res.ok);
  return res.ok ? 0 : 1;
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
