// exp3_rank_vs_state_dim — generator rank vs the semiseparable rank of the induced kernel.
#include "ssmlab/main_guard.h"
#include "duality/experiments.h"

static int ssmlab_main(int argc, char** argv) {
  namespace d = ssmlab::duality;
  d::exp3::Params p;
  ssmlab::Cli cli("exp3_rank_vs_state_dim",
                  "For hand-crafted (and --random-n random) decay sets: theoretical generator rank vs the\n"
                  "semiseparable rank max_k rank(M[k:, :k]) and the full rank of the T x T kernel.",
                  "duality", "duality.jsonl");
  cli.add("T-values", &p.T_values, "sequence lengths [steps], increasing").nonempty().sorted().at_least(1);
  cli.add("seeds", &p.seeds, "seeds for B, C (one case per seed)").nonempty();
  cli.add("random-n", &p.random_n, "extra random decay configurations").at_least(0);
  cli.add("rank-tol", &p.rank_tol, "absolute SVD rank tolerance (0 = sigma_max * max(m,n) * eps)").at_least(0.0);
  auto opts = cli.parse_or_exit(argc, argv);
  p.seed = opts.seed;
  return d::guarded_main([&] {
    auto r = d::exp3::run(p);
    d::log_result(opts, r, p.to_json());
    return r.ok ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
