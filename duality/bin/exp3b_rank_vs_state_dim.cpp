// exp3b_rank_vs_state_dim — semiseparable rank vs N over seeds (well-spaced decays), plotted.
#include "ssmlab/main_guard.h"
#include "duality/experiments.h"

static int ssmlab_main(int argc, char** argv) {
  namespace d = ssmlab::duality;
  d::exp3b::Params p;
  ssmlab::Cli cli("exp3b_rank_vs_state_dim",
                  "Sweeps the state size N and seeds (well-spaced decays); --plot draws rank mean +- std vs N\n"
                  "with the y = N reference (default <out>/plots/exp3b_rank_vs_state_dim.png).",
                  "duality", "duality.jsonl");
  cli.add("N-values", &p.N_values, "state sizes [states], increasing").nonempty().sorted().at_least(1);
  cli.add("seeds", &p.seeds, "seeds for decay jitter and B, C").nonempty();
  cli.add("T", &p.T, "sequence length [steps] (>= 2 max N)").at_least(2);
  cli.add("rank-tol", &p.rank_tol, "absolute SVD rank tolerance (0 = sigma_max * max(m,n) * eps)").at_least(0.0);
  auto opts = cli.parse_or_exit(argc, argv);
  p.seed = opts.seed;
  return d::guarded_main([&] {
    auto r = d::exp3b::run(p);
    d::log_result(opts, r, p.to_json());
    if (opts.plot) d::try_render(d::exp3b::plot(r, opts.plot_file("exp3b_rank_vs_state_dim.png")));
    return r.ok ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
