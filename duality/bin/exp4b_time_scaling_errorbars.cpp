// exp4b_time_scaling_errorbars — exp4 over random trials: mean ± 95% CI (Student t), plotted.
#include "ssmlab/main_guard.h"
#include "duality/experiments.h"

static int ssmlab_main(int argc, char** argv) {
  namespace d = ssmlab::duality;
  d::exp4b::Params p;
  ssmlab::Cli cli("exp4b_time_scaling_errorbars",
                  "Several random SSMs per T; mean +- 95% CI (Student t) of recurrence and kernel times.\n"
                  "--plot draws them (default <out>/plots/exp4b_time_scaling.png).",
                  "duality", "duality.jsonl");
  cli.add("T-values", &p.T_values, "sequence lengths [steps], increasing (>= 2 values)").nonempty().sorted().at_least(1);
  cli.add("N", &p.N, "state size [states]").at_least(1);
  cli.add("n-trials", &p.n_trials, "random SSMs per T").at_least(2);
  cli.add("n-repeats", &p.n_repeats, "timed samples per trial (fastest taken)").at_least(1);
  cli.add("min-sample-s", &p.min_sample_s, "each sample loops the call for at least this long [s] (at most 10: a sample is a fastest-of timing, not a soak test)")
      .greater_than(0.0)
      .at_most(10.0);
  cli.flag("end-to-end", &p.end_to_end, "include building the kernel in its time");
  auto opts = cli.parse_or_exit(argc, argv);
  p.seed = opts.seed;
  return d::guarded_main([&] {
    auto r = d::exp4b::run(p);
    d::log_result(opts, r, p.to_json());
    if (opts.plot) d::try_render(d::exp4b::plot(r, opts.plot_file("exp4b_time_scaling.png")));
    return r.ok ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
