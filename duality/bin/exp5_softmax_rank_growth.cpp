// exp5_softmax_rank_growth — causal softmax attention's rank grows with T; the SSM's stays at N.
#include "ssmlab/main_guard.h"
#include "duality/experiments.h"

static int ssmlab_main(int argc, char** argv) {
  namespace d = ssmlab::duality;
  d::exp5::Params p;
  ssmlab::Cli cli("exp5_softmax_rank_growth",
                  "Random Q, K (T x d_k); stable causal softmax attention: its full and semiseparable rank per T,\n"
                  "next to the semiseparable rank of an N-state SSM kernel of the same length.",
                  "duality", "duality.jsonl");
  cli.add("T-values", &p.T_values, "sequence lengths [tokens], increasing").nonempty().sorted().at_least(1);
  cli.add("d-k", &p.d_k, "query/key dimension [features]").at_least(1);
  cli.add("N", &p.N, "state size of the SSM shown for contrast [states]").at_least(1);
  cli.add("rank-tol", &p.rank_tol, "absolute SVD rank tolerance (0 = sigma_max * max(m,n) * eps)").at_least(0.0);
  auto opts = cli.parse_or_exit(argc, argv);
  p.seed = opts.seed;
  return d::guarded_main([&] {
    auto r = d::exp5::run(p);
    d::log_result(opts, r, p.to_json());
    return r.ok ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
