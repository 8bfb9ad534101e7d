// table.cpp — the table of duality experiments (duality/table.h) and the per-experiment main.
#include "duality/table.h"
#include "ssmlab/runtime.h"

#include <stdexcept>

namespace ssmlab::duality {

namespace {

// A row's parameters at their defaults, typed by the experiment's own add_flags and run.
template <class P, void (*AddFlags)(Cli&, P*, const std::string&), ExperimentResult (*Run)(const P&)>
std::unique_ptr<Configured> make() {
  return std::make_unique<ConfiguredParams<P>>(AddFlags, Run);
}

}  // namespace

std::string plot_moved() {
  return "--plot: the duality figures are drawn from the log: plot_logs --spec duality/plots.json --logs LOG --plot-dir DIR";
}

#define SSMLAB_DUALITY_MAKE(ns) make<ns::Params, ns::add_flags, ns::run>

const std::vector<Experiment>& experiments() {
  static const std::vector<Experiment> table = {
      {"exp1", "exp1_scalar_equivalence",
       "Scalar SSM h_t = a h_{t-1} + b x_t, y_t = c h_t versus y = M x with M[t,s] = c b a^(t-s);\n"
       "reports max |y_rec - y_att| (invariant: < 1e-12 relative to max |y| for |a| <= 1).",
       "max_rel_err", SSMLAB_DUALITY_MAKE(exp1)},
      {"exp2", "exp2_diagonal_equivalence",
       "Diagonal SSM with decays a_1..a_N versus the sum of N causal heads C_m B_m a_m^(t-s);\n"
       "also the rank of the Vandermonde generator V[t,m] = a_m^t (= number of distinct decays).",
       "max_rel_err", SSMLAB_DUALITY_MAKE(exp2)},
      {"exp2b", "exp2b_timevarying_diagonal",
       "Per-step A_t (diagonal), B_t, C_t: recurrence versus the causal kernel\n"
       "M[t,s] = C_t . (prod_{k=s+1..t} A_k * B_s). --mode selective uses Mamba's A_t = exp(dt_t A), B_t = dt_t B_t.",
       "max_rel_err", SSMLAB_DUALITY_MAKE(exp2b)},
      {"exp3", "exp3_rank_vs_state_dim",
       "For hand-crafted (and --random-n random) decay sets: theoretical generator rank vs the\n"
       "semiseparable rank max_k rank(M[k:, :k]) and the full rank of the T x T kernel.",
       "n_mismatch", SSMLAB_DUALITY_MAKE(exp3)},
      {"exp3b", "exp3b_rank_vs_state_dim",
       "Sweeps the state size N and seeds (well-spaced decays). Figure (from the log, plot_logs --spec\n"
       "duality/plots.json): exp3b_rank_vs_state_dim.png, rank mean +- std vs N with the y = N reference.",
       "n_rank_ne_N", SSMLAB_DUALITY_MAKE(exp3b)},
      {"exp4", "exp4_time_scaling",
       "Times the diagonal recurrence against multiplying by the T x T kernel (--end-to-end: building\n"
       "it too) and fits log-log exponents (expect ~1 and ~2). Figures (plot_logs --spec duality/plots.json):\n"
       "exp4_time_scaling.png (--end-to-end) and exp4_time_scaling_multiply_only.png, both with the fits.",
       "kernel_exponent", SSMLAB_DUALITY_MAKE(exp4)},
      {"exp4b", "exp4b_time_scaling_errorbars",
       "Several random SSMs per T; mean +- 95% CI (Student t) of recurrence and kernel times.\n"
       "Figure (plot_logs --spec duality/plots.json): exp4b_time_scaling.png.",
       "kernel_exponent", SSMLAB_DUALITY_MAKE(exp4b)},
      {"exp5", "exp5_softmax_rank_growth",
       "Random Q, K (T x d_k); stable causal softmax attention: its full and semiseparable rank per T,\n"
       "next to the semiseparable rank of an N-state SSM kernel of the same length.",
       "softmax_semiseparable_rank_last", SSMLAB_DUALITY_MAKE(exp5)},
      {"exp5b", "exp5b_softmax_rank_growth",
       "exp5 over several seeds. Figures (plot_logs --spec duality/plots.json): the ranks vs T\n"
       "(exp5b_rank_growth.png) and the rank gaps (exp5b_rank_growth_gap.png).",
       "softmax_semiseparable_rank_mean_last", SSMLAB_DUALITY_MAKE(exp5b)},
      {"exp6", "exp6_chunked_ssd",
       "Chunked SSD (quadratic form inside chunks of length Q, state passing between chunks) on a\n"
       "selective time-varying SSM: equals the recurrence and the full kernel (< 1e-12); times all\n"
       "three over T. Figure (plot_logs --spec duality/plots.json): exp6_chunked_ssd.png.",
       "max_rel_err", SSMLAB_DUALITY_MAKE(exp6)},
  };
  return table;
}

#undef SSMLAB_DUALITY_MAKE

const Experiment& find_experiment(const std::string& name_or_program) {
  for (const auto& e : experiments())
    if (e.name == name_or_program || e.program == name_or_program) return e;
  throw std::invalid_argument("no duality experiment named '" + name_or_program + "'");
}

ExperimentResult run_and_record(const CommonOptions& opts, const nlohmann::json& flag_params, const Configured& c) {
  ExperimentResult r = c.run();
  CommonOptions o = opts;
  o.params = flag_params;
  log_result(o, r, c.to_json());
  return r;
}

int experiment_main(const std::string& program, int argc, char** argv) {
  const Experiment& e = find_experiment(program);
  auto c = e.make();
  Cli cli(e.program, e.description, "duality", "duality.jsonl");
  cli.set_default_seed(c->seed());
  c->add_flags(cli, "");
  const CommonOptions opts = cli.parse_or_exit(argc, argv);
  init_runtime(opts);
  c->seed() = opts.seed;
  return guarded_main([&] {
    if (opts.plot) throw std::invalid_argument(plot_moved());
    const ExperimentResult r = run_and_record(opts, opts.params, *c);
    return r.ok ? 0 : 1;
  });
}

}  // namespace ssmlab::duality
