// smt_train — trains the Stride Memory Transformer (models/smt.h) or one of its two baselines on
// WikiText-2 (raw, GPT-2 tokenizer, lines packed into --max-seq-length sequences) and writes the run
// folder <results>/<dataset>_<arch>/<YYYYMMDD_HHMMSS>/ (smt/results.h). docs/smt.md.
//
//   smt_train --config smt/configs/wikitext2_experiment.yaml                 (the hybrid, from scratch)
//   smt_train --config ... --arch gpt2_full      GPT-2 with full causal context over the sequence
//   smt_train --config ... --arch gpt2_window    GPT-2 over the m-token window only, no memory
//   smt_train --config ... --device cuda --transformer-from DIR --memory-from DIR
//   smt_train --run-dir <results>/wikitext2_smt/20250101_120000 --resume --config ...   (continue)
//
// Records (family smt, experiment smt_train, log <out>/logs/smt.jsonl): the trainer's "step" records,
// one "eval" record per evaluation (= one metrics_history.json entry), one "result" record (= the
// results.json metrics).
#include "ssmlab/main_guard.h"


#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "mamba_experiments/data.h"
#include "models/smt.h"
#include "models/trainer.h"
#include "smt/results.h"
#include "smt/smt_lib.h"
#include "ssmlab/atomic_file.h"
#include "ssmlab/cli.h"
#include "ssmlab/runtime.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/safe_io.h"
#include "ssmlab/timer.h"
#include "ssmlab/yaml.h"

namespace sm = ssmlab::models;
namespace mamba_experiments = ssmlab::mamba_experiments;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int config_error(const std::string& msg) {
  std::cerr << "error: " << msg << "\n";
  return 2;
}

std::string timestamp_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::ostringstream os;
  os << std::put_time(&tm, "%Y%m%d_%H%M%S");
  return os.str();
}

}  // namespace

