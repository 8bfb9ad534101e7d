// trainer.cpp — AdamW + warm-up/cosine training loop with atomic checkpoints (see trainer.h).
#include "trainer.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>


#include "ssmlab/atomic_file.h"
#include "ssmlab/hf/safetensors.h"
#include "ssmlab/hf/train_checkpoint.h"
#include "ssmlab/safe_io.h"
#include "ssmlab/timer.h"

namespace ssmlab::models {

namespace {
// The file layout (magic, version, size, CRC-32, safetensors payload) is hf/train_checkpoint.h's,
// torch-free so that it can be fuzzed; this file maps model, AdamW and RNG state to its tensors.
// torch <-> safetensors element types (the hf/ conversions live in ssmlab_hf, which depends on us)
hf::DType to_st_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat64: return hf::DType::F64;
    case torch::kFloat32: return hf::DType::F32;
    case torch::kFloat16: return hf::DType::F16;
    case torch::kBFloat16: return hf::DType::BF16;
    case torch::kInt64: return hf::DType::I64;
    case torch::kInt32: return hf::DType::I32;
    case torch::kInt16: return hf::DType::I16;
    case torch::kInt8: return hf::DType::I8;
    case torch::kUInt8: return hf::DType::U8;
    case torch::kBool: return hf::DType::BOOL;
    default: throw std::runtime_error(std::string("checkpoint: no stored type for ") + c10::toString(t));
  }
}
torch::ScalarType to_torch(hf::DType d) {
  switch (d) {
    case hf::DType::F64: return torch::kFloat64;
    case hf::DType::F32: return torch::kFloat32;
    case hf::DType::F16: return torch::kFloat16;
    case hf::DType::BF16: return torch::kBFloat16;
    case hf::DType::I64: return torch::kInt64;
    case hf::DType::I32: return torch::kInt32;
    case hf::DType::I16: return torch::kInt16;
    case hf::DType::I8: return torch::kInt8;
    case hf::DType::U8: return torch::kUInt8;
    case hf::DType::BOOL: return torch::kBool;
  }
  return torch::kFloat32;
}
hf::RawTensor raw(const std::string& name, const torch::Tensor& t0) {
  const torch::Tensor t = t0.detach().to(torch::kCPU).contiguous();
  hf::RawTensor r{name, to_st_dtype(t.scalar_type()), t.sizes().vec(), {}};
  const auto* b = static_cast<const uint8_t*>(t.data_ptr());
  r.bytes.assign(b, b + t.nbytes());
  return r;
}
torch::Tensor from_view(const hf::TensorView& v) {  // a CPU copy (the view may be unaligned)
  torch::Tensor t = torch::empty(v.shape, torch::TensorOptions().dtype(to_torch(v.dtype)));
  if (v.nbytes()) std::memcpy(t.data_ptr(), v.data, v.nbytes());
  return t;
}

// The key under which LibTorch's optimizers keep a parameter's state: the TensorImpl address,
// as a string in LibTorch 1.x/2.0 (c10::guts::to_string, i.e. ostream <<) and as void* later.
template <class Map>
typename Map::key_type state_key(const torch::Tensor& p) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream os;
    os << p.unsafeGetTensorImpl();
    return os.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

