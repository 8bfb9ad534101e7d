// trainer.cpp — AdamW + warm-up/cosine training loop with atomic checkpoints (see trainer.h).
#include "trainer.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "ssmlab/atomic_file.h"
#include "ssmlab/timer.h"

namespace ssmlab::models {

namespace {
constexpr char kMagic[8] = {'S', 'S', 'M', 'L', 'A', 'B', 'C', 'K'};
// Version 2 (2026-11-30): the Transformer takes GPT-NeoX parameter names and Mamba-2 the
// "backbone." prefix (one model stack), so version-1 checkpoints cannot be read into today's models.
constexpr std::uint32_t kFormatVersion = 2;
constexpr size_t kHeaderSize = 8 + 4 + 8 + 8;  // magic, version, payload size, FNV-1a 64

std::uint64_t fnv1a(const char* p, size_t n) {
  std::uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 1099511628211ull;
  }
  return h;
}
template <class T> void put(std::string& s, T v) { s.append(reinterpret_cast<const char*>(&v), sizeof(T)); }
template <class T> T get(const std::string& s, size_t off) {
  T v;
  std::memcpy(&v, s.data() + off, sizeof(T));
  return v;
}
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string fmt_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  std::ostringstream os;
  const long t = std::lround(s);
  if (t >= 3600) os << t / 3600 << "h" << std::setw(2) << std::setfill('0') << (t % 3600) / 60 << "m";
  else if (t >= 60) os << t / 60 << "m" << std::setw(2) << std::setfill('0') << t % 60 << "s";
  else os << t << "s";
  return os.str();
}
}  // namespace

// ---- flags ----------------------------------------------------------------------------
void add_train_flags(Cli& cli, TrainConfig* tc) {
  cli.add("steps", &tc->steps, "total optimizer steps").at_least(int64_t{1});
  cli.add("lr", &tc->lr, "peak learning rate (AdamW)").greater_than(0.0);
  cli.add("min-lr", &tc->min_lr, "cosine schedule floor").at_least(0.0);
  cli.add("warmup", &tc->warmup, "linear warm-up [steps]").at_least(int64_t{0});
  cli.add("weight-decay", &tc->weight_decay, "AdamW weight decay (matrices only)").at_least(0.0);
  cli.add("grad-clip", &tc->grad_clip, "max global gradient norm (<= 0: off)");
  cli.add("log-every", &tc->log_every, "JSONL step record + progress every K steps").at_least(int64_t{1});
  cli.add("eval-every", &tc->eval_every, "evaluate every E steps (0: at the end only)").at_least(int64_t{0});
  cli.add("ckpt-every", &tc->ckpt_every, "checkpoint every C steps (0: at the end only)").at_least(int64_t{0});
  cli.add("checkpoint", &tc->checkpoint, "checkpoint file ('' = none)");
  cli.flag("resume", &tc->resume, "continue from --checkpoint if it exists");
  cli.add("device", &tc->device, "auto | cpu | cuda | cuda:<i>").check([](const std::string& d) -> std::optional<std::string> {
    if (d == "auto" || d == "cpu" || d == "cuda" || d.rfind("cuda:", 0) == 0) return std::nullopt;
    return "must be auto, cpu, cuda or cuda:<i> (got '" + d + "')";
  });
  cli.flag("fp32", &tc->fp32, "disable bf16 autocast on CUDA");
}

// ---- loss and schedule ----------------------------------------------------------------
torch::Tensor masked_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets, const torch::Tensor& mask) {
  const int64_t V = logits.size(-1);
  auto ce = torch::nn::functional::cross_entropy(
      logits.reshape({-1, V}).to(torch::kFloat32), targets.reshape({-1}).to(torch::kLong),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));  // (B*L)
  if (!mask.defined()) return ce.mean();
  auto m = mask.reshape({-1}).to(ce.dtype());
  return (ce * m).sum() / m.sum().clamp_min(1.0);
}

LossFn lm_loss(LanguageModel model) {
  return [model](const Batch& b) { return masked_cross_entropy(model->forward(b.inputs), b.targets, b.mask); };
}

double lr_at(const TrainConfig& tc, int64_t step) {
  if (tc.warmup > 0 && step < tc.warmup) return tc.lr * static_cast<double>(step + 1) / static_cast<double>(tc.warmup);
  const double span = static_cast<double>(std::max<int64_t>(1, tc.steps - tc.warmup));
  const double progress = std::min(1.0, static_cast<double>(step - tc.warmup) / span);
  return tc.min_lr + 0.5 * (tc.lr - tc.min_lr) * (1.0 + std::cos(M_PI * progress));
}

