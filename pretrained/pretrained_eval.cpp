// pretrained_eval: copying natural text (c4_copy), phone-book lookup (phone_book) and SQuAD v2 (squad)
// on pretrained checkpoint folders, per input length (Jelassi et al. 2024, §pretrained). Tasks,
// prompt formats and rules: pretrained/tasks.h, pretrained/squad.h, docs/pretrained.md.
//
//   pretrained_eval --model DIR[,DIR...] [--model DIR] --eval-task c4_copy|phone_book|squad
//                   [--min-eval-len A --max-eval-len B --eval-len-step S | --eval-lens L1 L2 ...]
//                   [--eval-num-batches 3 --eval-batch-size 32] [--text-order standard|random]
//                   [--tokenizer PATH] [--data-dir DIR] [--device auto|cpu|cuda[:i] --dtype fp32|bf16|fp16]
//
// Per (model, length): the prompts (eval-num-batches x eval-batch-size for c4_copy and phone_book; the
// length's bucket for squad) are generated greedily in batches of --eval-batch-size through
// models::generate (left-padded, with the model's cache; a row stops at its task's stop string or
// EOS), cut and scored; one "eval" record per (model, task, length) and a few failed examples
// (prompt tail, expected, got) in the side file --failures. A length whose prompt plus answer
// exceeds the model's position limit (max_position_embeddings; Mamba has none) is skipped with a
// record that says so, never truncated. The run ends with one "result" record.
#include "ssmlab/main_guard.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>

#include <torch/torch.h>

#include "models/generation.h"
#include "models/torch_util.h"
#include "pretrained/squad.h"
#include "ssmlab/cli.h"
#include "ssmlab/runtime.h"
#include "ssmlab/hf/documents.h"
#include "ssmlab/hf/pretrained.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/progress_meter.h"
#include "ssmlab/timer.h"
#include "pretrained/tasks.h"

namespace fs = std::filesystem;
namespace hf = ssmlab::hf;
namespace models = ssmlab::models;
namespace pt = ssmlab::pretrained;
using nlohmann::json;

