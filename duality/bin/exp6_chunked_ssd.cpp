// exp6_chunked_ssd — Mamba-2 chunked SSD = recurrence = full kernel; timed over T.
#include "ssmlab/main_guard.h"
#include "duality/experiments.h"

static int ssmlab_main(int argc, char** argv) {
  namespace d = ssmlab::duality;
  d::exp6::Params p;
  ssmlab::Cli cli("exp6_chunked_ssd",
                  "Chunked SSD (quadratic form inside chunks of length Q, state passing between chunks) on a\n"
                  "selective time-varying SSM: equals the recurrence and the full kernel (< 1e-12); times all\n"
                  "three over T. --plot draws them (default <out>/plots/exp6_chunked_ssd.png).",
                  "duality", "duality.jsonl");
  cli.add("T-values", &p.T_values, "sequence lengths [steps], increasing").nonempty().sorted().at_least(1);
  cli.add("chunks", &p.chunks, "chunk lengths Q [steps] (need not divide T)").nonempty().at_least(1);
  cli.add("N", &p.N, "state size [states]").at_least(1);
  cli.add("repeats", &p.repeats, "timed samples per point (fastest reported)").at_least(1);
  cli.add("min-sample-s", &p.min_sample_s, "each sample loops the call for at least this long [s] (at most 10: a sample is a fastest-of timing, not a soak test)")
      .greater_than(0.0)
      .at_most(10.0);
  cli.add("max-T-full", &p.max_T_full, "largest T for the O(T^2 N) full kernel [steps]").at_least(1);
  auto opts = cli.parse_or_exit(argc, argv);
  p.seed = opts.seed;
  return d::guarded_main([&] {
    auto r = d::exp6::run(p);
    d::log_result(opts, r, p.to_json());
    if (opts.plot) d::try_render(d::exp6::plot(r, opts.plot_file("exp6_chunked_ssd.png")));
    return r.ok ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
