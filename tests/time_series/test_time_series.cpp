// test_time_series.cpp — the mixture-of-decays family: generator, matching, the diagonal
// block's recurrent and kernel forms, decay recovery, and exp_synthetic_ndecay's CLI.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "ssmlab/plot.h"
#include "time_series/baselines.h"
#include "time_series/data.h"
#include "time_series/models.h"
#include "tests/test_support.h"

using namespace ssmlab::time_series;

namespace {

// Runs a shell command; returns (exit code, stdout+stderr).
std::pair<int, std::string> sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, ""};
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}
const std::string kBin = SSMLAB_BIN_DIR;

void expect_close(const torch::Tensor& a, const torch::Tensor& b, double tol, const char* what) {
  double diff = (a - b).abs().max().item<double>();
  double scale = b.abs().max().item<double>();
  std::printf("  %s: max |diff| = %.3e (scale %.3e)\n", what, diff, scale);
  EXPECT_LE(diff, tol * std::max(1.0, scale)) << what;
}

}  // namespace

// ---- data generator ------------------------------------------------------------------------
TEST(TsData, OneDecayByHand) {
  DecayProblem p;
  p.lambdas = {0.5};
  p.coeffs = {2.0};
  // h = 1, 0.5, 0.25, 0.125 + 1 = 1.125;  y = 2 h
  auto y = mixture_response(p, {1, 0, 0, 1});
  std::vector<double> want{2.0, 1.0, 0.5, 2.25};
  for (size_t t = 0; t < want.size(); ++t) EXPECT_DOUBLE_EQ(y[t], want[t]) << "t=" << t;
}

TEST(TsData, TwoDecaysByHand) {
  DecayProblem p;
  p.lambdas = {0.5, 0.25};
  p.coeffs = {1.0, -1.0};
  // x = 1, 2, -1:  h1 = 1, 2.5, 0.25;  h2 = 1, 2.25, -0.4375;  y = h1 - h2 = 0, 0.25, 0.6875
  auto y = mixture_response(p, {1, 2, -1});
  EXPECT_DOUBLE_EQ(y[0], 0.0);
  EXPECT_DOUBLE_EQ(y[1], 0.25);
  EXPECT_DOUBLE_EQ(y[2], 0.6875);
}

TEST(TsData, GenerateIsSeededAndNoiseHasTheRequestedStd) {
  DecayProblem p;  // defaults: λ = 0.9, 0.5; c = 1, 0.7; σ = 1e-4; T = 100
  auto a = generate(p, 50, 7), b = generate(p, 50, 7), c = generate(p, 50, 8);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.y, b.y);
  EXPECT_NE(a.x, c.x);
  // clean target = the recurrence on each row
  std::vector<double> x0(a.x.begin(), a.x.begin() + p.T);
  auto y0 = mixture_response(p, x0);
  for (int t = 0; t < p.T; ++t) EXPECT_DOUBLE_EQ(a.y_clean[t], y0[t]);
  double noise = std::sqrt(mse(a.y, a.y_clean));
  EXPECT_NEAR(noise, 1e-4, 0.05e-4);  // 5000 draws: relative sd ~1%
  EXPECT_NEAR(variance(a.x), 1.0, 0.06);
  auto s = make_split(p, 20, 10, 42);
  EXPECT_EQ(s.train.S, 20);
  EXPECT_EQ(s.val.S, 10);
  EXPECT_NE(std::vector<double>(s.train.x.begin(), s.train.x.begin() + 10),
            std::vector<double>(s.val.x.begin(), s.val.x.begin() + 10));
}

TEST(TsData, Validate) {
  DecayProblem p;
  EXPECT_EQ(validate(p, false), "");
  p.coeffs = {1.0};
  EXPECT_NE(validate(p, false).find("same length"), std::string::npos);
  p.coeffs = {1.0, 0.7};
  p.lambdas = {1.2, 0.5};
  EXPECT_NE(validate(p, false).find("(0, 1)"), std::string::npos);
  EXPECT_EQ(validate(p, true), "");
  p.lambdas = {0.0, 0.5};
  EXPECT_NE(validate(p, false), "");
}

