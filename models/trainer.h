// trainer.h — the one training loop of ssmlab (synthetic_tasks, time_series, mamba_experiments).
//
// What it does: AdamW (decay on matrices only), linear warm-up then cosine decay to min_lr,
// gradient clipping, bf16 autocast on CUDA, a JSONL "step" record every log_every steps,
// the model's auxiliary loss (LanguageModelImpl::aux_loss, the MoE load-balancing loss) added to the
// training loss with weight aux_loss_coef and logged as aux_loss beside the LM loss,
// a progress line (step, loss, tokens/s, ETA), optional evaluation callback, atomic checkpoints
// (model + optimizer + next step + RNG states; temp file + rename) and --resume.
// A NaN/inf loss stops the run (TrainResult::ok = false, error says which step) and leaves the
// last good checkpoint untouched. Corrupt or truncated checkpoints raise CheckpointError.
//
// Usage (a whole training binary):
//
//   #include "models/registry.h"
//   #include "models/trainer.h"
//   namespace sm = ssmlab::models;
//   int main(int argc, char** argv) {
//     ssmlab::Cli cli("copy_train", "train a model on copying", "synthetic_tasks", "synthetic_tasks.jsonl");
//     std::string model_name = "mamba";
//     cli.add("model", &model_name, "model family").one_of(sm::model_names());
//     sm::ModelConfig mc;  sm::add_model_flags(cli, &mc);     // --d-model --n-layer ...
//     sm::TrainConfig tc;  sm::add_train_flags(cli, &tc);     // --steps --lr --device --resume ...
//     auto opts = cli.parse_or_exit(argc, argv);
//     sm::torch_set_threads(opts);  sm::seed_everything(opts.seed);
//     auto device = sm::resolve_device(tc.device);
//     auto model = sm::make_model(model_name, mc);  model->to(device);
//     ssmlab::RunLog run(opts, "copy_train");
//     sm::Trainer trainer(model, tc, opts, &run);
//     auto res = trainer.fit(
//         [&](int64_t step) { return make_batch(step, device); },   // Batch{inputs, targets, mask}
//         sm::lm_loss(model),                                        // masked cross-entropy
//         [&](int64_t step) { return nlohmann::json{{"acc", evaluate(model)}}; });  // optional
//     run.write({{"final_loss", res.final_loss}}, res.summary(), res.ok);
//     return res.ok ? 0 : 1;
//   }
//
// Resume determinism: batch_fn(step) should derive its randomness from `step` (e.g. a generator
// seeded with seed + step); the LibTorch RNG states are restored as well, so dropout and
// torch::rand calls continue identically. On CPU with the same thread count, a resumed run
// reproduces the uninterrupted loss curve bit for bit (tests/models/test_trainer.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "lm.h"
#include "ssmlab/cli.h"
#include "ssmlab/jsonl_log.h"
#include "torch_util.h"

namespace ssmlab::models {

struct TrainConfig {
  int64_t steps = 1000;          // total optimizer steps
  double lr = 1e-3;              // peak learning rate
  double min_lr = 1e-5;          // cosine floor
  int64_t warmup = 100;          // linear warm-up steps (0 = none)
  double weight_decay = 0.1;     // AdamW decay, applied to tensors with dim >= 2 only
  double beta1 = 0.9, beta2 = 0.95, adam_eps = 1e-8;
  double grad_clip = 1.0;        // max global grad norm (<= 0: no clipping)
  int64_t log_every = 50;        // JSONL "step" record + progress line every K steps
  int64_t eval_every = 0;        // eval_fn every E steps (0: only at the end)
  int64_t ckpt_every = 0;        // checkpoint every C steps (0: only at the end, if a path is set)
  std::string checkpoint;        // checkpoint file ("" = no checkpoints)
  bool resume = false;           // continue from `checkpoint` if it exists
  std::string device = "auto";   // auto | cpu | cuda[:i] (resolve_device)
  bool fp32 = false;             // --fp32: disable the bf16 autocast used on CUDA (CPU is always fp32)
  double aux_loss_coef = 0.01;   // weight of the model's aux_loss() in the loss that is minimised
                                 // (Mixtral router_aux_loss_coef; models without one: no effect)
};

// Declares --steps --lr --min-lr --warmup --weight-decay --grad-clip --log-every --eval-every
// --ckpt-every --checkpoint --resume --device --fp32 --aux-loss-coef on `cli`, defaults from *tc.
void add_train_flags(Cli& cli, TrainConfig* tc);

// One training batch. inputs: (B, L) int64 tokens (or any tensor the loss understands);
// targets: (B, L); mask: optional (B, L), 1 where the loss counts (undefined = everywhere).
struct Batch {
  torch::Tensor inputs;
  torch::Tensor targets;
  torch::Tensor mask;
};
using BatchFn = std::function<Batch(int64_t step)>;
using LossFn = std::function<torch::Tensor(const Batch&)>;                  // scalar loss
using EvalFn = std::function<nlohmann::json(int64_t step)>;                // metrics object

// Masked next-token cross-entropy: sum(CE * mask) / sum(mask) over logits = model(inputs).
torch::Tensor masked_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                   const torch::Tensor& mask = {});
LossFn lm_loss(LanguageModel model);

