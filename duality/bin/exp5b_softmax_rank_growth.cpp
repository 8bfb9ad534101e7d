// exp5b_softmax_rank_growth — exp5 over seeds: rank mean ± std vs T, and the rank gap; two plots.
#include "ssmlab/main_guard.h"
#include <string>

#include "duality/experiments.h"

static int ssmlab_main(int argc, char** argv) {
  namespace d = ssmlab::duality;
  d::exp5b::Params p;
  ssmlab::Cli cli("exp5b_softmax_rank_growth",
                  "exp5 over several seeds. --plot [PATH] draws the rank vs T (default\n"
                  "<out>/plots/exp5b_rank_growth.png) and the rank gap beside it (<PATH stem>_gap.png).",
                  "duality", "duality.jsonl");
  cli.add("T-values", &p.T_values, "sequence lengths [tokens], increasing").nonempty().sorted().at_least(1);
  cli.add("seeds", &p.seeds, "seeds (one random Q, K per seed and T)").nonempty();
  cli.add("d-k", &p.d_k, "query/key dimension [features]").at_least(1);
  cli.add("N", &p.N, "state size of the SSM shown for contrast [states]").at_least(1);
  cli.add("rank-tol", &p.rank_tol, "absolute SVD rank tolerance (0 = sigma_max * max(m,n) * eps)").at_least(0.0);
  auto opts = cli.parse_or_exit(argc, argv);
  p.seed = opts.seed;
  return d::guarded_main([&] {
    auto r = d::exp5b::run(p);
    d::log_result(opts, r, p.to_json());
    if (opts.plot) {
      std::string rank_png = opts.plot_file("exp5b_rank_growth.png");
      std::string stem = rank_png.size() > 4 && rank_png.substr(rank_png.size() - 4) == ".png"
                             ? rank_png.substr(0, rank_png.size() - 4) : rank_png;
      d::try_render(d::exp5b::plot_rank(r, rank_png));
      d::try_render(d::exp5b::plot_gap(r, stem + "_gap.png"));
    }
    return r.ok ? 0 : 1;
  });
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
