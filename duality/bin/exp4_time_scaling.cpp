// exp4_time_scaling — wall time of the O(T) recurrence vs the O(T²) explicit kernel.
#include "ssmlab/main_guard.h"
#include "duality/experiments.h"

static int ssmlab_main(int argc, char** argv) {
  namespace d = ssmlab::duality;
  d::exp4::Params p;
  ssmlab::Cli cli("exp4_time_scaling",
                  "Times the diagonal recurrence against multiplying by the T x T kernel (--end-to-end: building\n"
                  "it too) and fits log-log exponents (expect ~1 and ~2). --plot draws both with the fits\n"
                  "(default <out>/plots/exp4_time_scaling.png).",
                  "duality", "duality.jsonl");
  cli.add("T-values", &p.T_values, "sequence lengths [steps], increasing (>= 2 values)").nonempty().sorted().at_least(1);
  cli.add("N", &p.N, "state size [states]").at_least(1);
  cli.add("repeats", &p.repeats, "timed samples per T (the fastest is fitted, the median logged too)").at_least(1);
  cli.add("warmups", &p.warmups, "untimed warm-up samples").at_least(0);
  cli.add("min-sample-s", &p.min_sample_s, "each sample loops the call for at least this long [s] (at most 10: a sample is a fastest-of timing, not a soak test)")
      .greater_than(0.0)
      .at_most(10.0);
  cli.flag("end-to-end", &p.end_to_end, "include building the kernel in its time");
  auto opts = cli.parse_or_exit(argc, argv);
  p.seed = opts.seed;
  return d::guarded_main([&] {
    auto r = d::exp4::run(p);
    d::log_result(opts, r, p.to_json());
    if (opts.plot) d::try_render(d::exp4::plot(r, opts.plot_file("exp4_time_scaling.png")));
    return r.ok ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
