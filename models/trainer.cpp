// trainer.cpp — AdamW + warm-up/cosine training loop with atomic checkpoints (see trainer.h).
#include "models/trainer.h"

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

}  // namespace

// ---- one AdamW step: the fused CUDA kernel where LibTorch has it ------------------------
// LibTorch >= 2.0 has at::_fused_adamw_ (one multi-tensor kernel for all parameters of a group; what
// torch.optim.AdamW(fused=True) calls). It reads and writes the same state tensors as
// torch::optim::AdamW (exp_avg, exp_avg_sq, the step count), so checkpoints and a later unfused
// step see no difference. Same math as torch::optim::AdamW::step: p *= 1 - lr*wd; m, v moments;
// p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
bool adamw_step(torch::optim::AdamW& opt, bool allow_fused) {
#if TORCH_VERSION_MAJOR >= 2
  bool fusable = allow_fused;
  for (auto& g : opt.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(g.options());
    if (o.amsgrad()) fusable = false;
    for (const auto& p : g.params())
      if (!p.is_cuda() || p.scalar_type() != torch::kFloat32 || (p.grad().defined() && p.grad().is_sparse())) fusable = false;
  }
  if (!fusable) {
    opt.step();
    return false;
  }
  torch::NoGradGuard ng;
  auto& state = opt.state();
  using StateMap = std::decay_t<decltype(state)>;
  for (auto& g : opt.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(g.options());
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
    std::map<int64_t, torch::Tensor> step_tensor;  // one device scalar per distinct step count
    for (auto& p : g.params()) {
      if (!p.grad().defined()) continue;  // as torch::optim::AdamW: no gradient, no update
      const auto key = state_key<StateMap>(p);
      auto it = state.find(key);
      if (it == state.end()) {
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        it = state.emplace(key, std::move(s)).first;
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      s.step(s.step() + 1);
      auto st = step_tensor.find(s.step());
      if (st == step_tensor.end())
        st = step_tensor.emplace(s.step(), torch::full({}, static_cast<double>(s.step()), p.options().dtype(torch::kFloat32))).first;
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avgs.push_back(s.exp_avg());
      exp_avg_sqs.push_back(s.exp_avg_sq());
      steps.push_back(st->second);
    }
    if (params.empty()) continue;
    at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, o.lr(), std::get<0>(o.betas()),
                      std::get<1>(o.betas()), o.weight_decay(), o.eps(), /*amsgrad=*/false, /*maximize=*/false);
  }
  return true;
#else
  (void)allow_fused;
  opt.step();  // LibTorch 1.x has no fused AdamW kernel
  return false;
#endif
}