std::string TrainResult::summary() const {
  std::ostringstream os;
  if (!ok) return "training stopped: " + error;
  os << "trained " << (steps_done - start_step) << " steps";
  if (start_step > 0) os << " (resumed at " << start_step << ")";
  os << ", final loss " << std::setprecision(4) << final_loss << ", " << std::setprecision(3) << tokens_per_s
     << " tokens/s, " << fmt_duration(wall_s);
  return os.str();
}

// ---- checkpoints ----------------------------------------------------------------------
void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer& opt,
                     int64_t next_step, const nlohmann::json& meta) {
  torch::serialize::OutputArchive root, marc, oarc;
  model.save(marc);
  opt.save(oarc);
  root.write("model", marc);
  root.write("optimizer", oarc);
  root.write("next_step", c10::IValue(next_step));
  const RngState rng = get_rng_state();
  root.write("rng_cpu", rng.cpu);
  if (rng.cuda.defined()) root.write("rng_cuda", rng.cuda.cpu());
  root.write("meta", c10::IValue(meta.dump()));
  std::ostringstream os;
  root.save_to(os);
  const std::string payload = os.str();
  std::string bytes(kMagic, 8);
  put<std::uint32_t>(bytes, kFormatVersion);
  put<std::uint64_t>(bytes, payload.size());
  put<std::uint64_t>(bytes, fnv1a(payload.data(), payload.size()));
  bytes += payload;
  if (auto parent = std::filesystem::path(path).parent_path(); !parent.empty())
    std::filesystem::create_directories(parent);
  write_file_atomic(path, bytes);
}

int64_t load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer& opt,
                        const torch::Device& device, nlohmann::json* meta) {
  const std::string where = "checkpoint '" + path + "'";
  if (!std::filesystem::exists(path)) throw CheckpointError(where + " does not exist");
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const std::exception& e) {
    throw CheckpointError(where + " cannot be read: " + e.what());
  }
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw CheckpointError(where + " is not an ssmlab checkpoint (bad magic; empty or foreign file)");
  if (bytes.size() < kHeaderSize) throw CheckpointError(where + " is truncated (incomplete header)");
  const auto version = get<std::uint32_t>(bytes, 8);
  if (version != kFormatVersion)
    throw CheckpointError(where + " has format version " + std::to_string(version) + ", this build reads " +
                          std::to_string(kFormatVersion) +
                          (version < kFormatVersion ? " (checkpoints written before the one-model-stack change of 2026-11-30 "
                                                      "use the old Transformer/Mamba-2 parameter names: retrain)"
                                                    : ""));
  const auto size = get<std::uint64_t>(bytes, 12);
  const auto hash = get<std::uint64_t>(bytes, 20);
  const size_t have = bytes.size() - kHeaderSize;
  if (have < size)
    throw CheckpointError(where + " is truncated: " + std::to_string(have) + " of " + std::to_string(size) +
                          " payload bytes present");
  if (have > size) throw CheckpointError(where + " is corrupt: " + std::to_string(have - size) + " trailing bytes");
  if (fnv1a(bytes.data() + kHeaderSize, size) != hash)
    throw CheckpointError(where + " is corrupt: checksum mismatch");
  try {
    std::istringstream is(bytes.substr(kHeaderSize));
    torch::serialize::InputArchive root, marc, oarc;
    root.load_from(is, device);
    root.read("model", marc);
    model.load(marc);
    root.read("optimizer", oarc);
    opt.load(oarc);
    c10::IValue step, m;
    root.read("next_step", step);
    RngState rng;
    root.read("rng_cpu", rng.cpu);
    rng.cpu = rng.cpu.cpu();
    torch::Tensor cuda_state;
    if (root.try_read("rng_cuda", cuda_state)) rng.cuda = cuda_state.cpu();
    set_rng_state(rng);
    if (meta) {
      root.read("meta", m);
      *meta = nlohmann::json::parse(m.toStringRef());
    }
    return step.toInt();
  } catch (const c10::Error& e) {
    throw CheckpointError(where + " does not match this model/optimizer or cannot be decoded: " +
                          first_line(e.what_without_backtrace()));
  }
}