namespace {

struct Config {
  std::string task, text_order = "standard", normalization = "official";
  int64_t num_batches = 3, batch_size = 32, squad_max = 30, squad_min = 15, max_failures = 3;
  uint64_t seed = 0;
};

// The data of the chosen task, read once.
struct TaskData {
  std::vector<std::string> files;
  std::vector<std::string> c4_pool;  // evaluation documents of every C4 file (hf::evaluation_documents)
  int64_t c4_docs = 0, c4_bad_lines = 0;
  pt::CensusNames names;
  std::vector<pt::SquadParagraph> squad;
};

std::vector<std::string> glob(const fs::path& dir, const std::vector<std::string>& suffixes) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    for (const auto& s : suffixes)
      if (e.is_regular_file() && name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
        out.push_back(e.path().string());
        break;
      }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TaskData load_task_data(const std::string& task, const std::string& data_dir) {
  TaskData d;
  const fs::path dir(data_dir);
  if (task == "c4_copy") {
    d.files = glob(dir / "c4", {".json.gz", ".jsonl", ".json"});
    if (d.files.empty())
      throw pt::DataError("c4_copy: no C4 files; looked for " + (dir / "c4" / "*.json.gz").string() + ", " +
                          (dir / "c4" / "*.jsonl").string() + " and " + (dir / "c4" / "*.json").string());
    for (const auto& f : d.files) {
      hf::JsonlDocuments docs;
      try {
        docs = hf::read_jsonl_documents(f);
      } catch (const std::exception& e) {
        throw pt::DataError(std::string("c4_copy: ") + e.what());
      }
      if (docs.bad_lines > 0)
        std::cerr << "warning: " << f << ": skipped " << docs.bad_lines << " broken line(s); first: " << docs.first_bad << "\n";
      d.c4_docs += static_cast<int64_t>(docs.texts.size());
      d.c4_bad_lines += docs.bad_lines;
      for (auto& t : hf::evaluation_documents(docs.texts)) d.c4_pool.push_back(std::move(t));
    }
    if (d.c4_pool.empty())
      throw pt::DataError("c4_copy: the C4 files hold no evaluation documents (the last min(200, n/5) of each file; "
                          "a file needs at least 5 documents)");
  } else if (task == "phone_book") {
    d.names = pt::load_census_names((dir / "names").string());
    d.files = {d.names.last.path};
    for (const auto& f : d.names.first) d.files.push_back(f.path);
  } else {
    d.files = glob(dir / "squad-v2", {".json"});
    if (d.files.empty()) throw pt::DataError("squad: no SQuAD v2 file; looked for " + (dir / "squad-v2" / "*.json").string());
    for (const auto& f : d.files)
      for (auto& p : pt::read_squad(f)) d.squad.push_back(std::move(p));
  }
  return d;
}

// The prompts of one length (and, for squad, the bucket's counts).
struct LengthSet {
  std::vector<pt::Example> examples;
  json info = json::object();  // extra metrics: bucket bounds and counts, warnings
};

LengthSet build_examples(const Config& c, const TaskData& d, const hf::Tokenizer& tok, int64_t L, int64_t prev_L,
                         const std::vector<int64_t>& squad_tokens) {
  std::seed_seq seq{static_cast<uint64_t>(c.seed), static_cast<uint64_t>(L),
                    static_cast<uint64_t>(c.task == "c4_copy" ? 1 : c.task == "phone_book" ? 2 : 3)};
  pt::Rng rng(seq);
  LengthSet s;
  const int64_t n = c.num_batches * c.batch_size;
  if (c.task == "c4_copy") {
    for (int64_t i = 0; i < n; ++i)
      s.examples.push_back(pt::c4_copy_example(pt::c4_copy_text(d.c4_pool, tok, L, c.text_order == "random", rng)));
  } else if (c.task == "phone_book") {
    for (int64_t i = 0; i < n; ++i) s.examples.push_back(pt::phone_book_sample(pt::make_phone_book(d.names, L, rng), rng));
  } else {
    auto b = pt::squad_bucket(d.squad, squad_tokens, prev_L, L, c.squad_max, rng);
    s.examples = std::move(b.items);
    s.info = {{"bucket_lo_exclusive", b.lo}, {"bucket_hi", b.hi}, {"paragraphs_in_bucket", b.n_in_range},
              {"paragraphs_skipped_unanswerable", b.n_unanswerable}};
    if (static_cast<int64_t>(s.examples.size()) < c.squad_min)
      s.info["warning"] = "only " + std::to_string(s.examples.size()) + " usable paragraphs in (" + std::to_string(b.lo) +
                          ", " + std::to_string(b.hi) + "] tokens (fewer than " + std::to_string(c.squad_min) + ")";
  }
  return s;
}

int64_t budget(const std::string& task, int64_t prompt_tokens) {
  if (task == "c4_copy") return pt::c4_copy_budget(prompt_tokens);
  return task == "phone_book" ? pt::kPhoneBookBudget : pt::kSquadBudget;
}
std::string cut(const std::string& task, const std::string& generated) {
  if (task == "c4_copy") return pt::c4_copy_cut(generated);
  return task == "phone_book" ? pt::phone_book_cut(generated) : pt::squad_cut(generated);
}

// The prompts of one length, generated greedily in batches of --eval-batch-size (one models::generate
// call each: left-padded, cached, a row stops at its task's stop string or EOS), each row cut to its
// own budget and by its task's rule, then scored. on_failure sees every prompt scored below 1;
// progress (prompts done, rows of this batch) follows each batch.
struct Scores {
  double correct = 0, f1_sum = 0, gen_s = 0;
  int64_t gen_tokens = 0;
};
Scores generate_and_score(const Config& c, hf::Pretrained& p, const std::vector<pt::Example>& examples,
                          const std::vector<std::vector<int64_t>>& ids, pt::Normalization norm,
                          const std::function<void(const pt::Example&, const std::string&, const std::string&)>& on_failure,
                          const std::function<void(int64_t, int64_t)>& progress) {
  const hf::Tokenizer& tok = *p.tokenizer;
  models::GenerationOptions go;
  go.stop_strings = {c.task == "phone_book" ? "\n" : "\n\n"};
  go.decode = [&tok](const std::vector<int64_t>& t) {  // the newest tokens are enough to see a stop string
    const size_t k = std::min<size_t>(t.size(), 4);
    return tok.decode(std::vector<int64_t>(t.end() - static_cast<std::ptrdiff_t>(k), t.end()));
  };
  if (p.config.eos_token_id >= 0) go.eos_token_ids = {p.config.eos_token_id};
  Scores sc;
  const auto n = static_cast<int64_t>(examples.size());
  for (int64_t b0 = 0; b0 < n; b0 += c.batch_size) {
    const int64_t b1 = std::min(n, b0 + c.batch_size);
    const std::vector<std::vector<int64_t>> batch(ids.begin() + b0, ids.begin() + b1);
    go.max_new_tokens = 0;
    for (const auto& row : batch) go.max_new_tokens = std::max(go.max_new_tokens, budget(c.task, static_cast<int64_t>(row.size())));
    ssmlab::Stopwatch sw;
    models::GenerationResult res;
    {
      torch::NoGradGuard ng;
      res = models::generate(*p.model, batch, go);
    }
    sc.gen_s += sw.seconds();
    for (size_t r = 0; r < batch.size(); ++r) {
      auto out = res.tokens[r];
      sc.gen_tokens += static_cast<int64_t>(out.size());
      const auto own = static_cast<size_t>(budget(c.task, static_cast<int64_t>(batch[r].size())));
      if (out.size() > own) out.resize(own);
      const pt::Example& ex = examples[static_cast<size_t>(b0) + r];
      const std::string got = cut(c.task, tok.decode(out));
      double score = got == ex.answers[0] ? 1.0 : 0.0;
      if (c.task == "squad") {
        score = pt::max_exact_match(got, ex.answers, norm);
        sc.f1_sum += pt::max_f1(got, ex.answers, norm);
      }
      sc.correct += score;
      if (score < 1) on_failure(ex, got, res.finish_reason[r]);
    }
    progress(b1, b1 - b0);
  }
  return sc;
}

// Cli options may be given once; --model is repeatable here: every occurrence's values (--model A,
// --model=B, --model C D) are gathered into one --model at the place of the first.
std::vector<std::string> merge_model_flags(int argc, char** argv) {
  std::vector<std::string> out, values;
  std::ptrdiff_t at = -1;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--model" || a.rfind("--model=", 0) == 0) {
      if (at < 0) at = static_cast<std::ptrdiff_t>(out.size());
      if (a != "--model") values.push_back(a.substr(8));
      while (i + 1 < argc && argv[i + 1][0] != '-') values.push_back(argv[++i]);
      continue;
    }
    out.push_back(a);
  }
  if (at >= 0) {
    values.insert(values.begin(), "--model");
    out.insert(out.begin() + at, values.begin(), values.end());
  }
  return out;
}

