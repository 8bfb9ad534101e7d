// exp2b_timevarying_diagonal — time-varying diagonal SSM vs the kernel built from ∏ A_k.
#include "ssmlab/main_guard.h"
#include "duality/experiments.h"

static int ssmlab_main(int argc, char** argv) {
  namespace d = ssmlab::duality;
  d::exp2b::Params p;
  ssmlab::Cli cli("exp2b_timevarying_diagonal",
                  "Per-step A_t (diagonal), B_t, C_t: recurrence versus the causal kernel\n"
                  "M[t,s] = C_t . (prod_{k=s+1..t} A_k * B_s). --mode selective uses Mamba's A_t = exp(dt_t A), B_t = dt_t B_t.",
                  "duality", "duality.jsonl");
  cli.set_default_seed(p.seed);
  cli.add("T", &p.T, "sequence length [steps]").at_least(1);
  cli.add("N", &p.N, "state size [states]").at_least(1);
  cli.add("mode", &p.mode, "parameterisation: random (A_t ~ U(-1,1)) or selective (Mamba)").one_of({"random", "selective"});
  auto opts = cli.parse_or_exit(argc, argv);
  p.seed = opts.seed;
  return d::guarded_main([&] {
    auto r = d::exp2b::run(p);
    d::log_result(opts, r, p.to_json());
    return r.ok ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
