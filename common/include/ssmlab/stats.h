// stats.h — the small statistics every experiment reports: mean, sample std, 95% CI with the
// Student t quantile, least-squares slope (for log-log scaling exponents).
// Design: plain std::vector<double> in, plain structs out; no allocation beyond a sort copy.
#pragma once

#include <vector>

namespace ssmlab::stats {

double mean(const std::vector<double>& x);
// Sample standard deviation (n-1 in the denominator); 0 for n < 2.
double sample_std(const std::vector<double>& x);
double median(std::vector<double> x);
// Quantile q in (0,1) of Student's t with `df` degrees of freedom (df >= 1), to ~1e-10.
double student_t_quantile(double q, double df);
// Half-width of the two-sided 95% CI of the mean: t_{0.975, n-1} * s / sqrt(n); 0 for n < 2.
double ci95_halfwidth(const std::vector<double>& x);

struct Summary {
  int n = 0;
  double mean = 0, std = 0, ci95 = 0, min = 0, max = 0, median = 0;
};
Summary summarize(const std::vector<double>& x);

struct LinearFit {
  double slope = 0, intercept = 0, r2 = 0;
};
// Ordinary least squares y = slope * x + intercept (needs >= 2 distinct x).
LinearFit linear_fit(const std::vector<double>& x, const std::vector<double>& y);
// Fit on log(x), log(y): the scaling exponent (all values must be > 0).
LinearFit loglog_fit(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace ssmlab::stats
