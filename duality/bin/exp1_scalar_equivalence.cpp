// exp1_scalar_equivalence — scalar SSM recurrence vs the 1-semiseparable kernel M[t,s] = c b a^(t-s).
#include "ssmlab/main_guard.h"
#include "duality/experiments.h"

static int ssmlab_main(int argc, char** argv) {
  namespace d = ssmlab::duality;
  d::exp1::Params p;
  ssmlab::Cli cli("exp1_scalar_equivalence",
                  "Scalar SSM h_t = a h_{t-1} + b x_t, y_t = c h_t versus y = M x with M[t,s] = c b a^(t-s);\n"
                  "reports max |y_rec - y_att| (invariant: < 1e-12 relative to max |y| for |a| <= 1).",
                  "duality", "duality.jsonl");
  cli.set_default_seed(p.seed);
  cli.add("T", &p.T, "sequence length [steps]").at_least(1);
  cli.add("a", &p.a, "scalar decay a [dimensionless]");
  auto opts = cli.parse_or_exit(argc, argv);
  p.seed = opts.seed;
  return d::guarded_main([&] {
    auto r = d::exp1::run(p);
    d::log_result(opts, r, p.to_json());
    return r.ok ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