// The context the checkpoint was trained for: max_position_embeddings (GPT-NeoX; RoPE itself has no
// limit, so the model object reports none) or n_positions (GPT-2); Mamba: none (-1).
int64_t context_limit(const hf::Pretrained& p) {
  if (p.config.arch == hf::Arch::GPTNeoX) return p.config.neox.max_positions;
  if (p.config.arch == hf::Arch::GPT2) return p.config.gpt2.n_positions;
  return p.model->max_positions();
}

// The label of each folder in the records and figures: its name, or, where two folders share a name
// (runs/mamba/best, runs/transformer/best), as many trailing path parts as make the labels differ.
std::vector<std::string> model_labels(const std::vector<std::string>& dirs) {
  auto tail = [](const std::string& dir, int parts) {
    fs::path p(dir);
    if (p.filename().empty()) p = p.parent_path();
    std::vector<std::string> names;
    for (const auto& part : p) names.push_back(part.string());
    std::string out;
    for (size_t i = names.size() > static_cast<size_t>(parts) ? names.size() - parts : 0; i < names.size(); ++i)
      out += (out.empty() ? "" : "/") + names[i];
    return out;
  };
  std::vector<std::string> labels(dirs.size());
  for (size_t i = 0; i < dirs.size(); ++i) {
    for (int parts = 1; parts <= 64; ++parts) {
      labels[i] = tail(dirs[i], parts);
      bool unique = true;
      for (size_t j = 0; j < dirs.size() && unique; ++j)
        unique = j == i || tail(dirs[j], parts) != labels[i] || fs::path(dirs[j]) == fs::path(dirs[i]);
      if (unique) break;
    }
  }
  return labels;
}

}  // namespace

