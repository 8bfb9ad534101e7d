// exp2_diagonal_equivalence — N-state diagonal SSM = sum of N causal 1-SS heads; Vandermonde rank.
#include "ssmlab/main_guard.h"
#include "duality/experiments.h"

static int ssmlab_main(int argc, char** argv) {
  namespace d = ssmlab::duality;
  d::exp2::Params p;
  ssmlab::Cli cli("exp2_diagonal_equivalence",
                  "Diagonal SSM with decays a_1..a_N versus the sum of N causal heads C_m B_m a_m^(t-s);\n"
                  "also the rank of the Vandermonde generator V[t,m] = a_m^t (= number of distinct decays).",
                  "duality", "duality.jsonl");
  cli.set_default_seed(p.seed);
  cli.add("T", &p.T, "sequence length [steps]").at_least(1);
  cli.add("decays", &p.decays, "diagonal decays a_m, |a_m| <= 1 (N = how many)").nonempty().at_least(-1.0).at_most(1.0);
  cli.add("rank-tol", &p.rank_tol, "absolute SVD rank tolerance (0 = sigma_max * max(m,n) * eps)").at_least(0.0);
  auto opts = cli.parse_or_exit(argc, argv);
  p.seed = opts.seed;
  return d::guarded_main([&] {
    auto r = d::exp2::run(p);
    d::log_result(opts, r, p.to_json());
    return r.ok ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
