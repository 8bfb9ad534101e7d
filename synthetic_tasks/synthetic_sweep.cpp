// synthetic_sweep — runs synthetic_train for several models and experiments, and redraws the
// paper-style plots from the shared JSONL log each time a run finishes (progressive plotting).
//
// Experiments (Jelassi et al. 2024, Fig. 1 and §4):
//   copy       train and evaluate on copy: (a) accuracy vs training examples at the progress
//              length, (b) string accuracy vs length after training (length generalisation)
//   lookup     prefix_ngram and suffix_ngram: train <= --lookup-max-train, evaluate to --lookup-max-eval
//   duplicate  the copy checkpoint of each model evaluated on duplicate_ngram for each n in
//              --dup-ngrams (no retraining: synthetic_train --resume at its final step)
// Runs go through a small job queue (--jobs at a time, --threads split between them; or --gpus 0,1:
// one run per GPU at a time, each seeing only its GPU through CUDA_VISIBLE_DEVICES); each run's
// output goes to <out>/synthetic_runs/<name>.log and a one-line summary is printed.
#include "ssmlab/main_guard.h"
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "ssmlab/atomic_file.h"
#include "ssmlab/cli.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/plot.h"
#include "ssmlab/stats.h"
#include "ssmlab/timer.h"

extern char** environ;
namespace fs = std::filesystem;
namespace plt = ssmlab::plot;
using nlohmann::json;