// ---- trainer --------------------------------------------------------------------------
Trainer::Trainer(std::shared_ptr<torch::nn::Module> model, TrainConfig tc, CommonOptions opts, const RunLog* run)
    : model_(std::move(model)), tc_(std::move(tc)), opts_(std::move(opts)), run_(run), device_(resolve_device(tc_.device)) {
  model_->to(device_);
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model_->parameters())
    if (p.requires_grad()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  auto make_opts = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(tc_.lr)
                                                            .betas(std::make_tuple(tc_.beta1, tc_.beta2))
                                                            .eps(tc_.adam_eps)
                                                            .weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!decay.empty()) groups.emplace_back(decay, make_opts(tc_.weight_decay));
  if (!no_decay.empty()) groups.emplace_back(no_decay, make_opts(0.0));
  opt_ = std::make_unique<torch::optim::AdamW>(groups, *make_opts(tc_.weight_decay));
}

namespace {
// The highest "step" (window end) of the step records that run `run_id` wrote to `log_path`, or -1.
int64_t last_logged_step(const std::string& log_path, const std::string& run_id) {
  if (log_path.empty() || run_id.empty() || !std::filesystem::exists(log_path)) return -1;
  int64_t last = -1;
  for (const auto& l : read_jsonl(log_path)) {
    const auto& r = l.value;
    if (!r.is_object() || r.value("record", "") != "step" || r.value("run_id", "") != run_id) continue;
    const auto it = r.find("metrics");
    if (it == r.end() || !it->is_object() || !it->contains("step") || !(*it)["step"].is_number_integer()) continue;
    last = std::max<int64_t>(last, (*it)["step"].get<int64_t>());
  }
  return last;
}
}  // namespace