namespace {
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
  cli.flag("unfused-adamw", &tc->unfused_adamw, "CUDA: torch::optim::AdamW's per-parameter step instead of the fused kernel");
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
namespace {
// The trainer's view of the run: the RunLog's options, or, without a RunLog, a quiet run with no log.
CommonOptions trainer_options(const RunLog* run) {
  if (run) return run->options();
  CommonOptions o;
  o.quiet = true;
  return o;
}
}  // namespace

Trainer::Trainer(std::shared_ptr<torch::nn::Module> model, TrainConfig tc, const RunLog* run,
                 std::shared_ptr<Distributed> dist)
    : model_(std::move(model)),
      tc_(std::move(tc)),
      opts_(trainer_options(run)),
      run_(run),
      device_(dist && dist->active() ? dist->device() : resolve_device(tc_.device)),
      dist_(std::move(dist)) {
  model_->to(device_);
  if (dist_ && dist_->active()) {
    apply_writer_rule(&opts_, *dist_);  // this trainer's own copy: ranks != 0 stay silent
    dist_->sync_module(*model_);        // rank 0's initial weights everywhere, checked
  }
  auto make_opts = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(tc_.lr)
                                                            .betas(std::make_tuple(tc_.beta1, tc_.beta2))
                                                            .eps(tc_.adam_eps)
                                                            .weight_decay(wd));
  };
  // Groups: (lr multiplier, decay) in the order multiplier 1 first, then tc.lr_scale's order; within
  // each, the decayed matrices before the rest (without lr_scale: exactly {decay, no_decay}).
  std::vector<double> scales{1.0};
  for (const auto& [prefix, mult] : tc_.lr_scale) scales.push_back(mult);
  std::vector<std::vector<torch::Tensor>> decay(scales.size()), no_decay(scales.size());
  for (auto& p : model_->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    size_t g = 0;
    for (size_t i = 0; i < tc_.lr_scale.size() && g == 0; ++i)
      if (p.key().rfind(tc_.lr_scale[i].first, 0) == 0) g = i + 1;
    (p.value().dim() >= 2 ? decay : no_decay)[g].push_back(p.value());
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (size_t g = 0; g < scales.size(); ++g) {
    if (!decay[g].empty()) groups.emplace_back(decay[g], make_opts(tc_.weight_decay)), group_lr_scale_.push_back(scales[g]);
    if (!no_decay[g].empty()) groups.emplace_back(no_decay[g], make_opts(0.0)), group_lr_scale_.push_back(scales[g]);
  }
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

// What loss_fn's mean is taken over: the mask's sum, else the targets' count, else the rows.
double target_count(const Batch& b) {
  if (b.mask.defined()) return b.mask.to(torch::kFloat64).sum().item<double>();
  if (b.targets.defined()) return static_cast<double>(b.targets.numel());
  return static_cast<double>(b.inputs.dim() >= 1 ? b.inputs.size(0) : 1);
}
// Rows rank, rank + world, ... of a global batch (the ranks' rows together are the whole batch).
Batch rank_rows(const Batch& b, int rank, int world) {
  const auto rows = torch::arange(rank, b.inputs.size(0), world, torch::TensorOptions().dtype(torch::kInt64).device(b.inputs.device()));
  auto pick = [&](const torch::Tensor& t) { return t.defined() ? t.index_select(0, rows.to(t.device())) : t; };
  return Batch{pick(b.inputs), pick(b.targets), pick(b.mask)};
}
}  // namespace

TrainResult Trainer::fit(const BatchFn& batch_fn, const LossFn& loss_fn, const EvalFn& eval_fn) {
  const auto lm = std::dynamic_pointer_cast<LanguageModelImpl>(model_);  // null: no aux_loss()
  return fit_backward(
      batch_fn,
      [&](const Batch& b, double scale) {
        torch::Tensor loss, aux;  // loss_fn's value (logged as loss) and the model's auxiliary loss
        {
          AutocastGuard autocast(device_, !tc_.fp32);
          loss = loss_fn(b);
          if (lm) aux = lm->aux_loss();
        }
        const double lv = loss.item<double>();
        if (!aux.defined()) {
          if (std::isfinite(lv)) (scale == 1.0 ? loss : loss * scale).backward();
          return lv;
        }
        const double av = aux.item<double>();
        step_aux_ += av * scale;  // fit_backward turns this into the step's mean aux_loss
        step_aux_seen_ = true;
        if (std::isfinite(lv) && std::isfinite(av))
          ((tc_.aux_loss_coef != 0.0 ? loss + tc_.aux_loss_coef * aux : loss) * scale).backward();
        return lv;
      },
      eval_fn);
}

namespace {
// Rows [k n / parts, (k + 1) n / parts) of every tensor of the batch (dim 0).
Batch micro_batch(const Batch& b, int64_t k, int64_t parts) {
  if (parts == 1) return b;
  const int64_t n = b.inputs.size(0), lo = k * n / parts, hi = (k + 1) * n / parts;
  auto rows = [&](const torch::Tensor& t) { return t.defined() ? t.slice(0, lo, hi) : t; };
  return Batch{rows(b.inputs), rows(b.targets), rows(b.mask)};
}
}  // namespace