// Parameter names by TensorImpl, for the optimizer's parameter-group layout.
std::map<const void*, std::string> param_names(torch::nn::Module& model) {
  std::map<const void*, std::string> names;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) names[p.value().unsafeGetTensorImpl()] = p.key();
  return names;
}
torch::optim::AdamW& as_adamw(torch::optim::Optimizer& opt) {
  auto* a = dynamic_cast<torch::optim::AdamW*>(&opt);
  if (!a) throw CheckpointError("checkpoints hold AdamW state only (the optimizer is not torch::optim::AdamW)");
  return *a;
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
  cli.add("aux-loss-coef", &tc->aux_loss_coef, "weight of the model's auxiliary loss (MoE load balancing)").at_least(0.0);
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
// Payload tensors: "model/<name>" (parameters and buffers), "adamw/<parameter>/{exp_avg,
// exp_avg_sq,max_exp_avg_sq,step}" (only for parameters that have optimizer state), "rng/cpu",
// "rng/cuda". Metadata "ssmlab" (JSON): next_step, meta, and the optimizer's groups (hyper-
// parameters and the names of their parameters, in order).
void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer& opt,
                     int64_t next_step, const nlohmann::json& meta) {
  auto& adamw = as_adamw(opt);
  std::vector<hf::RawTensor> tensors;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) tensors.push_back(raw("model/" + p.key(), p.value()));
  for (const auto& b : model.named_buffers(/*recurse=*/true)) tensors.push_back(raw("model/" + b.key(), b.value()));
  const auto names = param_names(model);
  nlohmann::json groups = nlohmann::json::array();
  auto& state = adamw.state();
  using StateMap = std::decay_t<decltype(state)>;
  for (const auto& g : adamw.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(g.options());
    nlohmann::json j = {{"lr", o.lr()}, {"beta1", std::get<0>(o.betas())}, {"beta2", std::get<1>(o.betas())},
                        {"eps", o.eps()}, {"weight_decay", o.weight_decay()}, {"amsgrad", o.amsgrad()},
                        {"params", nlohmann::json::array()}};
    for (const auto& p : g.params()) {
      auto n = names.find(p.unsafeGetTensorImpl());
      if (n == names.end()) throw std::runtime_error("checkpoint: the optimizer holds a tensor that is not a parameter of the model");
      j["params"].push_back(n->second);
      auto it = state.find(state_key<StateMap>(p));
      if (it == state.end()) continue;
      const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
      const std::string k = "adamw/" + n->second + "/";
      tensors.push_back(raw(k + "step", torch::tensor(s.step(), torch::kInt64)));
      tensors.push_back(raw(k + "exp_avg", s.exp_avg()));
      tensors.push_back(raw(k + "exp_avg_sq", s.exp_avg_sq()));
      if (s.max_exp_avg_sq().defined()) tensors.push_back(raw(k + "max_exp_avg_sq", s.max_exp_avg_sq()));
    }
    groups.push_back(j);
  }
  const RngState rng = get_rng_state();
  tensors.push_back(raw("rng/cpu", rng.cpu));
  if (rng.cuda.defined()) tensors.push_back(raw("rng/cuda", rng.cuda));
  const nlohmann::json info = {{"next_step", next_step}, {"meta", meta}, {"optimizer", {{"type", "AdamW"}, {"groups", groups}}}};
  const std::vector<uint8_t> payload = hf::encode_safetensors(tensors, {{"ssmlab", info.dump()}});
  const std::string header = hf::train_checkpoint_header(payload);
  if (auto parent = std::filesystem::path(path).parent_path(); !parent.empty())
    std::filesystem::create_directories(parent);
  write_file_atomic(path, [&](std::ostream& os) {
    os.write(header.data(), static_cast<std::streamsize>(header.size()));
    os.write(reinterpret_cast<const char*>(payload.data()), static_cast<std::streamsize>(payload.size()));
  });
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
  // Decode and check everything before anything is changed.
  std::optional<hf::SafetensorsFile> st;
  nlohmann::json info;
  try {
    hf::TrainCheckpointFile f = hf::parse_train_checkpoint(std::move(bytes), where);
    st = std::move(f.tensors);
    info = std::move(f.info);
  } catch (const hf::Error& e) {
    throw CheckpointError(e.what());
  }
  auto& adamw = as_adamw(opt);
  std::vector<std::string> problems;
  std::set<std::string> used;
  auto check = [&](const std::string& key, const torch::Tensor& like) -> const hf::TensorView* {
    const hf::TensorView* v = st->find(key);
    if (!v) return problems.push_back("missing " + key), nullptr;
    used.insert(key);
    if (v->shape != like.sizes().vec() || to_torch(v->dtype) != like.scalar_type())
      return problems.push_back(key + ": stored " + hf::dtype_name(v->dtype) + c10::str(c10::IntArrayRef(v->shape)) + " vs " +
                                c10::toString(like.scalar_type()) + c10::str(like.sizes())),
             nullptr;
    return v;
  };
  std::vector<std::pair<torch::Tensor, const hf::TensorView*>> copies;  // model tensor <- stored view
  for (const auto& p : model.named_parameters(true))
    if (auto* v = check("model/" + p.key(), p.value())) copies.emplace_back(p.value(), v);
  for (const auto& b : model.named_buffers(true))
    if (auto* v = check("model/" + b.key(), b.value())) copies.emplace_back(b.value(), v);
  // optimizer layout: the same groups of the same parameters, in order
  const auto names = param_names(model);
  const auto& groups = info["optimizer"]["groups"];
  if (groups.size() != adamw.param_groups().size())
    problems.push_back(std::to_string(groups.size()) + " optimizer groups stored, " + std::to_string(adamw.param_groups().size()) + " here");
  struct Restore {
    torch::Tensor param;
    const hf::TensorView *step, *exp_avg, *exp_avg_sq, *max_exp_avg_sq;
  };
  std::vector<Restore> states;
  for (size_t g = 0; problems.empty() && g < groups.size(); ++g) {
    const auto& jg = groups[g];
    const auto& params = adamw.param_groups()[g].params();
    if (!jg.is_object() || !jg.contains("params") || !jg["params"].is_array() || jg["params"].size() != params.size()) {
      problems.push_back("optimizer group " + std::to_string(g) + " holds other parameters");
      break;
    }
    for (size_t i = 0; i < params.size(); ++i) {
      auto n = names.find(params[i].unsafeGetTensorImpl());
      if (n == names.end() || !jg["params"][i].is_string() || jg["params"][i].get<std::string>() != n->second) {
        problems.push_back("optimizer group " + std::to_string(g) + " parameter " + std::to_string(i) + " differs");
        continue;
      }
      const std::string k = "adamw/" + n->second + "/";
      if (!st->find(k + "step")) continue;  // no state yet (never stepped)
      Restore r{params[i], check(k + "step", torch::tensor(int64_t{0})), check(k + "exp_avg", params[i]),
                check(k + "exp_avg_sq", params[i]), nullptr};
      if (st->find(k + "max_exp_avg_sq")) r.max_exp_avg_sq = check(k + "max_exp_avg_sq", params[i]);
      states.push_back(r);
    }
  }
  for (const auto& v : st->tensors())
    if (!used.count(v.name) && v.name.rfind("rng/", 0) != 0) problems.push_back("unexpected " + v.name);
  const hf::TensorView* rng_cpu = st->find("rng/cpu");
  if (!rng_cpu || rng_cpu->dtype != hf::DType::U8) problems.push_back("missing rng/cpu");
  if (!problems.empty()) {
    std::string msg = where + " does not match this model/optimizer:";
    for (size_t i = 0; i < problems.size() && i < 10; ++i) msg += " " + problems[i] + (i + 1 < problems.size() ? ";" : "");
    if (problems.size() > 10) msg += " ... and " + std::to_string(problems.size() - 10) + " more";
    throw CheckpointError(msg);
  }
  // Restore: weights, optimizer groups and state, RNG.
  try {
    torch::NoGradGuard ng;
    for (auto& [t, v] : copies) t.copy_(from_view(*v));
    auto& state = adamw.state();
    using StateMap = std::decay_t<decltype(state)>;
    for (size_t g = 0; g < groups.size(); ++g) {
      auto& o = static_cast<torch::optim::AdamWOptions&>(adamw.param_groups()[g].options());
      const auto& jg = groups[g];
      o.lr(jg.at("lr").get<double>()).betas(std::make_tuple(jg.at("beta1").get<double>(), jg.at("beta2").get<double>()));
      o.eps(jg.at("eps").get<double>()).weight_decay(jg.at("weight_decay").get<double>()).amsgrad(jg.at("amsgrad").get<bool>());
    }
    for (const auto& r : states) {
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      s->step(from_view(*r.step).item<int64_t>());
      const auto to_param = [&](const hf::TensorView* v) { return from_view(*v).to(r.param.device()); };
      s->exp_avg(to_param(r.exp_avg));
      s->exp_avg_sq(to_param(r.exp_avg_sq));
      if (r.max_exp_avg_sq) s->max_exp_avg_sq(to_param(r.max_exp_avg_sq));
      state[state_key<StateMap>(r.param)] = std::move(s);
    }
    RngState rng;
    rng.cpu = from_view(*rng_cpu);
    if (const auto* c = st->find("rng/cuda")) rng.cuda = from_view(*c);
    set_rng_state(rng);
    (void)device;  // the tensors are copied into the model's and the optimizer's own devices
  } catch (const std::exception& e) {
    throw CheckpointError(where + " cannot be restored: " + first_line(e.what()));
  }
  if (meta) *meta = info.contains("meta") ? info["meta"] : nlohmann::json::object();
  return info["next_step"].get<int64_t>();
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
  double window_loss = 0.0, window_aux = 0.0;
  int64_t window_n = 0;
  const auto lm = std::dynamic_pointer_cast<LanguageModelImpl>(model_);  // null: no aux_loss()
  int64_t logged_through = -1;  // highest step record of this lineage (killed runs included)
  if (tc_.resume && use_ckpt) {
    if (std::filesystem::exists(tc_.checkpoint)) {
      nlohmann::json meta;
      res.start_step = load_checkpoint(tc_.checkpoint, *model_, *opt_, device_, &meta);
      last_ckpt_step = res.start_step;
      if (meta.is_object()) {
        if (meta.contains("window_loss") && meta["window_loss"].is_number()) window_loss = meta["window_loss"].get<double>();
        if (meta.contains("window_n") && meta["window_n"].is_number_integer()) window_n = meta["window_n"].get<int64_t>();
        if (meta.contains("window_aux") && meta["window_aux"].is_number()) window_aux = meta["window_aux"].get<double>();
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
                        {"window_loss", window_loss},      {"window_n", window_n}, {"window_aux", window_aux},
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
  // The rate of the current logging window (training steps only: evaluations and checkpoints in
  // between are not counted), and the whole-run average beside it.
  double window_tokens = 0.0, window_start = 0.0;
  const int64_t logged_through_at_start = logged_through;  // evaluations up to here were logged before
  int64_t step = res.start_step;
  for (; step < tc_.steps; ++step) {
    if (window_tokens == 0.0) window_start = clock.seconds();
    const double lr = lr_at(tc_, step);
    for (auto& g : opt_->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    Batch b = batch_fn(step);
    b.inputs = b.inputs.to(device_);
    if (b.targets.defined()) b.targets = b.targets.to(device_);
    if (b.mask.defined()) b.mask = b.mask.to(device_);
    opt_->zero_grad();
    torch::Tensor loss, aux;  // loss_fn's value (logged as loss) and the model's auxiliary loss
    {
      AutocastGuard autocast(device_, !tc_.fp32);
      loss = loss_fn(b);
      if (lm) aux = lm->aux_loss();
    }
    const double lv = loss.item<double>();
    const double av = aux.defined() ? aux.item<double>() : 0.0;
    const bool finite = std::isfinite(lv) && std::isfinite(av);
    double gnorm = 0.0;
    if (finite) {
      (aux.defined() && tc_.aux_loss_coef != 0.0 ? loss + tc_.aux_loss_coef * aux : loss).backward();
      gnorm = tc_.grad_clip > 0 ? torch::nn::utils::clip_grad_norm_(model_->parameters(), tc_.grad_clip) : 0.0;
    }
    if (!finite || !std::isfinite(gnorm)) {
      res.ok = false;
      std::ostringstream os;
      const char* what = !std::isfinite(lv) ? "loss" : !std::isfinite(av) ? "aux_loss" : "gradient norm";
      os << "non-finite " << what << " (" << (!std::isfinite(lv) ? lv : !std::isfinite(av) ? av : gnorm)
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
    window_aux += av;
    ++window_n;
    const double step_tokens = static_cast<double>(b.inputs.dim() >= 2 ? b.inputs.size(0) * b.inputs.size(1) : b.inputs.numel());
    total_tokens += step_tokens;
    window_tokens += step_tokens;
    const int64_t done = step + 1;
    const double elapsed = clock.seconds();
    res.tokens_per_s = total_tokens / std::max(elapsed, 1e-9);
    if (done % tc_.log_every == 0 || done == tc_.steps) {
      res.final_loss = window_loss / static_cast<double>(window_n);
      if (aux.defined()) res.final_aux_loss = window_aux / static_cast<double>(window_n);
      const double per_step = elapsed / static_cast<double>(done - res.start_step);
      const double window_rate = window_tokens / std::max(elapsed - window_start, 1e-9);
      window_tokens = 0.0;
      std::ostringstream line;
      line << "step " << done << "/" << tc_.steps << "  loss " << std::fixed << std::setprecision(4) << res.final_loss;
      if (aux.defined()) line << "  aux " << res.final_aux_loss;
      line << "  lr " << std::scientific << std::setprecision(2) << lr << std::defaultfloat << "  "
           << std::setprecision(4) << window_rate << " tok/s (run avg " << std::setprecision(4) << res.tokens_per_s
           << ")  ETA "
           << fmt_duration(per_step * static_cast<double>(tc_.steps - done));
      progress(opts_, line.str());
      if (run_ && !opts_.log_path.empty() && done > logged_through) {
        logged_through = done;
        nlohmann::json m{{"step", done},          {"loss", res.final_loss}, {"lr", lr},
                         {"grad_norm", gnorm},    {"tokens_per_s", window_rate},
                         {"tokens_per_s_avg", res.tokens_per_s}, {"elapsed_s", elapsed}};
        if (aux.defined()) m["aux_loss"] = res.final_aux_loss;
        append_jsonl(opts_.log_path, run_->make_record(m, line.str(), true, "step"));
      }
      window_loss = 0.0;
      window_aux = 0.0;
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