// ---- matching -------------------------------------------------------------------------------
TEST(TsMatch, HungarianEqualsBruteForce) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 200; ++trial) {
    int n = 1 + trial % 4, m = n + (trial / 4) % 3;
    std::vector<double> c(static_cast<size_t>(n) * m);
    for (auto& v : c) v = u(rng);
    auto col = hungarian(c, n, m);
    double got = 0;
    std::set<int> used;
    for (int i = 0; i < n; ++i) { got += c[static_cast<size_t>(i) * m + col[i]]; used.insert(col[i]); }
    EXPECT_EQ(static_cast<int>(used.size()), n);
    std::vector<int> perm(m);
    std::iota(perm.begin(), perm.end(), 0);
    double best = 1e300;
    do {  // first n entries of every permutation cover every injective assignment
      double s = 0;
      for (int i = 0; i < n; ++i) s += c[static_cast<size_t>(i) * m + perm[i]];
      best = std::min(best, s);
    } while (std::next_permutation(perm.begin(), perm.end()));
    EXPECT_NEAR(got, best, 1e-12) << "n=" << n << " m=" << m;
  }
}

TEST(TsMatch, Decays) {
  // N > K: the extra learnt decay (0.3) is left out of the matching
  auto m = match_decays({0.3, 0.52, 0.88}, {0.9, 0.5});
  ASSERT_EQ(m.pairs.size(), 2u);
  EXPECT_NEAR(m.max_rel_err, 0.04, 1e-12);  // 0.52 vs 0.5
  EXPECT_EQ(m.unmatched_true, 0);
  // N < K: one true decay stays unmatched
  auto m1 = match_decays({0.86}, {0.9, 0.5});
  EXPECT_EQ(m1.pairs.size(), 1u);
  EXPECT_EQ(m1.pairs[0].second, 0);
  EXPECT_EQ(m1.unmatched_true, 1);
}

// ---- the diagonal block: recurrent form == kernel form --------------------------------------
struct FormCase {
  int N, T;
  bool selective;
};
class DiagForms : public ::testing::TestWithParam<FormCase> {};

TEST_P(DiagForms, RecurrentEqualsKernel) {
  auto c = GetParam();
  torch::manual_seed(11);
  DiagExpOptions o;
  o.N = c.N;
  o.selective = c.selective;
  MambaDiagExp m(o);
  {
    torch::NoGradGuard ng;  // random parameters away from the initialisation
    m->theta.copy_(torch::randn({c.N}, torch::kFloat64) - 1.0);
    m->B.copy_(torch::randn({c.N}, torch::kFloat64));
    if (c.selective) { m->dt_w.fill_(0.7); m->dt_b.fill_(-0.2); }
  }
  auto x = torch::randn({3, c.T}, torch::kFloat64);
  auto yr = m->forward_recurrent(x), yk = m->forward_kernel(x);
  ASSERT_EQ(yr.sizes(), yk.sizes());
  expect_close(yk, yr, 1e-12, "output");
  // and their gradients
  auto g = [&](bool rec) {
    m->zero_grad();
    auto y = rec ? m->forward_recurrent(x) : m->forward_kernel(x);
    (y * y).sum().backward();
    std::vector<torch::Tensor> gs;
    for (auto& p : m->parameters()) gs.push_back(p.grad().clone());
    return gs;
  };
  auto gr = g(true), gk = g(false);
  for (size_t i = 0; i < gr.size(); ++i) expect_close(gk[i], gr[i], 1e-10, "gradient");
}

INSTANTIATE_TEST_SUITE_P(TimeSeries, DiagForms,
                         ::testing::Values(FormCase{1, 1, false}, FormCase{1, 37, false}, FormCase{4, 100, false},
                                           FormCase{3, 37, true}, FormCase{8, 64, true}, FormCase{1, 1, true}),
                         [](const ::testing::TestParamInfo<FormCase>& i) {
                           return "N" + std::to_string(i.param.N) + "_T" + std::to_string(i.param.T) +
                                  (i.param.selective ? "_selective" : "_lti");
                         });

TEST(LinearRnn, RecurrentEqualsKernel) {
  torch::manual_seed(5);
  LinearRnn m(3);
  auto x = torch::randn({2, 41}, torch::kFloat64);
  expect_close(m->forward(x), m->forward_recurrent(x), 1e-12, "linear_rnn");
  auto d = m->decays(x);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_TRUE(std::is_sorted(d.begin(), d.end()));
}

TEST(DiagBlock, KernelIsTheImpulseResponse) {
  torch::manual_seed(2);
  DiagExpOptions o;
  o.N = 2;
  MambaDiagExp m(o);
  auto x = torch::zeros({1, 6}, torch::kFloat64);
  x[0][0] = 1.0;
  auto y = m->forward_kernel(x);
  auto a = torch::exp(-torch::exp(m->theta)).detach();
  for (int t = 0; t < 6; ++t) {
    double want = (m->C * m->B * torch::pow(a, double(t))).sum().item<double>();
    EXPECT_NEAR(y[0][t].item<double>(), want, 1e-14);
  }
}