// lr at `step` (0-based): linear warm-up to lr over `warmup` steps, then cosine to min_lr.
double lr_at(const TrainConfig& tc, int64_t step);

struct TrainResult {
  bool ok = true;
  std::string error;                 // set when !ok (e.g. non-finite loss)
  int64_t failed_step = -1;          // step at which the run stopped when !ok (-1: none)
  int64_t start_step = 0;            // > 0 after a resume
  int64_t steps_done = 0;            // next step index at exit
  double final_loss = 0.0;           // mean loss of the last log window (loss_fn's value, without aux)
  double final_aux_loss = NAN;       // mean aux_loss of the last log window (NaN: the model has none)
  double tokens_per_s = 0.0;
  double wall_s = 0.0;
  std::vector<std::pair<int64_t, double>> losses;  // (step, loss) of every step run here
  nlohmann::json last_eval;          // last eval_fn result
  std::string summary() const;
};

// A checkpoint that cannot be read (missing, truncated, corrupt, wrong format).
struct CheckpointError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Checkpoint file (format version 3; docs/reliability.md): a 24-byte little-endian header
// ("SSMLABCK", u32 version, u64 payload size, u32 CRC-32 of the payload as zlib computes it), then
// the payload, a safetensors image: model parameters and buffers, AdamW state per parameter, RNG
// states, and JSON metadata (next_step, meta, optimizer hyper-parameters and group layout). No
// pickle. The optimizer must be torch::optim::AdamW. Writes are atomic (write_file_atomic:
// a directory, FIFO or device at `path` is refused; a failed write keeps the previous file).
void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer& opt,
                     int64_t next_step, const nlohmann::json& meta = nlohmann::json::object());
// Loads into model/opt, restores RNG states, returns next_step. Throws CheckpointError (older
// versions, corruption, a hostile payload, another model/optimizer layout), having changed nothing
// unless the whole file was checked first.
int64_t load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer& opt,
                        const torch::Device& device, nlohmann::json* meta = nullptr);

class Trainer {
 public:
  // `run` may be null (no JSONL records). Resolves tc.device and moves the model there;
  // batches from batch_fn are moved to that device as well. When the model is a LanguageModel
  // whose aux_loss() is defined after loss_fn ran, each step minimises loss + aux_loss_coef · aux.
  Trainer(std::shared_ptr<torch::nn::Module> model, TrainConfig tc, CommonOptions opts, const RunLog* run);

  TrainResult fit(const BatchFn& batch_fn, const LossFn& loss_fn, const EvalFn& eval_fn = nullptr);

  torch::optim::AdamW& optimizer() { return *opt_; }
  const torch::Device& device() const { return device_; }
  const TrainConfig& config() const { return tc_; }

 private:
  std::shared_ptr<torch::nn::Module> model_;
  TrainConfig tc_;
  CommonOptions opts_;
  const RunLog* run_;
  torch::Device device_;
  std::unique_ptr<torch::optim::AdamW> opt_;
};

}  // namespace ssmlab::models