static int ssmlab_main(int argc, char** argv) {
  ssmlab::Cli cli("smt_train",
                  "Trains the Stride Memory Transformer (a GPT-2 window over the last m tokens plus n outputs of a\n"
                  "Mamba memory written every --stride tokens through attention pooling) or a baseline on WikiText-2\n"
                  "(raw, GPT-2 tokenizer, pad = EOS, non-empty lines packed into --max-seq-length sequences), with\n"
                  "truncated BPTT, and writes <results>/<dataset>_<arch>/<YYYYMMDD_HHMMSS>/ (config.yaml, results.json,\n"
                  "metrics_history.json, best_model.ckpt, checkpoints). --config accepts YAML. docs/smt.md.",
                  "smt", "smt.jsonl");
  std::string arch = "smt", data_dir, tokenizer, cache_dir, results_root, run_dir_flag, transformer_from, memory_from;
  int64_t max_seq_length = 1024, max_tokens = 0, batch_size = 8, grad_accum = 1, tbptt_chunk = 128;
  int64_t train_max_seqs = 0, val_max_seqs = 0, keep_checkpoints = 2;
  int64_t d_model = 768, n_layer = 12, n_head = 12, memory_layers = 24, d_state = 16, d_conv = 4, expand = 2;
  int64_t n_ssm_outputs = 15, m_input_tokens = 50, stride = 16, pool_dim = 0;
  double pooling_lr = 1e-3, dropout = 0.1;
  bool allow_generated = false;
  cli.add("arch", &arch, "smt | gpt2_full (GPT-2, full causal context) | gpt2_window (GPT-2 over the m-token window, no memory)")
      .one_of({"smt", "gpt2_full", "gpt2_window"});
  cli.add("data-dir", &data_dir, "data folder with wikitext-2-raw/ and tokenizers/gpt2 (default $SSMLAB_DATA_DIR)");
  cli.flag("allow-generated-text", &allow_generated, "use the generated story corpus (word level) when WikiText-2 is missing");
  cli.add("tokenizer", &tokenizer, "tokenizer folder or tokenizer.json (default <data-dir>/tokenizers/gpt2)");
  cli.add("cache-dir", &cache_dir, "token cache folder (default <out>/cache)");
  cli.add("results", &results_root, "results root; the run goes to <results>/<dataset>_<arch>/<timestamp>/ (default <out>/results)");
  cli.add("run-dir", &run_dir_flag, "this run's folder (instead of a new timestamped one; with --resume: continue it)");
  cli.add("max-seq-length", &max_seq_length, "tokens per packed sequence L").at_least(int64_t{2});
  cli.add("max-tokens", &max_tokens, "training token budget: steps = ceil(max-tokens / (batch-size x L)) (0: --steps)")
      .at_least(int64_t{0});
  cli.add("batch-size", &batch_size, "sequences per optimizer step").at_least(int64_t{1});
  cli.add("grad-accum", &grad_accum, "micro-batches per optimizer step (the batch's rows split this many ways)").at_least(int64_t{1});
  cli.add("tbptt-chunk", &tbptt_chunk, "truncated BPTT chunk length C (0: whole sequence); smt and gpt2_window").at_least(int64_t{0});
  cli.add("train-max-seqs", &train_max_seqs, "training sequences kept (0: all)").at_least(int64_t{0});
  cli.add("val-max-seqs", &val_max_seqs, "validation sequences kept (0: all)").at_least(int64_t{0});
  cli.add("keep-checkpoints", &keep_checkpoints, "numbered checkpoint_step<N>.ckpt files kept (0: none, only checkpoint_last)")
      .at_least(int64_t{0});
  cli.add("pooling-lr", &pooling_lr, "peak learning rate of the attention pooling (pool.*), same schedule").greater_than(0.0);
  cli.add("d-model", &d_model, "width D of the transformer and the memory").at_least(int64_t{1});
  cli.add("n-layer", &n_layer, "transformer layers").at_least(int64_t{1});
  cli.add("n-head", &n_head, "transformer heads").at_least(int64_t{1});
  cli.add("memory-layers", &memory_layers, "Mamba memory layers").at_least(int64_t{1});
  cli.add("d-state", &d_state, "Mamba state size N").at_least(int64_t{1});
  cli.add("d-conv", &d_conv, "Mamba conv kernel K").at_least(int64_t{1});
  cli.add("expand", &expand, "Mamba expansion E / D").at_least(int64_t{1});
  cli.add("n-ssm-outputs", &n_ssm_outputs, "n: memory outputs in the window").at_least(int64_t{1});
  cli.add("m-input-tokens", &m_input_tokens, "m: token embeddings in the window").at_least(int64_t{1});
  cli.add("stride", &stride, "write every s tokens (1 <= s <= m; m / 3 recommended)").at_least(int64_t{1});
  cli.add("pool-dim", &pool_dim, "d_k of the attention pooling (0: d-model)").at_least(int64_t{0});
  cli.add("dropout", &dropout, "transformer embedding and residual dropout").at_least(0.0).less_than(1.0);
  cli.add("transformer-from", &transformer_from, "start the transformer from a GPT-2 Hugging Face folder");
  cli.add("memory-from", &memory_from, "start the memory from a Mamba Hugging Face folder");
  sm::TrainConfig tc;
  tc.steps = 1000;
  tc.lr = 5e-4;
  tc.min_lr = 5e-5;
  tc.warmup = 100;
  tc.weight_decay = 0.01;
  tc.beta2 = 0.999;
  tc.log_every = 10;
  tc.eval_every = 0;
  sm::add_train_flags(cli, &tc);
  auto opts = cli.parse_or_exit(argc, argv);
  ssmlab::init_runtime(opts);  // threads, heap reuse, --quiet (ssmlab/runtime.h)

  // ---- cross-flag checks (exit 2, one line) ----
  if (data_dir.empty())
    if (const char* e = std::getenv("SSMLAB_DATA_DIR")) data_dir = e;
  if (cache_dir.empty()) cache_dir = (fs::path(opts.out_dir) / "cache").string();
  if (results_root.empty()) results_root = (fs::path(opts.out_dir) / "results").string();
  if (tc.resume && run_dir_flag.empty()) return config_error("--resume needs --run-dir (the run folder to continue)");
  if (arch != "smt" && (!memory_from.empty())) return config_error("--memory-from needs --arch smt");
  sm::torch_set_threads(opts);
  sm::seed_everything(opts.seed);
  torch::Device device = torch::kCPU;
  try {
    device = sm::resolve_device(tc.device);
  } catch (const std::exception& e) {
    return config_error(e.what());
  }

  // ---- data: non-empty lines + EOS, packed ----
  mamba_experiments::Corpus corpus;
  try {
    mamba_experiments::BpeSpec spec;
    spec.cache_dir = cache_dir;
    spec.tokenizer = !tokenizer.empty() ? tokenizer : (data_dir.empty() ? "" : (fs::path(data_dir) / "tokenizers" / "gpt2").string());
    const fs::path wt = fs::path(data_dir) / "wikitext-2-raw";
    spec.train_files = {(wt / "wiki.train.raw").string()};
    spec.valid_files = {(wt / "wiki.valid.raw").string()};
    if (data_dir.empty() || !fs::is_regular_file(spec.train_files[0]) || !fs::is_regular_file(spec.valid_files[0]) ||
        spec.tokenizer.empty()) {
      const std::string why = data_dir.empty() ? "no --data-dir and SSMLAB_DATA_DIR is unset"
                                               : "no WikiText-2 raw files or tokenizer under " + data_dir;
      if (!allow_generated) throw mamba_experiments::DataError(why + " (--allow-generated-text uses the generated story corpus)");
      ssmlab::progress(opts, "note: " + why + "; using the generated story corpus (word level)");
      corpus = mamba_experiments::generated_word_corpus(5000);
      corpus.name = "generated";
    } else {
      bool hit = false;
      corpus = mamba_experiments::load_bpe_corpus("wikitext2", spec, &hit);
      ssmlab::progress(opts, std::string(hit ? "token cache hit" : "tokenized and cached") + " in " + cache_dir);
    }
  } catch (const std::exception& e) {
    return config_error(e.what());
  }
  const int64_t pad_id = corpus.eos_id >= 0 ? corpus.eos_id : 0;  // pad = EOS (GPT-2: 50256)
  auto train = ssmlab::smt::pack_sequences(corpus.train, max_seq_length, pad_id, train_max_seqs);
  auto val = ssmlab::smt::pack_sequences(corpus.valid, max_seq_length, pad_id, val_max_seqs);
  if (train.n() == 0 || val.n() == 0) return config_error("the training or validation text has fewer than 2 tokens");
  const int64_t steps_per_epoch = std::max<int64_t>(1, train.n() / batch_size);
  if (max_tokens > 0) tc.steps = (max_tokens + batch_size * max_seq_length - 1) / (batch_size * max_seq_length);
  if (tc.eval_every == 0) tc.eval_every = std::max<int64_t>(1, tc.steps / 10);
  tc.grad_accum = grad_accum;
  tc.lr_scale = {{"pool.", pooling_lr / tc.lr}};

  // ---- model ----
  const int64_t V = corpus.vocab_size;  // the tokenizer's vocabulary (GPT-2: 50257); the LM head is tied to it
  sm::SmtOptions so(sm::gpt2_options(d_model, n_layer, n_head, V, std::max<int64_t>(max_seq_length, n_ssm_outputs + m_input_tokens)),
                    sm::MambaOptions(d_model, memory_layers, 1).d_state(d_state).d_conv(d_conv).expand(expand));
  so.n_ssm_outputs(arch == "smt" ? n_ssm_outputs : 0).m_input_tokens(m_input_tokens).stride(stride).pool_dim(pool_dim).dropout(dropout);
  std::shared_ptr<torch::nn::Module> net;
  sm::Smt smt{nullptr};
  sm::TransformerLM full{nullptr};
  json param_counts;
  try {
    sm::TransformerLM t{nullptr};
    sm::MambaLM m{nullptr};
    if (!transformer_from.empty()) t = ssmlab::smt::load_gpt2_folder(transformer_from);
    if (!memory_from.empty()) m = ssmlab::smt::load_mamba_folder(memory_from);
    if (t && t->options.vocab_size() < V)
      throw std::invalid_argument("--transformer-from " + transformer_from + ": its vocabulary has " +
                                  std::to_string(t->options.vocab_size()) + " tokens, the data needs " + std::to_string(V));
    if (arch == "gpt2_full") {
      if (t && t->options.max_position_embeddings() < max_seq_length)
        throw std::invalid_argument("--transformer-from " + transformer_from + ": " + std::to_string(t->options.max_position_embeddings()) +
                                    " positions < --max-seq-length " + std::to_string(max_seq_length));
      full = t ? t : sm::TransformerLM(so.transformer());
      full->options.dropout(dropout);
      for (const auto& l : *full->gpt_neox->layers) l->as<sm::TransformerLayerImpl>()->dropout = dropout;
      net = full.ptr();
      param_counts = json{{"transformer", sm::count_params(*full)}, {"memory", 0}, {"pool", 0}, {"total", sm::count_params(*full)}};
    } else {
      smt = sm::Smt(so, t, m);
      net = smt.ptr();
      param_counts = smt->param_counts();
    }
  } catch (const std::exception& e) {
    return config_error(e.what());
  }
  const json model_config = smt ? json{{"arch", arch}, {"d_model", smt->options.transformer().d_model()},
                                       {"n_layer", smt->options.transformer().n_layer()}, {"n_head", smt->options.transformer().n_head()},
                                       {"vocab_size", smt->vocab_size()}, {"n_ssm_outputs", smt->options.n_ssm_outputs()},
                                       {"m_input_tokens", smt->options.m_input_tokens()}, {"stride", smt->options.stride()},
                                       {"window", smt->options.window()}, {"d_k", smt->options.d_k()},
                                       {"memory_layers", smt->memory ? smt->options.memory().n_layer() : 0},
                                       {"d_state", smt->options.memory().d_state()}, {"dropout", dropout},
                                       {"transformer_from", transformer_from}, {"memory_from", memory_from}}
                                : json{{"arch", arch}, {"d_model", full->options.d_model()}, {"n_layer", full->options.n_layer()},
                                       {"n_head", full->options.n_head()}, {"vocab_size", full->options.vocab_size()},
                                       {"context", max_seq_length}, {"dropout", dropout}, {"transformer_from", transformer_from}};

  // ---- the run folder ----
  const std::string dataset = corpus.name == "generated" ? "generated" : "wikitext2";
  const std::string experiment = dataset + "_" + arch;
  const std::string stamp = timestamp_now();
  fs::path run_dir = run_dir_flag;
  try {
    if (run_dir.empty()) {
      run_dir = fs::path(results_root) / experiment / stamp;
      for (int i = 2; fs::exists(run_dir); ++i) run_dir = fs::path(results_root) / experiment / (stamp + "_" + std::to_string(i));
    }
    ssmlab::check_output_dir("run-dir", run_dir.string());
    fs::create_directories(run_dir);
  } catch (const std::exception& e) {
    return config_error(e.what());
  }
  tc.checkpoint = (run_dir / "checkpoint_last.ckpt").string();
  // --resume continues the run in run_dir only with the same model, data and batch: the flags that
  // decide them must equal those in its config.yaml (the rest, e.g. --max-tokens or --eval-every, may change).
  if (tc.resume && fs::is_regular_file(run_dir / "config.yaml") && ssmlab::have_yaml()) {
    try {
      const json prev = ssmlab::parse_yaml(ssmlab::read_regular_file((run_dir / "config.yaml").string(), 1 << 20, "config.yaml"),
                                           (run_dir / "config.yaml").string());
      for (const char* k : {"arch", "d-model", "n-layer", "n-head", "memory-layers", "d-state", "d-conv", "expand",
                            "n-ssm-outputs", "m-input-tokens", "stride", "pool-dim", "max-seq-length", "batch-size",
                            "grad-accum", "tbptt-chunk", "seed", "transformer-from", "memory-from"}) {
        if (!prev.contains(k) || !opts.params.contains(k)) continue;
        if (prev[k] != opts.params[k])
          return config_error("--resume: " + run_dir.string() + " was trained with --" + k + " " + prev[k].dump() +
                              ", this run has " + opts.params[k].dump() + " (the same model, data and batch are needed)");
      }
    } catch (const std::exception& e) {
      return config_error("--resume: " + (run_dir / "config.yaml").string() + ": " + e.what());
    }
  }
  json config = opts.params;
  config["steps_resolved"] = tc.steps;
  config["eval_every_resolved"] = tc.eval_every;
  ssmlab::write_file_atomic((run_dir / "config.yaml").string(),
                            "# smt_train: the resolved configuration of this run (every flag's value; usable as --config)\n" +
                                ssmlab::to_yaml(opts.params));

  json history = json::array();
  double best_val = INFINITY, initial_val = NAN;
  int64_t best_step = -1;
  if (tc.resume && fs::is_regular_file(run_dir / "metrics_history.json")) {
    try {
      history = ssmlab::smt::read_history(run_dir.string());
      for (const auto& h : history)  // as in a fresh run, the evaluation before training is not a candidate
        if (h.value("step", int64_t{0}) > 0 && h.value("val_loss", double(INFINITY)) < best_val)
          best_val = h["val_loss"].get<double>(), best_step = h.value("step", int64_t{-1});
      if (!history.empty()) initial_val = history[0].value("val_loss", double(NAN));
    } catch (const std::exception& e) {
      return config_error("--resume: " + std::string(e.what()));
    }
  }

  ssmlab::RunLog run(opts, "smt_train");
  run.add_param("experiment", experiment);
  run.add_param("run_dir", run_dir.string());
  run.add_param("data_source", corpus.source);
  run.add_param("param_counts", param_counts);
  const json dataset_info{{"name", dataset},
                          {"source", corpus.source},
                          {"files", corpus.files},
                          {"vocab_size", V},
                          {"pad_id", pad_id},
                          {"train_tokens", static_cast<int64_t>(corpus.train.size())},
                          {"valid_tokens", static_cast<int64_t>(corpus.valid.size())},
                          {"train_sequences", train.n()},
                          {"val_sequences", val.n()},
                          {"val_real_tokens", val.real_tokens()},
                          {"max_seq_length", max_seq_length},
                          {"packing", "non-empty lines + EOS, concatenated, cut every max_seq_length tokens"}};
  ssmlab::progress(opts, experiment + ": " + std::to_string(param_counts["total"].get<int64_t>()) + " parameters " +
                             param_counts.dump() + "; " + std::to_string(train.n()) + " train / " + std::to_string(val.n()) +
                             " val sequences of " + std::to_string(max_seq_length) + "; " + std::to_string(tc.steps) +
                             " steps; run folder " + run_dir.string());

  // ---- loss (TBPTT) and evaluation ----
  const int64_t chunk = arch == "gpt2_full" ? 0 : tbptt_chunk;
  auto dev_of = [&] { return net->parameters().front().device(); };
  // Σ CE · mask over the batch, backward'ed per chunk with weight scale / count, and the count. The hybrid's
  // mean memory-output norm over the batch's writes is added to *mem_sum (and 1 to *mem_n) when it wrote.
  auto batch_loss = [&](const sm::Batch& b, double scale, bool backward, double* mem_sum,
                        double* mem_n) -> std::pair<double, double> {
    const double count = std::max(1.0, b.mask.sum().item<double>());
    double sum = 0.0;
    auto chunk_ce = [&](const torch::Tensor& logits, int64_t t0) {
      const int64_t C = logits.size(1);
      auto ce = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32),
                                                     b.targets.narrow(1, t0, C).reshape({-1}),
                                                     torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
      auto s = (ce * b.mask.narrow(1, t0, C).reshape({-1})).sum();
      const double v = s.item<double>();
      sum += v;
      if (backward && std::isfinite(v)) (s * (scale / count)).backward();
    };
    sm::AutocastGuard autocast(dev_of(), !tc.fp32);
    if (full) chunk_ce(full->forward(b.inputs), 0);
    else {
      const auto aux = smt->forward_chunks(b.inputs, chunk, chunk_ce);
      if (aux.n_writes > 0) *mem_sum += aux.memory_norm, *mem_n += 1.0;
    }
    return {sum, count};
  };
  double train_sum = 0.0, train_count = 0.0, tokens_seen = 0.0, train_mem_sum = 0.0, train_mem_n = 0.0, val_mem = NAN,
         val_mem_n = 0.0;
  sm::BackwardFn backward_fn = [&](const sm::Batch& b, double scale) {
    auto [s, c] = batch_loss(b, scale, true, &train_mem_sum, &train_mem_n);
    train_sum += s;
    train_count += c;
    tokens_seen += static_cast<double>(b.inputs.numel());
    return s / c;
  };
  auto evaluate = [&]() {
    torch::NoGradGuard ng;
    double s = 0.0, c = 0.0, mem_sum = 0.0, mem_n = 0.0;
    for (int64_t i = 0; i < val.n(); i += batch_size) {
      const int64_t j = std::min(val.n(), i + batch_size);
      sm::Batch b{val.inputs.slice(0, i, j).to(dev_of()), val.targets.slice(0, i, j).to(dev_of()), val.mask.slice(0, i, j).to(dev_of())};
      auto [bs, bc] = batch_loss(b, 1.0, false, &mem_sum, &mem_n);
      s += bs;
      c += b.mask.sum().item<double>();
      (void)bc;
    }
    val_mem = mem_n > 0 ? mem_sum / mem_n : NAN;
    val_mem_n = mem_n;
    return c > 0 ? s / c : NAN;
  };

  sm::Trainer trainer(net, tc, &run);
  ssmlab::Stopwatch clock;
  const double elapsed_before = history.empty() ? 0.0 : history.back().value("elapsed_s", 0.0);
  auto save_best = [&](int64_t step, double vl) {
    sm::save_checkpoint((run_dir / "best_model.ckpt").string(), *net, trainer.optimizer(), step,
                        json{{"val_loss", vl}, {"step", step}, {"experiment", experiment}});
  };
  auto results_json = [&](const std::string& status, double final_val) {
    const double fv = std::isfinite(final_val) ? final_val : (history.empty() ? NAN : history.back().value("val_loss", double(NAN)));
    auto num = [](double x) { return std::isfinite(x) ? json(x) : json(); };
    return json{{"experiment", experiment},
                {"timestamp", stamp},
                {"status", status},
                {"run_dir", run_dir.string()},
                {"training_time_s", elapsed_before + clock.seconds()},
                {"model", model_config},
                {"param_counts", param_counts},
                {"dataset", dataset_info},
                {"training", {{"steps", tc.steps}, {"batch_size", batch_size}, {"grad_accum", grad_accum}, {"lr", tc.lr},
                              {"pooling_lr", pooling_lr}, {"warmup", tc.warmup}, {"tbptt_chunk", chunk}, {"device", device.str()},
                              {"bf16_autocast", device.is_cuda() && !tc.fp32}}},
                {"results", {{"best_val_loss", num(best_val)}, {"best_val_ppl", num(std::exp(best_val))}, {"best_step", best_step},
                             {"final_val_loss", num(fv)}, {"final_val_ppl", num(std::exp(fv))},
                             {"initial_val_loss", num(initial_val)}}}};
  };
  auto write_history = [&] {
    ssmlab::write_file_atomic((run_dir / "metrics_history.json").string(), history.dump(1) + "\n");
  };
  if (history.empty()) {  // step 0: the untrained model
    initial_val = evaluate();
    history.push_back(json{{"step", 0}, {"tokens", 0}, {"val_loss", initial_val}, {"val_ppl", std::exp(initial_val)}, {"elapsed_s", 0.0}});
    run.write(history.back(), experiment + " before training: val_loss " + std::to_string(initial_val), std::isfinite(initial_val), "eval");
    write_history();
  }
  int64_t last_step = 0;
  sm::EvalFn eval_fn = [&](int64_t step) -> json {
    const double vl = evaluate();
    last_step = step;
    const double el = clock.seconds();
    json h{{"step", step},
           {"tokens", static_cast<int64_t>(step) * batch_size * max_seq_length},
           {"train_loss", train_count > 0 ? json(train_sum / train_count) : json()},
           {"val_loss", vl},
           {"val_ppl", std::exp(vl)},
           {"lr", sm::lr_at(tc, std::max<int64_t>(0, step - 1))},
           {"tokens_per_s", el > 0 ? tokens_seen / el : 0.0},
           {"elapsed_s", elapsed_before + el},
           {"peak_memory_mb", sm::peak_memory_mb(device)}};
    h["ppl_consistency_err"] = std::abs(std::log(h["val_ppl"].get<double>()) - vl);
    // the hybrid's mean L2 norm of the memory outputs written (a diverging memory shows here first); absent
    // only when nothing was written (gpt2_window, gpt2_full, or sequences no longer than the stride)
    if (train_mem_n > 0) h["train_memory_norm"] = train_mem_sum / train_mem_n;
    if (val_mem_n > 0) h["val_memory_norm"] = val_mem;  // NaN/inf stay in: JSON null, which check_logs refuses
    train_sum = train_count = train_mem_sum = train_mem_n = 0.0;
    if (std::isfinite(vl) && vl < best_val) {
      best_val = vl;
      best_step = step;
      save_best(step, vl);
    }
    h["best_val_loss"] = best_val;
    history.push_back(h);
    write_history();
    ssmlab::write_file_atomic((run_dir / "results.json").string(), results_json("running", vl).dump(1) + "\n");
    return h;  // the trainer writes it as the "eval" record
  };
  std::vector<std::string> numbered;
  trainer.on_checkpoint([&](int64_t next_step) {
    if (keep_checkpoints == 0) return;
    std::ostringstream name;
    name << "checkpoint_step" << std::setw(7) << std::setfill('0') << next_step << ".ckpt";
    const auto path = (run_dir / name.str()).string();
    sm::save_checkpoint(path, *net, trainer.optimizer(), next_step, json{{"experiment", experiment}});
    numbered.push_back(path);
    while (static_cast<int64_t>(numbered.size()) > keep_checkpoints) {
      std::error_code ec;
      fs::remove(numbered.front(), ec);
      numbered.erase(numbered.begin());
    }
  });
  ssmlab::write_file_atomic((run_dir / "results.json").string(), results_json("running", NAN).dump(1) + "\n");

  // Batches: an epoch-wise permutation from (seed, epoch), so a resumed run sees the same order.
  sm::BatchFn batch_fn = [&](int64_t step) {
    const int64_t epoch = step / steps_per_epoch, k = step % steps_per_epoch;
    auto gen = at::detail::createCPUGenerator(opts.seed * 1000003ULL + static_cast<uint64_t>(epoch));
    auto order = torch::randperm(train.n(), gen, torch::kLong);
    auto idx = order.slice(0, k * batch_size, std::min<int64_t>((k + 1) * batch_size, train.n()));
    return sm::Batch{train.inputs.index_select(0, idx), train.targets.index_select(0, idx), train.mask.index_select(0, idx)};
  };
  auto res = trainer.fit_backward(batch_fn, backward_fn, eval_fn);
  if (!fs::exists(run_dir / "best_model.ckpt") && std::isfinite(initial_val)) save_best(0, initial_val);

  const double final_val = history.empty() ? NAN : history.back().value("val_loss", double(NAN));
  const json results = results_json(res.ok ? "finished" : "failed", final_val);
  ssmlab::write_file_atomic((run_dir / "results.json").string(), results.dump(1) + "\n");
  json m = results["results"];
  m["training_time_s"] = results["training_time_s"];
  m["params_total"] = param_counts["total"];
  m["tokens_per_s"] = res.tokens_per_s;
  m["steps"] = res.steps_done;
  m["peak_memory_mb"] = sm::peak_memory_mb(device);
  if (m["best_val_loss"].is_number()) m["ppl_consistency_err"] = std::abs(std::log(m["best_val_ppl"].get<double>()) - best_val);
  std::ostringstream sum;
  sum << experiment << ": best val ppl " << std::setprecision(5) << std::exp(best_val) << " at step " << best_step << " ("
      << res.steps_done << " steps, " << std::setprecision(4) << res.tokens_per_s << " tok/s); " << run_dir.string();
  run.write(m, sum.str(), res.ok && std::isfinite(best_val));
  ssmlab::progress(opts, sum.str());
  (void)last_step;
  return res.ok ? 0 : 1;
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