namespace {

struct Job {
  std::string name;        // e.g. copy_T_rope
  std::string model, experiment;
  std::vector<std::string> args;
  pid_t pid = -1;
  double started = 0;
  std::string gpu;  // --gpus: the GPU this run sees (CUDA_VISIBLE_DEVICES)
};

// Whether a run's logged params belong to job j: same experiment and model, and the same value for
// each task / n-gram flag the job passed (a lookup sweep runs one model on two tasks, a duplicate
// sweep one model at several n).
bool is_run_of(const nlohmann::json& params, const Job& j) {
  if (params.value("sweep-exp", "") != j.experiment || params.value("model", "") != j.model) return false;
  for (size_t i = 0; i + 1 < j.args.size(); ++i) {
    const std::string& flag = j.args[i];
    if (flag != "--eval-task" && flag != "--n-gram") continue;
    const auto it = params.find(flag.substr(2));
    if (it == params.end()) return false;
    const std::string logged = it->is_string() ? it->get<std::string>() : it->dump();
    if (logged != j.args[i + 1]) return false;
  }
  return true;
}

std::string self_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

double num(const json& j, const char* k, double d = NAN) {
  auto it = j.find(k);
  return it != j.end() && it->is_number() ? it->get<double>() : d;
}
std::string str(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The sweep's records: every synthetic_train record carrying params.tag == tag.
struct Records {
  std::vector<json> evals;    // record "length_eval"
  std::vector<json> steps;    // record "step"
  std::vector<json> results;  // record "result"
};
Records load(const std::string& log, const std::string& tag) {
  Records r;
  if (log.empty() || !fs::exists(log)) return r;
  for (auto& l : ssmlab::read_jsonl(log)) {
    const json& v = l.value;
    if (!v.is_object() || v.value("experiment", "") != "synthetic_train") continue;
    auto p = v.find("params");
    if (p == v.end() || !p->is_object() || p->value("tag", "") != tag) continue;
    auto rec = v.value("record", "result");
    if (rec == "length_eval") r.evals.push_back(v);
    else if (rec == "step") r.steps.push_back(v);
    else if (rec == "result") r.results.push_back(v);
  }
  return r;
}

// The tag of the last synthetic_train record that belongs to a sweep (params.sweep-exp set).
std::string newest_sweep_tag(const std::string& log) {
  std::string tag;
  for (auto& l : ssmlab::read_jsonl(log)) {
    const json& v = l.value;
    if (!v.is_object() || v.value("experiment", "") != "synthetic_train") continue;
    auto p = v.find("params");
    if (p == v.end() || !p->is_object() || !p->contains("sweep-exp")) continue;
    if (auto t = str(*p, "tag"); !t.empty()) tag = t;
  }
  return tag;
}

void render(const plt::PlotSpec& spec, bool quiet) {
  bool any = false;
  for (auto& s : spec.series) any = any || !s.x.empty();
  if (!any) return;
  try {
    plt::render_plot(spec);
    if (!quiet) std::cerr << "[sweep] plot " << spec.output << "\n";
  } catch (const std::exception& e) {
    std::cerr << "warning: plot " << spec.output << " not drawn: " << e.what() << "\n";
  }
}

// Exponential moving average, as the slim reproduction smooths its efficiency curves.
std::vector<double> ema(const std::vector<double>& y, double alpha) {
  std::vector<double> out;
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) out.push_back(s = i == 0 ? y[i] : alpha * y[i] + (1 - alpha) * s);
  return out;
}

struct PlotCtx {
  std::string dir;
  std::vector<std::string> models;
  std::string tag;
  std::string log;
  bool quiet = false;
  double ema_alpha = 1.0;
};

// metrics of length_eval records selected by experiment tag (params.sweep-exp) and model.
std::vector<json> select(const Records& r, const std::string& exp, const std::string& model, bool final_only,
                         const std::string& task = "") {
  std::vector<json> out;
  for (auto& v : r.evals) {
    const json& m = v["metrics"];
    if (v["params"].value("sweep-exp", "") != exp || str(m, "model") != model) continue;
    if (!task.empty() && str(m, "task") != task) continue;
    if (final_only && !m.value("final", false)) continue;
    out.push_back(m);
  }
  return out;
}

// Final string accuracy (± std over evaluation batches) against string length, one series per model.
plt::PlotSpec length_curve(const PlotCtx& c, const Records& r, const std::string& title, const std::string& file,
                           const std::string& exp, const std::string& task = "") {
  plt::PlotSpec s{title, "string length", "string accuracy", c.dir + "/" + file};
  for (auto& m : c.models) {
    plt::Series ser;
    ser.title = m;
    ser.style = plt::Style::ErrorBars;
    std::map<double, std::pair<double, double>> pts;
    for (auto& e : select(r, exp, m, true, task)) pts[num(e, "length")] = {num(e, "string_acc"), num(e, "string_acc_std")};
    for (auto& [x, p] : pts) ser.x.push_back(x), ser.y.push_back(p.first), ser.err.push_back(p.second);
    if (!ser.x.empty()) s.series.push_back(ser);
  }
  return s;
}

// The longest training string of an experiment's runs, as their records say (0 if none).
int max_train_len(const Records& r, const std::string& exp) {
  int n = 0;
  for (const auto* group : {&r.results, &r.evals})
    for (const json& v : *group)
      if (v["params"].value("sweep-exp", "") == exp) n = std::max(n, static_cast<int>(num(v["params"], "max-train-len", 0)));
  return n;
}

void draw_all(const PlotCtx& c) {
  Records r = load(c.log, c.tag);
  // (a) training efficiency: string accuracy at the progress length vs examples seen
  {
    plt::PlotSpec s{"(a) Copying: training efficiency", "training examples", "string accuracy", c.dir + "/synthetic_copy_training_efficiency.png"};
    s.logx = true;
    for (auto& m : c.models) {
      plt::Series ser;
      ser.title = m;
      ser.style = plt::Style::LinesPoints;
      std::map<double, double> pts;
      for (auto& e : select(r, "copy", m, false))
        if (e.value("progress", false) && num(e, "examples_seen") > 0) pts[num(e, "examples_seen")] = num(e, "string_acc");
      std::vector<double> ys;
      for (auto& [x, y] : pts) ser.x.push_back(x), ys.push_back(y);
      ser.y = ema(ys, c.ema_alpha);
      if (!ser.x.empty()) s.series.push_back(ser);
    }
    render(s, c.quiet);
  }
  // (b) length generalisation: final string accuracy vs length
  render(length_curve(c, r, "(b) Copying: length generalisation (trained on lengths <= " + std::to_string(max_train_len(r, "copy")) + ")",
                      "synthetic_copy_length_generalisation.png", "copy"),
         c.quiet);
  // lookup: one plot per key position
  for (std::string task : {"prefix_ngram", "suffix_ngram"})
    render(length_curve(c, r,
                        std::string("Lookup, ") + (task == "prefix_ngram" ? "prefix" : "suffix") +
                            " key (trained on lengths <= " + std::to_string(max_train_len(r, "lookup")) + ")",
                        "synthetic_lookup_" + task + ".png", "lookup", task),
           c.quiet);
  // duplicate n-gram: accuracy vs n (mean over the evaluated lengths)
  {
    plt::PlotSpec s{"Copying with duplicated n-grams", "n (n-gram size)", "string accuracy", c.dir + "/synthetic_duplicate_ngram.png"};
    for (auto& m : c.models) {
      plt::Series ser;
      ser.title = m;
      ser.style = plt::Style::LinesPoints;
      std::map<double, std::vector<double>> pts;
      for (auto& e : select(r, "duplicate", m, true)) pts[num(e, "n_gram")].push_back(num(e, "string_acc"));
      for (auto& [x, ys] : pts) ser.x.push_back(x), ser.y.push_back(ssmlab::stats::mean(ys));
      if (!ser.x.empty()) s.series.push_back(ser);
    }
    render(s, c.quiet);
  }
  // all-models comparison: training loss, accuracy progress, final bars
  {
    plt::PlotSpec loss{"All models (copy): training loss", "step", "masked cross-entropy (nats/token)", c.dir + "/synthetic_all_models_loss.png"};
    loss.logy = true;
    plt::PlotSpec prog{"All models (copy): accuracy during training", "step", "string accuracy (progress length)", c.dir + "/synthetic_all_models_accuracy.png"};
    plt::PlotSpec bars{"All models (copy): final accuracy, in-distribution lengths", "", "accuracy", c.dir + "/synthetic_all_models_final.png"};
    plt::Series bs{"string accuracy", {}, {}, {}, plt::Style::Bars}, bc{"char accuracy (teacher-forced)", {}, {}, {}, plt::Style::Points};
    int i = 0;
    for (auto& m : c.models) {
      plt::Series ls{m, {}, {}, {}, plt::Style::Lines}, ps{m, {}, {}, {}, plt::Style::LinesPoints};
      for (auto& v : r.steps) {
        if (v["params"].value("sweep-exp", "") != "copy" || v["params"].value("model", "") != m) continue;
        double y = num(v["metrics"], "loss");
        if (y > 0) ls.x.push_back(num(v["metrics"], "step")), ls.y.push_back(y);
      }
      std::map<double, double> pp;
      for (auto& e : select(r, "copy", m, false))
        if (e.value("progress", false)) pp[num(e, "step")] = num(e, "string_acc");
      for (auto& [x, y] : pp) ps.x.push_back(x), ps.y.push_back(y);
      if (!ls.x.empty()) loss.series.push_back(ls);
      if (!ps.x.empty()) prog.series.push_back(ps);
      for (auto& v : r.results) {
        if (v["params"].value("sweep-exp", "") != "copy" || v["params"].value("model", "") != m) continue;
        const json& mm = v["metrics"];
        bs.x.push_back(i), bs.y.push_back(num(mm, "id_string_acc", 0));
        bc.x.push_back(i), bc.y.push_back(num(mm, "id_char_acc", 0));
        bars.xtic_labels.push_back(m);
        ++i;
      }
    }
    if (!bs.x.empty()) bars.series = {bs, bc};
    render(loss, c.quiet);
    render(prog, c.quiet);
    render(bars, c.quiet);
  }
}

}  // namespace