// ---- learning: N = 2 recovers the 2 decays ----------------------------------------------------
TEST(Recovery, TwoDecaysWithNEquals2) {
  auto t0 = std::chrono::steady_clock::now();
  at::set_num_threads(2);
  DecayProblem p;  // λ = 0.9, 0.5; c = 1, 0.7; σ = 1e-4; T = 100
  auto s = make_split(p, 64, 32, 42);
  auto T = [&](const std::vector<double>& v, int S) { return torch::tensor(v, torch::kFloat64).view({S, p.T}); };
  torch::manual_seed(42);
  DiagExpOptions o;
  o.N = 2;
  MambaDiagExp m(o);
  TrainOptions to;
  to.epochs = 30;
  auto r = train_regressor(*m, T(s.train.x, 64), T(s.train.y, 64), T(s.val.x, 32), T(s.val.y, 32), to);
  auto d = m->decays(T(s.train.x, 64));
  auto match = match_decays(d, p.lambdas);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("  learnt decays %.5f %.5f, max rel err %.2e, val MSE %.3e (noise %.3e), %.1f s\n", d[0], d[1],
              match.max_rel_err, r.final_val_mse, mse(s.val.y, s.val.y_clean), secs);
  EXPECT_FALSE(r.diverged);
  EXPECT_LE(match.max_rel_err, 0.05);
  EXPECT_LE(r.final_val_mse, 2.0 * mse(s.val.y, s.val.y_clean));
  EXPECT_LT(secs, 30.0);
}

// ---- the binary ---------------------------------------------------------------------------------
TEST(Cli, BadInputExitsWith2) {
  const std::string exe = kBin + "/exp_synthetic_ndecay --log none --quiet ";
  struct Bad {
    std::string args, msg;
  };
  for (const auto& b : std::vector<Bad>{{"--N-values 0", "--N-values"},
                                        {"--N-values 2 1", "--N-values"},
                                        {"--lambdas 0.9 0.5 --coeffs 1.0", "same length"},
                                        {"--lambdas 1.2 0.5", "(0, 1)"},
                                        {"--lambdas 0.9 -0.1", "(0, 1)"},
                                        {"--models nope", "--models"},
                                        {"--noise-std -1", "--noise-std"}}) {
    auto [rc, out] = sh(exe + b.args);
    EXPECT_EQ(rc, 2) << b.args << "\n" << out;
    EXPECT_NE(out.find("error:"), std::string::npos) << b.args << "\n" << out;
    EXPECT_NE(out.find(b.msg), std::string::npos) << b.args << "\n" << out;
  }
}

// Issue 20 renamed the snake-case flags (--N_values, --noise_std, ...) to kebab case; the old
// spellings still work, each with one deprecation line, and --help lists only the new ones.
TEST(Cli, OldSnakeCaseFlagsWarnAndWork) {
  auto [rc, out] = sh(kBin + "/exp_synthetic_ndecay --list_models");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("warning: --list_models is deprecated: use --list-models"), std::string::npos) << out;
  EXPECT_NE(out.find("mamba_diag_exp"), std::string::npos) << out;
  // values reach the run: an old-spelling value that is out of range is refused under its new name
  std::tie(rc, out) = sh(kBin + "/exp_synthetic_ndecay --log none --quiet --N_values 2 1");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("warning: --N_values is deprecated: use --N-values"), std::string::npos) << out;
  EXPECT_NE(out.find("error: --N-values values must be strictly increasing"), std::string::npos) << out;
  std::tie(rc, out) = sh(kBin + "/exp_synthetic_ndecay --log none --quiet --T 20 --N_values 1 --epochs 2 --n_train 8 "
                                "--n_val 4 --noise_std 1e-4 --batch_size 4 --lbfgs_iters 2 --flat_epochs 0 --floor_factor 2 "
                                "--models mamba_diag_exp --threads 1");
  EXPECT_EQ(rc, 0) << out;
  for (const char* old : {"N_values", "n_train", "n_val", "noise_std", "batch_size", "lbfgs_iters", "flat_epochs", "floor_factor"}) {
    std::string kebab = old;
    std::replace(kebab.begin(), kebab.end(), '_', '-');
    EXPECT_NE(out.find(std::string("warning: --") + old + " is deprecated: use --" + kebab + "\n"), std::string::npos) << old << "\n" << out;
  }
  std::tie(rc, out) = sh(kBin + "/exp_synthetic_ndecay --help");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("--N-values"), std::string::npos) << out;
  EXPECT_NE(out.find("--noise-std"), std::string::npos) << out;
  for (const char* old : {"--N_values", "--noise_std", "--n_train", "--n_val", "--batch_size", "--lbfgs_iters", "--flat_epochs",
                          "--floor_factor", "--list_models"})
    EXPECT_EQ(out.find(old), std::string::npos) << old << " is listed in --help:\n" << out;
}