TrainResult Trainer::fit_backward(const BatchFn& batch_fn, const BackwardFn& backward_fn, const EvalFn& eval_fn) {
  TrainResult res;
  losses_.clear();
  const bool use_ckpt = !tc_.checkpoint.empty();
  const bool dp = dist_ && dist_->active();
  const bool main = is_main();
  const int world = dp ? dist_->world() : 1;
  res.world_size = world;
  int64_t ckpt_global_batch = 0, ckpt_world = 0;  // of the checkpoint resumed from
  int64_t last_ckpt_step = -1;
  // Resume logging rule (docs/log-schema.md, "Resumed runs"): the checkpoint's meta carries the
  // loss sum and count of the log window in progress, so the first window after a resume averages
  // the same steps as an uninterrupted run; and it carries the highest step already logged by the
  // runs before (plus the run id of the run that wrote it, whose own step records after the
  // checkpoint are found in the log), so windows and evaluations at or below that step are not
  // logged again. Each window is then logged exactly once, with an uninterrupted run's value.
  double window_loss = 0.0, window_aux = 0.0;  // window_aux: the model's aux_loss (MoE), if it has one
  int64_t window_n = 0;
  bool has_aux = false;
  int64_t logged_through = -1;  // highest step record of this lineage (killed runs included)
  if (tc_.resume && use_ckpt) {
    const bool found = std::filesystem::exists(tc_.checkpoint);
    if (dp) {  // every rank must resume from the same file, or none
      const double n = dist_->allreduce_sum(std::vector<double>{found ? 1.0 : 0.0})[0];
      if (n > 0 && n < world)
        throw DistError("--resume: " + tc_.checkpoint + " exists on " + std::to_string(static_cast<int>(n)) + " of " +
                        std::to_string(world) + " ranks; the ranks need one shared checkpoint (a shared file system)");
    }
    if (found) {
      nlohmann::json meta;
      res.start_step = load_checkpoint(tc_.checkpoint, *model_, *opt_, device_, &meta);
      last_ckpt_step = res.start_step;
      if (meta.is_object()) {
        if (meta.contains("window_loss") && meta["window_loss"].is_number()) window_loss = meta["window_loss"].get<double>();
        if (meta.contains("window_n") && meta["window_n"].is_number_integer()) window_n = meta["window_n"].get<int64_t>();
        if (meta.contains("window_aux") && meta["window_aux"].is_number()) window_aux = meta["window_aux"].get<double>();
        if (meta.contains("logged_through") && meta["logged_through"].is_number_integer())
          logged_through = meta["logged_through"].get<int64_t>();
        if (meta.contains("global_batch") && meta["global_batch"].is_number_integer()) ckpt_global_batch = meta["global_batch"].get<int64_t>();
        if (meta.contains("world_size") && meta["world_size"].is_number_integer()) ckpt_world = meta["world_size"].get<int64_t>();
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
    last_ckpt_step = next_step;
    if (!main) return;  // rank 0 writes; every rank holds the same weights and optimizer state
    nlohmann::json meta{{"torch", torch_version_string()}, {"steps", tc_.steps}, {"program", opts_.program},
                        {"window_loss", window_loss},      {"window_n", window_n},
                        {"logged_through", logged_through}, {"world_size", world},
                        {"global_batch", res.global_batch}};
    if (run_) meta["run_id"] = run_->run_id();
    save_checkpoint(tc_.checkpoint, *model_, *opt_, next_step, meta);
    if (on_checkpoint_) on_checkpoint_(next_step);
  };
  // Returns true when the evaluation asks to stop (EvalFn's "stop_training": true, e.g. patience).
  auto run_eval = [&](int64_t step) -> bool {
    if (!eval_fn) return false;
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
    if (dp) {  // every rank evaluated; its floating-point metrics are averaged over the ranks
      std::vector<std::string> keys;
      std::vector<double> vals;
      for (const auto& [k, v] : m.items())
        if (v.is_number_float()) keys.push_back(k), vals.push_back(v.get<double>());
      vals = dist_->allreduce_sum(vals);
      for (size_t i = 0; i < keys.size(); ++i) m[keys[i]] = vals[i] / world;
    }
    m["step"] = step;
    res.last_eval = m;
    bool stop = m.contains("stop_training") && m["stop_training"].is_boolean() && m["stop_training"].get<bool>();
    if (dp) stop = dist_->allreduce_sum(std::vector<double>{stop ? 1.0 : 0.0})[0] > 0;  // every rank stops together
    if (main) {
      const std::string line = "eval at step " + std::to_string(step) + ": " + m.dump();
      progress(opts_, line);
      if (run_) run_->append(m, line, true, "eval");
    }
    return stop;
  };

  model_->train();
  Stopwatch clock;
  double total_tokens = 0.0;
  // The rate of the current logging window (training steps only: evaluations and checkpoints in
  // between are not counted), and the whole-run average beside it.
  double window_tokens = 0.0, window_start = 0.0;
  double window_comm = 0.0;  // gradient all-reduce seconds of this window
  int64_t window_steps = 0;  // steps of this window run here
  const int64_t logged_through_at_start = logged_through;  // evaluations up to here were logged before
  int64_t step = res.start_step;
  for (; step < tc_.steps; ++step) {
    if (window_tokens == 0.0) window_start = clock.seconds();
    const double lr = lr_at(tc_, step);
    for (size_t g = 0; g < opt_->param_groups().size(); ++g)
      static_cast<torch::optim::AdamWOptions&>(opt_->param_groups()[g].options()).lr(lr * group_lr_scale_[g]);
    Batch b = batch_fn(step);
    // tokens of the global batch (all ranks), for tokens/s
    const double step_tokens = static_cast<double>(b.inputs.dim() >= 2 ? b.inputs.size(0) * b.inputs.size(1) : b.inputs.numel());
    double share = 1.0;  // this rank's part of the global target count
    if (dp) {
      const int64_t rows = b.inputs.dim() >= 1 ? b.inputs.size(0) : 1;
      if (rows < world)
        throw std::runtime_error("data-parallel: the global batch of step " + std::to_string(step) + " has " + std::to_string(rows) +
                                 " rows, fewer than the " + std::to_string(world) + " ranks");
      if (res.global_batch == 0) {
        res.global_batch = rows;
        std::ostringstream os;
        os << "data-parallel: " << world << " ranks (" << dist_->backend() << ", " << device_.str() << " on rank 0), global batch "
           << rows << " = " << rows / world << (rows % world ? "(+)" : "") << " rows per rank x " << world;
        if (ckpt_global_batch > 0 && ckpt_global_batch != rows)
          os << "; NOTE: the checkpoint was trained with global batch " << ckpt_global_batch << ", so this continuation differs";
        if (ckpt_world > 0 && ckpt_world != world) os << "; resumed a " << ckpt_world << "-rank checkpoint on " << world << " ranks";
        progress(opts_, os.str());
      }
      const double global_count = target_count(b);
      b = rank_rows(b, dist_->rank(), world);
      share = global_count > 0 ? target_count(b) / global_count : 0.0;
    } else if (res.global_batch == 0) {
      res.global_batch = b.inputs.dim() >= 1 ? b.inputs.size(0) : 1;
      if (ckpt_world > 1) progress(opts_, "resumed a " + std::to_string(ckpt_world) + "-rank checkpoint in one process");
    }
    b.inputs = b.inputs.to(device_);
    if (b.targets.defined()) b.targets = b.targets.to(device_);
    if (b.mask.defined()) b.mask = b.mask.to(device_);
    opt_->zero_grad();
    // Micro-batches (--grad-accum) each backward'ed with weight share / parts: with data parallelism
    // the summed gradients are then those of the global mean (share = this rank's target fraction).
    const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(tc_.grad_accum, b.inputs.size(0)));
    double lv = 0.0;
    step_aux_ = 0.0;  // fit()'s backward_fn adds aux_loss x scale here when the model has one
    step_aux_seen_ = false;
    for (int64_t k = 0; k < parts && std::isfinite(lv); ++k) lv += backward_fn(micro_batch(b, k, parts), share / parts) / parts;
    double av = step_aux_;  // sum of aux x share / parts: this rank's part of the step's mean aux_loss
    if (dp) {  // the global loss (and aux_loss); a NaN anywhere stops every rank
      const auto g = dist_->allreduce_sum(std::vector<double>{lv * share, av});
      lv = g[0];
      av = g[1];
    } else if (share > 0) {
      av /= share;
    }
    if (step_aux_seen_) has_aux = true;
    const bool finite = std::isfinite(lv) && std::isfinite(av);
    double gnorm = 0.0;
    if (finite) {
      if (dp) {
        std::vector<torch::Tensor> grads;
        for (auto& p : model_->parameters()) {
          if (!p.requires_grad()) continue;
          if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);  // the same buckets on every rank
          grads.push_back(p.grad());
        }
        const double c0 = dist_->comm_seconds();
        dist_->allreduce_sum(grads);
        window_comm += dist_->comm_seconds() - c0;
        res.allreduce_s += dist_->comm_seconds() - c0;
      }
      // after the all-reduce this is the global gradient's norm, the same on every rank
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
      if (main) std::cerr << "error: " << res.error << std::endl;
      break;
    }
    adamw_step(*opt_, !tc_.unfused_adamw);
    losses_.emplace_back(step, lv);
    window_loss += lv;
    if (has_aux) window_aux += av;
    ++window_n;
    ++window_steps;
    total_tokens += step_tokens;
    window_tokens += step_tokens;
    const int64_t done = step + 1;
    const double elapsed = clock.seconds();
    res.tokens_per_s = total_tokens / std::max(elapsed, 1e-9);
    if (done % tc_.log_every == 0 || done == tc_.steps) {
      res.final_loss = window_loss / static_cast<double>(window_n);
      if (has_aux) res.final_aux_loss = window_aux / static_cast<double>(window_n);
      const double per_step = elapsed / static_cast<double>(done - res.start_step);
      const double window_rate = window_tokens / std::max(elapsed - window_start, 1e-9);
      const double allreduce_ms = window_steps > 0 ? 1e3 * window_comm / static_cast<double>(window_steps) : 0.0;
      window_tokens = 0.0;
      window_comm = 0.0;
      window_steps = 0;
      std::ostringstream line;
      line << "step " << done << "/" << tc_.steps << "  loss " << std::fixed << std::setprecision(4) << res.final_loss;
      if (has_aux) line << "  aux " << res.final_aux_loss;
      line << "  lr " << std::scientific << std::setprecision(2) << lr << std::defaultfloat << "  "
           << std::setprecision(4) << window_rate << " tok/s (run avg " << std::setprecision(4) << res.tokens_per_s
           << ")  ETA "
           << fmt_duration(per_step * static_cast<double>(tc_.steps - done));
      if (dp) line << "  all-reduce " << std::setprecision(3) << allreduce_ms << " ms/step";
      progress(opts_, line.str());
      if (run_ && !opts_.log_path.empty() && done > logged_through) {
        logged_through = done;
        nlohmann::json m{{"step", done},          {"loss", res.final_loss}, {"lr", lr},
                         {"grad_norm", gnorm},    {"tokens_per_s", window_rate},
                         {"tokens_per_s_avg", res.tokens_per_s}, {"elapsed_s", elapsed}};
        if (has_aux) m["aux_loss"] = res.final_aux_loss;
        if (dp) {  // tokens_per_s counts every rank's tokens
          m["world_size"] = world;
          m["global_batch"] = res.global_batch;
          m["batch_per_rank"] = res.global_batch / world;
          m["allreduce_ms"] = allreduce_ms;
        }
        run_->append(m, line.str(), true, "step");
      }
      window_loss = 0.0;
      window_aux = 0.0;
      window_n = 0;
    }
    if (tc_.eval_every > 0 && done % tc_.eval_every == 0 && done != tc_.steps && done > logged_through_at_start &&
        run_eval(done)) {
      res.stopped_early = true;
      progress(opts_, "stopping early at step " + std::to_string(done) + " (the evaluation asked to stop)");
      write_ckpt(done);
      step = done;
      break;
    }
    if (use_ckpt && ((tc_.ckpt_every > 0 && done % tc_.ckpt_every == 0) || done == tc_.steps)) write_ckpt(done);
  }
  res.steps_done = step;
  res.losses = losses_;
  res.wall_s = clock.seconds();
  if (res.ok && !res.stopped_early) run_eval(step);
  return res;
}

}  // namespace ssmlab::models