static int ssmlab_main(int argc, char** argv) {
  ssmlab::Cli cli("synthetic_sweep",
                  "Runs synthetic_train for several models (copy, lookup, duplicate n-gram) and redraws the\n"
                  "paper-style plots as each run finishes.",
                  "synthetic", "synthetic.jsonl");
  std::vector<std::string> models{"T_rope", "T_nope", "T_alibi", "T_hard_alibi", "mamba", "lstm"};
  std::vector<std::string> experiments{"copy"};
  std::string train_config, train_bin, tag, copy_args, lookup_args;
  std::vector<std::string> lookup_models;
  int jobs = 1, lookup_max_train = 30, lookup_max_eval = 100, lookup_eval_step = 10, lookup_n = 3;
  int dup_len = 0;
  std::vector<int> dup_ngrams{2, 3, 4, 5, 6};
  double ema_alpha = 1.0;
  cli.add("models", &models, "models to run, in order (plots refresh after each)")
      .nonempty()
      .one_of({"T_rope", "T_nope", "T_alibi", "T_hard_alibi", "mamba", "mamba2", "lstm"});
  cli.add("experiments", &experiments, "copy | lookup | duplicate (duplicate needs copy)").nonempty().one_of({"copy", "lookup", "duplicate"});
  cli.add("train-config", &train_config, "preset passed to every synthetic_train run (--config)");
  cli.add("train-bin", &train_bin, "synthetic_train binary (default: beside this one)");
  cli.add("copy-args", &copy_args, "extra synthetic_train flags for copy and duplicate runs, one string: --copy-args=\"--steps 500\"");
  cli.add("lookup-args", &lookup_args, "extra synthetic_train flags for the lookup runs, one string");
  cli.add("lookup-models", &lookup_models, "models for lookup (default: --models)")
      .one_of({"T_rope", "T_nope", "T_alibi", "T_hard_alibi", "mamba", "mamba2", "lstm"});
  cli.add("lookup-max-train", &lookup_max_train, "lookup: longest training string [letters]").at_least(1);
  cli.add("lookup-max-eval", &lookup_max_eval, "lookup: longest evaluated string [letters]").at_least(1);
  cli.add("lookup-eval-step", &lookup_eval_step, "lookup: evaluated length step [letters]").at_least(1);
  cli.add("lookup-n", &lookup_n, "lookup: n-gram size of the key").at_least(1);
  cli.add("dup-ngrams", &dup_ngrams, "duplicate: n values").nonempty().sorted().at_least(1);
  cli.add("dup-len", &dup_len, "duplicate: evaluated string length (0 = the copy run's --max-train-len)").at_least(0);
  cli.add("jobs", &jobs, "runs at a time (--threads is split between them)").at_least(1);
  std::string gpus;
  cli.add("gpus", &gpus, "spread the runs over these GPUs, one run per GPU at a time (e.g. 0,1; sets --jobs to their number)")
      .check([](const std::string& g) -> std::optional<std::string> {
        if (g.empty() || g.find_first_not_of("0123456789,") == std::string::npos) return std::nullopt;
        return "must be a comma-separated list of GPU indices such as 0,1 (got '" + g + "')";
      });
  cli.add("tag", &tag, "label written into every run's params (default: a fresh id); plots use only this tag");
  cli.add("ema", &ema_alpha, "EMA weight of the newest point on the efficiency curve (1 = no smoothing)").greater_than(0.0).at_most(1.0);
  cli.plot_is_folder();
  bool plot_only = false;
  cli.flag("plot-only", &plot_only, "train nothing: redraw the plots from the --log records of --tag (default: the log's newest sweep tag)");
  auto opts = cli.parse_or_exit(argc, argv);
  ssmlab::check_output_dir("out", opts.out_dir);  // synthetic_runs/ and plots/ go there
  auto split = [](const std::string& a) {
    std::vector<std::string> v;
    std::istringstream is(a);
    for (std::string w; is >> w;) v.push_back(w);
    return v;
  };
  const std::vector<std::string> copy_extra = split(copy_args), lookup_extra = split(lookup_args);
  if (lookup_models.empty()) lookup_models = models;
  if (plot_only) {
    if (opts.log_path.empty() || !fs::exists(opts.log_path)) {
      std::cerr << "error: --plot-only redraws from --log, and '" << opts.log_path << "' does not exist\n";
      return 2;
    }
    if (tag.empty()) tag = newest_sweep_tag(opts.log_path);
    if (tag.empty()) {
      std::cerr << "error: --plot-only: " << opts.log_path << " holds no synthetic_sweep runs (no params.sweep-exp)\n";
      return 1;
    }
  }
  if (tag.empty()) tag = "sweep-" + ssmlab::new_run_id().substr(0, 8);
  if (train_bin.empty()) train_bin = self_dir() + "/synthetic_train";
  if (!plot_only && !fs::exists(train_bin)) {  // --plot-only trains nothing
    std::cerr << "error: synthetic_train not found at " << train_bin << " (build it, or pass --train-bin)\n";
    return 2;
  }
  if (std::find(experiments.begin(), experiments.end(), "duplicate") != experiments.end() &&
      std::find(experiments.begin(), experiments.end(), "copy") == experiments.end()) {
    std::cerr << "error: --experiments duplicate evaluates the copy checkpoints: add copy\n";
    return 2;
  }
  ssmlab::RunLog run(opts, "synthetic_sweep");
  const std::string runs_dir = opts.out_dir + "/synthetic_runs", ckpt_dir = runs_dir + "/checkpoints";
  if (!plot_only) fs::create_directories(runs_dir);
  const std::string plots_dir = opts.plot_path.empty() ? opts.out_dir + "/plots" : opts.plot_path;
  fs::create_directories(plots_dir);
  std::vector<std::string> gpu_ids;  // --gpus: one slot per GPU
  for (std::stringstream ss(gpus); ss.good();) {
    std::string g;
    std::getline(ss, g, ',');
    if (!g.empty()) gpu_ids.push_back(g);
  }
  if (!gpu_ids.empty()) jobs = static_cast<int>(gpu_ids.size());
  const int threads_each = std::max(1, opts.threads / jobs);

  auto base_args = [&](const std::string& model, const std::string& exp) {
    std::vector<std::string> a{train_bin};
    if (!train_config.empty()) a.insert(a.end(), {"--config", train_config});
    a.insert(a.end(), {"--model", model, "--tag", tag, "--sweep-exp", exp, "--seed", std::to_string(opts.seed),
                       "--threads", std::to_string(threads_each), "--out", opts.out_dir, "--quiet"});
    a.insert(a.end(), {"--log", opts.log_path.empty() ? std::string("none") : opts.log_path});
    return a;
  };
  // copy runs keep their final checkpoint for the duplicate evaluation
  auto copy_ckpt = [&](const std::string& m) { return ckpt_dir + "/" + tag + "_copy_" + m + ".ckpt"; };
  std::deque<Job> queue;
  std::map<std::string, std::vector<Job>> after_copy;  // model -> jobs waiting for its copy run
  const bool want_dup = std::find(experiments.begin(), experiments.end(), "duplicate") != experiments.end();
  for (auto& exp : experiments) {
    if (exp == "copy")
      for (auto& m : models) {
        Job j{"copy_" + m, m, "copy", base_args(m, "copy")};
        j.args.insert(j.args.end(), {"--train-task", "copy", "--eval-task", "copy"});
        if (want_dup) j.args.insert(j.args.end(), {"--checkpoint", copy_ckpt(m)});
        j.args.insert(j.args.end(), copy_extra.begin(), copy_extra.end());
        queue.push_back(j);
      }
    if (exp == "lookup")
      for (std::string task : {"suffix_ngram", "prefix_ngram"})
        for (auto& m : lookup_models) {
          Job j{"lookup_" + task + "_" + m, m, "lookup", base_args(m, "lookup")};
          j.args.insert(j.args.end(), {"--train-task", task, "--eval-task", task, "--n-gram", std::to_string(lookup_n),
                                       "--min-train-len", std::to_string(lookup_n + 3), "--max-train-len",
                                       std::to_string(lookup_max_train), "--context-len",
                                       std::to_string(2 * lookup_max_train + 20), "--min-eval-len",
                                       std::to_string(std::min(lookup_max_train, lookup_max_eval)), "--max-eval-len",
                                       std::to_string(lookup_max_eval), "--eval-len-step", std::to_string(lookup_eval_step),
                                       "--progress-len", std::to_string(lookup_max_train)});
          j.args.insert(j.args.end(), lookup_extra.begin(), lookup_extra.end());
          queue.push_back(j);
        }
    if (exp == "duplicate")
      for (auto& m : models)
        for (int n : dup_ngrams) {
          Job j{"duplicate_n" + std::to_string(n) + "_" + m, m, "duplicate", base_args(m, "duplicate")};
          j.args.insert(j.args.end(), {"--train-task", "copy", "--eval-task", "duplicate_ngram", "--n-gram", std::to_string(n),
                                       "--checkpoint", copy_ckpt(m), "--resume", "--eval-only"});
          if (dup_len > 0)
            j.args.insert(j.args.end(), {"--min-eval-len", std::to_string(dup_len), "--max-eval-len", std::to_string(dup_len)});
          else
            j.args.insert(j.args.end(), {"--eval-at-max-train"});
          // the copy run's model and training flags, without its evaluation range
          for (size_t i = 0; i < copy_extra.size(); ++i) {
            const std::string& a = copy_extra[i];
            bool drop = false;
            for (std::string f : {"--min-eval-len", "--max-eval-len", "--eval-len-step", "--eval-task", "--n-gram"}) {
              if (a == f) drop = true, ++i;  // "--flag value": skip the value too
              else if (a.rfind(f + "=", 0) == 0) drop = true;
            }
            if (!drop) j.args.push_back(a);
          }
          after_copy[m].push_back(j);
        }
  }

  PlotCtx pc;
  pc.dir = plots_dir;
  pc.models = models;
  for (auto& m : lookup_models)
    if (std::find(pc.models.begin(), pc.models.end(), m) == pc.models.end()) pc.models.push_back(m);
  pc.tag = tag;
  pc.log = opts.log_path;
  pc.quiet = opts.quiet;
  pc.ema_alpha = ema_alpha;
  if (plot_only) {
    draw_all(pc);
    if (!opts.quiet) std::cerr << "[sweep] plots of tag " << tag << " redrawn in " << plots_dir << "\n";
    return 0;
  }
  ssmlab::progress(opts, "[sweep] tag " + tag + ": " + std::to_string(queue.size()) + " runs queued, " +
                             std::to_string(jobs) + " at a time, " + std::to_string(threads_each) + " thread(s) each");
  ssmlab::Stopwatch clock;
  std::map<pid_t, Job> running;
  int failed = 0, done = 0;
  json runs = json::array();
  while (!queue.empty() || !running.empty()) {
    while (!queue.empty() && static_cast<int>(running.size()) < jobs) {
      Job j = queue.front();
      queue.pop_front();
      const std::string logf = runs_dir + "/" + tag + "_" + j.name + ".log";
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_addopen(&fa, 1, logf.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      posix_spawn_file_actions_adddup2(&fa, 1, 2);
      std::vector<char*> av;
      for (auto& s : j.args) av.push_back(const_cast<char*>(s.c_str()));
      av.push_back(nullptr);
      // --gpus: the first GPU no running job holds; the run sees only it
      std::vector<std::string> env_store;
      std::vector<char*> envp;
      if (!gpu_ids.empty()) {
        for (const auto& g : gpu_ids)
          if (std::none_of(running.begin(), running.end(), [&](const auto& r) { return r.second.gpu == g; })) {
            j.gpu = g;
            break;
          }
        for (char** e = environ; *e; ++e)
          if (std::string(*e).rfind("CUDA_VISIBLE_DEVICES=", 0) != 0) env_store.emplace_back(*e);
        env_store.push_back("CUDA_VISIBLE_DEVICES=" + j.gpu);
        for (auto& e : env_store) envp.push_back(e.data());
        envp.push_back(nullptr);
      }
      pid_t pid;
      int rc = posix_spawn(&pid, av[0], &fa, nullptr, av.data(), gpu_ids.empty() ? environ : envp.data());
      posix_spawn_file_actions_destroy(&fa);
      if (rc != 0) {
        std::cerr << "error: cannot start " << av[0] << "\n";
        return 1;
      }
      j.pid = pid;
      j.started = clock.seconds();
      running[pid] = j;
      ssmlab::progress(opts, "[sweep] start " + j.name + (j.gpu.empty() ? "" : " on GPU " + j.gpu));
    }
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) break;
    auto it = running.find(pid);
    if (it == running.end()) continue;
    Job j = it->second;
    running.erase(it);
    const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    ++done;
    const double dt = clock.seconds() - j.started;
    // the run's result line (its summary) from the log
    std::string summary;
    Records r = load(opts.log_path, tag);
    for (auto& v : r.results)
      if (is_run_of(v["params"], j)) summary = v.value("summary", "");
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.0f s", dt);
    std::cout << "[sweep] " << j.name << (rc == 0 ? " done" : " FAILED (exit " + std::to_string(rc) + ")") << " in " << buf
              << (summary.empty() ? "" : ": " + summary) << std::endl;
    if (rc != 0) {
      ++failed;
      std::cerr << "[sweep] see " << runs_dir + "/" + tag + "_" + j.name + ".log" << "\n";
    }
    runs.push_back({{"name", j.name}, {"exit", rc}, {"wall_s", dt}});
    if (j.experiment == "copy" && after_copy.count(j.model)) {
      if (rc == 0)
        for (auto& d : after_copy[j.model]) queue.push_front(d);
      after_copy.erase(j.model);
    }
    draw_all(pc);  // progressive: every finished run refreshes every plot
  }
  json m{{"runs", static_cast<int>(runs.size())}, {"failed", failed}, {"tag", tag}, {"wall_s", clock.seconds()},
         {"jobs", jobs}, {"detail", runs}};
  run.write(m, "synthetic_sweep " + tag + ": " + std::to_string(runs.size()) + " runs, " + std::to_string(failed) +
                   " failed, " + std::to_string(static_cast<int>(clock.seconds())) + " s; plots in " + plots_dir,
            failed == 0);
  return failed == 0 ? 0 : 1;
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