TEST(Cli, AllowUnstableAcceptsLambdaAboveOne) {
  auto [rc, out] = sh(kBin + "/exp_synthetic_ndecay --log none --quiet --lambdas 1.02 0.5 --allow-unstable "
                             "--T 20 --N-values 1 --epochs 2 --n-train 8 --n-val 4 --threads 1");
  EXPECT_TRUE(rc == 0 || rc == 1) << out;  // runs (1 only if training diverged), no usage error
  EXPECT_EQ(out.find("error:"), std::string::npos) << out;
}

TEST(Cli, RunLogsAndPlots) {
  namespace fs = std::filesystem;
  const fs::path dir = ssmlab::test::fresh_temp_dir("ts_test");
  std::string log = (dir / "ts.jsonl").string();
  auto [rc, out] = sh(kBin + "/exp_synthetic_ndecay --quiet --log " + log +
                      " --models mamba_diag_exp linear_rnn --N-values 1 2 --epochs 3 --n-train 16 --n-val 8 --threads 1");
  ASSERT_EQ(rc, 0) << out;
  std::ifstream in(log);
  int epochs = 0, results = 0;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["experiment"], "exp_synthetic_ndecay");
    if (j["record"] == "epoch") ++epochs;
    if (j["record"] == "result") {
      ++results;
      EXPECT_TRUE(j["metrics"].contains("learnt_decays"));
      EXPECT_EQ(j["metrics"]["learnt_decays"].size(), j["metrics"]["N"].get<size_t>());
      EXPECT_TRUE(j["metrics"].contains("decay_max_rel_err"));
      EXPECT_TRUE(j["metrics"].contains("model_wall_s"));
    }
  }
  EXPECT_EQ(results, 4);
  EXPECT_EQ(epochs, 16);  // epochs 0..3 for each of the 4 (model, N)
  auto [rc2, out2] = sh(kBin + "/check_logs " + log);
  std::printf("%s\n", out2.c_str());
  auto [rc3, out3] = sh(kBin + "/plot_logs --spec " + std::string(SSMLAB_SOURCE_DIR) + "/time_series/plots.json --logs " + log +
                        " --plot-dir " + (dir / "plots").string());
  EXPECT_EQ(rc3, 0) << out3;
  if (ssmlab::plot::gnuplot_available()) {
    EXPECT_TRUE(fs::exists(dir / "plots" / "synthetic_decays_val_mse_vs_N.png")) << out3;
    EXPECT_TRUE(fs::exists(dir / "plots" / "synthetic_decays_val_curves_mamba_diag_exp.png")) << out3;
  }
  ssmlab::test::remove_tree(dir);
}

// Issue 15: a diverged (model, N) is a "failed" result saying why and when, and exit 1; an output
// path that cannot be written is exit 2 before any work.
TEST(Cli, DivergedRunIsAFailedResultAndExit1) {
  namespace fs = std::filesystem;
  const fs::path dir = ssmlab::test::fresh_temp_dir("ts_diverge");
  const std::string log = (dir / "ts.jsonl").string();
  auto [rc, out] = sh(kBin + "/exp_synthetic_ndecay --quiet --log " + log +
                      " --optimizer adam --lr 1e30 --N-values 1 --epochs 2 --n-train 16 --n-val 8 --threads 1");
  EXPECT_EQ(rc, 1) << out;
  std::ifstream in(log);
  nlohmann::json last;
  for (std::string line; std::getline(in, line);) last = nlohmann::json::parse(line);
  ASSERT_TRUE(last.is_object());
  EXPECT_EQ(last["record"], "result");
  EXPECT_EQ(last["status"], "failed");
  EXPECT_TRUE(last["metrics"].contains("failed_epoch")) << last.dump();
  EXPECT_NE(last["metrics"].value("error", "").find("diverged"), std::string::npos) << last.dump();
  std::tie(rc, out) = sh(kBin + "/exp_synthetic_ndecay --log /proc/x.jsonl");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("--log '/proc/x.jsonl'"), std::string::npos) << out;
  std::tie(rc, out) = sh(kBin + "/plot_logs --spec " + std::string(SSMLAB_SOURCE_DIR) + "/time_series/plots.json --logs " + log +
                         " --plot-dir /etc/passwd");
  EXPECT_EQ(rc, 2) << out;
  ssmlab::test::remove_tree(dir);
}