TrainResult Trainer::fit(const BatchFn& batch_fn, const LossFn& loss_fn, const EvalFn& eval_fn) {
  TrainResult res;
  const bool use_ckpt = !tc_.checkpoint.empty();
  int64_t last_ckpt_step = -1;
  // Resume logging rule (docs/log-schema.md, "Resumed runs"): the checkpoint's meta carries the
  // loss sum and count of the log window in progress, so the first window after a resume averages
  // the same steps as an uninterrupted run; and it carries the highest step already logged by the
  // runs before (plus the run id of the run that wrote it, whose own step records after the
  // checkpoint are found in the log), so windows and evaluations at or below that step are not
  // logged again. Each window is then logged exactly once, with an uninterrupted run's value.
  double window_loss = 0.0;
  int64_t window_n = 0;
  int64_t logged_through = -1;  // highest step record of this lineage (killed runs included)
  if (tc_.resume && use_ckpt) {
    if (std::filesystem::exists(tc_.checkpoint)) {
      nlohmann::json meta;
      res.start_step = load_checkpoint(tc_.checkpoint, *model_, *opt_, device_, &meta);
      last_ckpt_step = res.start_step;
      if (meta.is_object()) {
        if (meta.contains("window_loss") && meta["window_loss"].is_number()) window_loss = meta["window_loss"].get<double>();
        if (meta.contains("window_n") && meta["window_n"].is_number_integer()) window_n = meta["window_n"].get<int64_t>();
        if (meta.contains("logged_through") && meta["logged_through"].is_number_integer())
          logged_through = meta["logged_through"].get<int64_t>();
        if (meta.contains("run_id") && meta["run_id"].is_string() && run_ && !opts_.log_path.empty()) {
          try {
            logged_through = std::max(logged_through, last_logged_step(opts_.log_path, meta["run_id"].get<std::string>()));
          } catch (const std::exception& e) {
            progress(opts_, std::string("note: --resume: cannot read the log to skip steps already logged: ") + e.what());
          }
        }
      }
      std::string note = "resumed from " + tc_.checkpoint + " at step " + std::to_string(res.start_step);
      if (logged_through > res.start_step)
        note += "; steps up to " + std::to_string(logged_through) + " were logged before and are not logged again";
      progress(opts_, note);
    } else {
      progress(opts_, "note: --resume: no checkpoint at " + tc_.checkpoint + ", starting from step 0");
    }
  }
  auto write_ckpt = [&](int64_t next_step) {
    if (!use_ckpt) return;
    nlohmann::json meta{{"torch", torch_version_string()}, {"steps", tc_.steps}, {"program", opts_.program},
                        {"window_loss", window_loss},      {"window_n", window_n},
                        {"logged_through", logged_through}};
    if (run_) meta["run_id"] = run_->run_id();
    save_checkpoint(tc_.checkpoint, *model_, *opt_, next_step, meta);
    last_ckpt_step = next_step;
  };
  auto run_eval = [&](int64_t step) {
    if (!eval_fn) return;
    const RngState rng = get_rng_state();  // evaluation must not perturb the training stream
    model_->eval();
    nlohmann::json m;
    {
      torch::NoGradGuard ng;
      m = eval_fn(step);
    }
    model_->train();
    set_rng_state(rng);
    if (!m.is_object()) m = nlohmann::json{{"value", m}};
    m["step"] = step;
    res.last_eval = m;
    if (run_) run_->write(m, "eval at step " + std::to_string(step) + ": " + m.dump(), true, "eval");
  };

  model_->train();
  Stopwatch clock;
  double total_tokens = 0.0;
  const int64_t logged_through_at_start = logged_through;  // evaluations up to here were logged before
  int64_t step = res.start_step;
  for (; step < tc_.steps; ++step) {
    const double lr = lr_at(tc_, step);
    for (auto& g : opt_->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    Batch b = batch_fn(step);
    b.inputs = b.inputs.to(device_);
    if (b.targets.defined()) b.targets = b.targets.to(device_);
    if (b.mask.defined()) b.mask = b.mask.to(device_);
    opt_->zero_grad();
    torch::Tensor loss;
    {
      AutocastGuard autocast(device_, !tc_.fp32);
      loss = loss_fn(b);
    }
    const double lv = loss.item<double>();
    double gnorm = 0.0;
    if (std::isfinite(lv)) {
      loss.backward();
      gnorm = tc_.grad_clip > 0 ? torch::nn::utils::clip_grad_norm_(model_->parameters(), tc_.grad_clip) : 0.0;
    }
    if (!std::isfinite(lv) || !std::isfinite(gnorm)) {
      res.ok = false;
      std::ostringstream os;
      os << "non-finite " << (std::isfinite(lv) ? "gradient norm" : "loss") << " (" << (std::isfinite(lv) ? gnorm : lv)
         << ") at step " << step << "; stopped without updating the model. ";
      if (last_ckpt_step >= 0)
        os << "Last good checkpoint: " << tc_.checkpoint << " (step " << last_ckpt_step << ", kept intact)";
      else
        os << "No checkpoint was written";
      os << ". Try a lower --lr or a tighter --grad-clip.";
      res.error = os.str();
      res.failed_step = step;
      std::cerr << "error: " << res.error << std::endl;
      break;
    }
    opt_->step();
    res.losses.emplace_back(step, lv);
    window_loss += lv;
    ++window_n;
    total_tokens += static_cast<double>(b.inputs.dim() >= 2 ? b.inputs.size(0) * b.inputs.size(1) : b.inputs.numel());
    const int64_t done = step + 1;
    const double elapsed = clock.seconds();
    res.tokens_per_s = total_tokens / std::max(elapsed, 1e-9);
    if (done % tc_.log_every == 0 || done == tc_.steps) {
      res.final_loss = window_loss / static_cast<double>(window_n);
      const double per_step = elapsed / static_cast<double>(done - res.start_step);
      std::ostringstream line;
      line << "step " << done << "/" << tc_.steps << "  loss " << std::fixed << std::setprecision(4) << res.final_loss
           << "  lr " << std::scientific << std::setprecision(2) << lr << std::defaultfloat << "  "
           << std::setprecision(4) << res.tokens_per_s << " tok/s  ETA "
           << fmt_duration(per_step * static_cast<double>(tc_.steps - done));
      progress(opts_, line.str());
      if (run_ && !opts_.log_path.empty() && done > logged_through) {
        logged_through = done;
        nlohmann::json m{{"step", done},          {"loss", res.final_loss}, {"lr", lr},
                         {"grad_norm", gnorm},    {"tokens_per_s", res.tokens_per_s},
                         {"elapsed_s", elapsed}};
        append_jsonl(opts_.log_path, run_->make_record(m, line.str(), true, "step"));
      }
      window_loss = 0.0;
      window_n = 0;
    }
    if (tc_.eval_every > 0 && done % tc_.eval_every == 0 && done != tc_.steps && done > logged_through_at_start)
      run_eval(done);
    if (use_ckpt && ((tc_.ckpt_every > 0 && done % tc_.ckpt_every == 0) || done == tc_.steps)) write_ckpt(done);
  }
  res.steps_done = step;
  res.wall_s = clock.seconds();
  if (res.ok) run_eval(step);
  return res;
}

}  // namespace ssmlab::models