static int ssmlab_main(int argc, char** argv) {
  Config c;
  std::vector<std::string> model_args;
  std::string tokenizer_path, device_spec = "auto", dtype_name = "fp32", data_dir, failures_path;
  int64_t min_len = 0, max_len = 0, step = 1;
  std::vector<int64_t> lens;
  bool allow_unknown = false;
  ssmlab::Cli cli("pretrained_eval",
                  "Copying (c4_copy), phone-book lookup (phone_book) and SQuAD v2 (squad) on pretrained checkpoint "
                  "folders, per input length (Jelassi et al. 2024)",
                  "pretrained", "pretrained.jsonl");
  cli.add("model", &model_args, "checkpoint folder(s): repeatable, or a comma list").nonempty();
  cli.add("tokenizer", &tokenizer_path, "tokenizer.json (or its folder) for folders without one (state-spaces/mamba-*)");
  cli.add("eval-task", &c.task, "c4_copy | phone_book | squad").one_of({"c4_copy", "phone_book", "squad"});
  cli.add("min-eval-len", &min_len, "first length (inclusive) [c4_copy: tokens; phone_book: entries; squad: paragraph tokens]").at_least(0);
  cli.add("max-eval-len", &max_len, "last length (inclusive; 0 = --min-eval-len)").at_least(0);
  cli.add("eval-len-step", &step, "step between lengths").at_least(1);
  cli.add("eval-lens", &lens, "explicit lengths (replace min/max/step)").at_least(1).sorted();
  cli.add("eval-num-batches", &c.num_batches, "batches of prompts per length (c4_copy, phone_book)").at_least(1);
  cli.add("eval-batch-size", &c.batch_size, "prompts per batch, generated together").at_least(1);
  cli.add("text-order", &c.text_order, "c4_copy: standard, or random (token ids shuffled, as the original)").one_of({"standard", "random"});
  cli.add("squad-normalization", &c.normalization, "EM/F1 answer normalisation: official (punctuation removed) | reference (replaced by spaces)").one_of({"official", "reference"});
  cli.add("squad-max-per-bucket", &c.squad_max, "squad: at most this many paragraphs per length bucket").at_least(1);
  cli.add("squad-min-per-bucket", &c.squad_min, "squad: fewer usable paragraphs give a warning in the record").at_least(0);
  cli.add("device", &device_spec, "auto | cpu | cuda | cuda:i");
  cli.add("dtype", &dtype_name, "parameter dtype on the device").one_of({"fp32", "bf16", "fp16"});
  cli.add("data-dir", &data_dir, "data folder with c4/, names/, squad-v2/ (default: $SSMLAB_DATA_DIR)");
  cli.add("failures", &failures_path, "side file (JSONL) for failed examples (default <out>/pretrained/failures.jsonl; 'none' = off)");
  cli.add("max-failures", &c.max_failures, "failed examples kept per (model, task, length)").at_least(0);
  cli.flag("allow-unknown-config", &allow_unknown, "ignore config.json keys ssmlab does not know");
  std::vector<std::string> args = merge_model_flags(argc, argv);
  std::vector<char*> arg_ptrs;
  for (auto& a : args) arg_ptrs.push_back(a.data());
  auto opts = cli.parse_or_exit(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
  ssmlab::init_runtime(opts);  // threads, heap reuse, --quiet (ssmlab/runtime.h)
  at::set_num_threads(opts.threads);
  c.seed = opts.seed;

  // Cross-flag checks (usage errors: exit 2).
  auto usage = [](const std::string& m) {
    std::cerr << "error: " << m << "\n";
    return 2;
  };
  if (c.task.empty()) return usage("--eval-task is required (c4_copy, phone_book or squad)");
  std::vector<std::string> model_dirs;
  for (const auto& a : model_args) {
    std::stringstream ss(a);
    for (std::string m; std::getline(ss, m, ',');)
      if (!m.empty()) model_dirs.push_back(m);
  }
  if (model_dirs.empty()) return usage("--model names no folder");
  if (c.squad_min > c.squad_max)
    return usage("--squad-min-per-bucket (" + std::to_string(c.squad_min) + ") > --squad-max-per-bucket (" +
                 std::to_string(c.squad_max) + "): every bucket would be flagged");
  const bool step_given = lens.empty();
  if (lens.empty()) {
    if (min_len < 1) return usage("give --min-eval-len (and --max-eval-len, --eval-len-step) or --eval-lens");
    if (max_len == 0) max_len = min_len;
    if (min_len > max_len)
      return usage("--min-eval-len (" + std::to_string(min_len) + ") > --max-eval-len (" + std::to_string(max_len) + ")");
    for (int64_t L = min_len; L <= max_len; L += step) lens.push_back(L);
  } else if (min_len > 0 || max_len > 0) {
    return usage("give either --eval-lens or --min-eval-len/--max-eval-len, not both");
  }
  if (c.task == "phone_book" && lens.front() < 3)
    return usage("phone_book needs lengths >= 3 (two examples and a query are distinct entries; got " +
                 std::to_string(lens.front()) + ")");
  if (data_dir.empty())
    if (const char* e = std::getenv("SSMLAB_DATA_DIR")) data_dir = e;
  if (data_dir.empty()) return usage("no data folder: give --data-dir or set SSMLAB_DATA_DIR (source scripts/data-env.sh)");
  if (failures_path.empty()) failures_path = (fs::path(opts.out_dir) / "pretrained" / "failures.jsonl").string();
  torch::Device device(torch::kCPU);
  try {
    device = models::resolve_device(device_spec);
  } catch (const std::exception& e) {
    return usage(e.what());
  }

  TaskData data;
  try {
    data = load_task_data(c.task, data_dir);
  } catch (const pt::DataError& e) {
    return usage(e.what());
  }
  const auto norm = c.normalization == "official" ? pt::Normalization::Official : pt::Normalization::Reference;

  ssmlab::RunLog run(opts, "pretrained_eval");
  run.add_param("data_files", data.files);
  run.add_param("device_resolved", device.str());
  run.add_param("lengths", lens);
  ssmlab::progress(opts, c.task + ": " + std::to_string(model_dirs.size()) + " model(s) x " + std::to_string(lens.size()) +
                             " length(s), data " + data_dir);

  double total_units = 0;
  for (auto L : lens) total_units += static_cast<double>(L);
  total_units *= static_cast<double>(model_dirs.size());
  ssmlab::ProgressMeter meter("pretrained_eval", total_units);
  double done_units = 0;
  int64_t n_records = 0, n_skipped = 0, n_prompts_all = 0, n_tokens_all = 0;
  double gen_s_all = 0, acc_sum = 0;

  const std::vector<std::string> labels = model_labels(model_dirs);
  for (size_t model_i = 0; model_i < model_dirs.size(); ++model_i) {
    const std::string& dir = model_dirs[model_i];
    hf::Pretrained p;
    try {
      p = hf::load_pretrained(dir, hf::text_tool_load_options(device, dtype_name, tokenizer_path, allow_unknown));
    } catch (const std::exception& e) {
      std::cerr << "error: " << dir << ": " << e.what() << "\n";
      return 1;
    }
    p.model->eval();
    const hf::Tokenizer& tok = *p.tokenizer;
    const std::string& label = labels[model_i];
    const int64_t max_pos = context_limit(p);
    ssmlab::progress(opts, label + ": " + p.config.summary());
    std::vector<int64_t> squad_tokens;
    for (const auto& para : data.squad) squad_tokens.push_back(static_cast<int64_t>(tok.encode(para.context).size()));

    for (size_t li = 0; li < lens.size(); ++li) {
      const int64_t L = lens[li];
      const int64_t prev = li > 0 ? lens[li - 1] : step_given ? std::max<int64_t>(0, L - step) : 0;
      json m = {{"model", label}, {"model_path", dir}, {"arch", hf::arch_name(p.config.arch)}, {"task", c.task},
                {"length", L}, {"max_positions", max_pos}};
      if (c.task == "c4_copy") m["text_order"] = c.text_order;
      if (c.task != "squad") m["prompts_expected"] = c.num_batches * c.batch_size;
      LengthSet set;
      try {
        set = build_examples(c, data, tok, L, prev, squad_tokens);
      } catch (const pt::DataError& e) {
        return usage(e.what());
      }
      m.update(set.info);
      std::vector<std::vector<int64_t>> ids;
      int64_t needed = 0, prompt_tok_sum = 0;
      for (const auto& ex : set.examples) {
        ids.push_back(tok.encode(ex.prompt));
        int64_t ans = 0;
        for (const auto& a : ex.answers) ans = std::max<int64_t>(ans, static_cast<int64_t>(tok.encode(a).size()));
        needed = std::max<int64_t>(needed, static_cast<int64_t>(ids.back().size()) + ans);
        prompt_tok_sum += static_cast<int64_t>(ids.back().size());
      }
      m["needed_positions"] = needed;
      std::string skip;
      if (set.examples.empty()) skip = "empty_bucket";
      else if (max_pos > 0 && needed > max_pos) skip = "context";
      if (!skip.empty()) {
        m["skipped"] = true;
        m["skip_reason"] = skip;
        m["n_prompts"] = static_cast<int64_t>(set.examples.size());
        const std::string why = skip == "context" ? "prompt + answer needs " + std::to_string(needed) +
                                                        " positions, the model has " + std::to_string(max_pos)
                                                  : "no usable paragraph in this bucket";
        std::cerr << "warning: " << label << " " << c.task << " length " << L << " skipped: " << why << "\n";
        run.write(m, label + " " + c.task + " L=" + std::to_string(L) + ": skipped (" + why + ")", true, "eval");
        ++n_skipped;
        done_units += static_cast<double>(L);
        continue;
      }
      if (m.contains("warning")) std::cerr << "warning: " << label << " squad length " << L << ": " << m["warning"].get<std::string>() << "\n";

      int64_t failures = 0;
      const auto n = static_cast<int64_t>(set.examples.size());
      const Scores sc = generate_and_score(
          c, p, set.examples, ids, norm,
          [&](const pt::Example& ex, const std::string& got, const std::string& finish) {
            if (failures_path == "none" || failures++ >= c.max_failures) return;
            const std::string tail = ex.prompt.size() > 300 ? "..." + ex.prompt.substr(ex.prompt.size() - 300) : ex.prompt;
            ssmlab::append_jsonl(failures_path, {{"run_id", run.run_id()}, {"model", label}, {"task", c.task}, {"length", L},
                                                 {"prompt_tail", tail}, {"expected", ex.answers}, {"got", got},
                                                 {"finish_reason", finish}});
          },
          [&](int64_t done, int64_t rows) {
            done_units += static_cast<double>(L) * static_cast<double>(rows) / static_cast<double>(n);
            meter.update(done_units, label + " L=" + std::to_string(L), std::to_string(done) + "/" + std::to_string(n) + " prompts");
          });
      const double correct = sc.correct, f1_sum = sc.f1_sum, gen_s = sc.gen_s;
      const int64_t gen_tokens = sc.gen_tokens;
      const double acc = correct / static_cast<double>(n);
      m["skipped"] = false;
      m["n_prompts"] = n;
      m["accuracy"] = acc;
      if (c.task == "squad") {
        m["em"] = acc;
        m["f1"] = f1_sum / static_cast<double>(n);
        m["normalization"] = pt::normalization_name(norm);
      }
      m["mean_prompt_tokens"] = static_cast<double>(prompt_tok_sum) / static_cast<double>(n);
      m["generated_tokens"] = gen_tokens;
      m["generation_s"] = gen_s;
      m["tokens_per_s"] = gen_s > 0 ? static_cast<double>(gen_tokens) / gen_s : 0.0;
      m["prompts_per_s"] = gen_s > 0 ? static_cast<double>(n) / gen_s : 0.0;
      if (c.task == "c4_copy") m["c4_bad_lines"] = data.c4_bad_lines;
      char line[256];
      std::snprintf(line, sizeof line, "%s %s L=%ld: accuracy %.3f over %ld prompts, %.1f tokens/s", label.c_str(),
                    c.task.c_str(), static_cast<long>(L), acc, static_cast<long>(n), m["tokens_per_s"].get<double>());
      std::string summary = line;
      if (c.task == "squad") summary += " (F1 " + std::to_string(m["f1"].get<double>()) + ", " + c.normalization + " normalisation)";
      run.write(m, summary, true, "eval");
      ++n_records;
      n_prompts_all += n;
      n_tokens_all += gen_tokens;
      gen_s_all += gen_s;
      acc_sum += acc;
    }
  }
  json total = {{"task", c.task},
                {"n_models", static_cast<int64_t>(model_dirs.size())},
                {"n_lengths", static_cast<int64_t>(lens.size())},
                {"n_evaluated", n_records},
                {"n_skipped", n_skipped},
                {"n_prompts", n_prompts_all},
                {"generated_tokens", n_tokens_all},
                {"tokens_per_s", gen_s_all > 0 ? static_cast<double>(n_tokens_all) / gen_s_all : 0.0},
                {"mean_accuracy", n_records > 0 ? acc_sum / static_cast<double>(n_records) : 0.0}};
  if (c.task == "c4_copy") total["c4_documents"] = data.c4_docs, total["c4_eval_documents"] = static_cast<int64_t>(data.c4_pool.size());
  run.write(total,
            c.task + ": " + std::to_string(n_records) + " (model, length) points evaluated, " + std::to_string(n_skipped) +
                " skipped, " + std::to_string(n_prompts_all) + " prompts",
            true);
  return 0;
}

// Exit 2 for a usage or data error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
