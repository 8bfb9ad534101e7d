// trainer.h — the one training loop of ssmlab (synthetic_tasks, time_series, mamba_experiments).
//
// What it does: AdamW (decay on matrices only; optional per-prefix lr multipliers), linear warm-up
// then cosine decay to min_lr, gradient accumulation, gradient clipping, bf16 autocast on CUDA, a JSONL "step" record every log_every steps,
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
//     ssmlab::init_runtime(opts);  sm::torch_set_threads(opts);  sm::seed_everything(opts.seed);
//     auto device = sm::resolve_device(tc.device);
//     auto model = sm::make_model(model_name, mc);  model->to(device);
//     ssmlab::RunLog run(opts, "copy_train");
//     sm::Trainer trainer(model, tc, &run);
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
//
// Data-parallel (WORLD_SIZE > 1, a Distributed passed to the constructor; models/distributed.h,
// docs/distributed.md): batch_fn still returns the GLOBAL batch of the step (per-rank batch x world
// rows, the same on every rank); rank r keeps rows r, r + world, ... (so the ranks' rows together
// are the single-process batch). loss_fn must return a mean over the batch's targets (over `mask`
// where given), as masked_cross_entropy does: the trainer rescales each rank's loss by its share of
// the GLOBAL target count, so the summed gradients are those of the single-process mean. After the
// backward pass the gradients are summed over the ranks in flattened buckets, clipped on that global
// norm, and every rank takes the same AdamW step. The logged loss is the global one; eval_fn runs on
// every rank and its numeric top-level metrics are averaged over the ranks. Rank 0 alone writes
// step records, progress lines and checkpoints (atomically); every rank resumes from the same
// checkpoint file (on a shared file system across nodes), also with another world size.
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

#include "models/distributed.h"
#include "models/lm.h"
#include "ssmlab/cli.h"
#include "ssmlab/jsonl_log.h"
#include "models/torch_util.h"

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
  bool unfused_adamw = false;    // --unfused-adamw: no fused AdamW kernel on CUDA (adamw_step)
  int64_t grad_accum = 1;        // micro-batches per optimizer step: the batch's rows are split into this
                                 // many parts, each backward'ed with weight 1/grad_accum
  // Per-parameter learning rates: a parameter whose name starts with `prefix` (first match) is in its
  // own AdamW groups with lr = multiplier x the scheduled lr (e.g. {"pool.", 20.0}). Empty: one lr.
  std::vector<std::pair<std::string, double>> lr_scale;
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
// Metrics object; "stop_training": true in it ends the run after this evaluation (checkpoint
// written; TrainResult::stopped_early), e.g. early stopping on a validation loss.
using EvalFn = std::function<nlohmann::json(int64_t step)>;
// For losses that run their own backward passes (truncated BPTT: one backward per chunk): computes
// the loss of a (micro-)batch, calls backward on scale x loss itself, returns the unscaled loss value.
// A non-finite value must be returned without calling backward (the trainer then stops the run).
// The function sets up autocast itself (AutocastGuard(trainer.device(), !tc.fp32)) around its forwards.
using BackwardFn = std::function<double(const Batch&, double scale)>;

// One AdamW step. With allow_fused, on CUDA, with LibTorch >= 2 and every parameter fp32 (no
// amsgrad): at::_fused_adamw_, one multi-tensor kernel per parameter group, on the optimizer's own
// state (so checkpoints are unchanged); otherwise opt.step(). Returns whether the fused kernel ran.
// Parity with opt.step(): tests/models/test_trainer.cpp (GPU label).
bool adamw_step(torch::optim::AdamW& opt, bool allow_fused = true);

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
  bool stopped_early = false;        // an evaluation returned "stop_training": true
  double final_loss = 0.0;           // mean loss of the last log window (loss_fn's value, without aux)
  double final_aux_loss = NAN;       // mean aux_loss of the last log window (NaN: the model has none)
  double tokens_per_s = 0.0;
  double wall_s = 0.0;
  std::vector<std::pair<int64_t, double>> losses;  // (step, loss) of every step run here
  int world_size = 1;                // data-parallel ranks
  int64_t global_batch = 0;          // rows per step over all ranks (per-rank batch x world_size)
  double allreduce_s = 0.0;          // time in the gradient all-reduce, this run
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
  // Records ("step", "eval") go to `run`'s log through RunLog::append, which prints nothing; the
  // progress lines (steps, evaluations, resume notes) go to stderr unless the run is quiet. `run`
  // may be null: no records and no progress lines. Resolves tc.device and moves the model there;
  // batches from batch_fn are moved to that device as well. When the model is a LanguageModel
  // whose aux_loss() is defined after loss_fn ran, each step minimises loss + aux_loss_coef · aux.
  // With `dist` active (WORLD_SIZE > 1) the model goes to dist->device() (not tc.device), and rank
  // 0's weights are broadcast to every rank and checked (Distributed::sync_module).
  Trainer(std::shared_ptr<torch::nn::Module> model, TrainConfig tc, const RunLog* run,
          std::shared_ptr<Distributed> dist = nullptr);

  TrainResult fit(const BatchFn& batch_fn, const LossFn& loss_fn, const EvalFn& eval_fn = nullptr);
  // The same loop with a loss that does its own backward (BackwardFn above).
  TrainResult fit_backward(const BatchFn& batch_fn, const BackwardFn& backward_fn, const EvalFn& eval_fn = nullptr);
  // Called after every checkpoint written to tc.checkpoint, with the step it resumes at (e.g. to keep
  // a numbered copy of it).
  void on_checkpoint(std::function<void(int64_t next_step)> f) { on_checkpoint_ = std::move(f); }

  torch::optim::AdamW& optimizer() { return *opt_; }
  const torch::Device& device() const { return device_; }
  const TrainConfig& config() const { return tc_; }
  // (step, global loss) of every step of the fit() in progress, for eval_fn's train-loss averages.
  const std::vector<std::pair<int64_t, double>>& step_losses() const { return losses_; }
  bool is_main() const { return !dist_ || dist_->is_main(); }

 private:
  std::shared_ptr<torch::nn::Module> model_;
  TrainConfig tc_;
  CommonOptions opts_;  // run_'s options (quiet when run_ is null), silenced on ranks != 0
  const RunLog* run_;
  torch::Device device_;
  std::unique_ptr<torch::optim::AdamW> opt_;
  std::vector<double> group_lr_scale_;  // per optimizer group: multiplier of the scheduled lr
  std::function<void(int64_t)> on_checkpoint_;
  std::shared_ptr<Distributed> dist_;  // null or inactive: single process
  std::vector<std::pair<int64_t, double>> losses_;
  double step_aux_ = 0.0;        // fit(): the model's aux_loss of the step in progress, x scale
  bool step_aux_seen_ = false;   // ... and whether the model has one
};

}  // namespace ssmlab::models
