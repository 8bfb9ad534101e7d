// stats.cpp — see stats.h. The t quantile inverts the CDF, written through the regularized
// incomplete beta function (Numerical Recipes' continued fraction), by bisection.
#include "ssmlab/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace ssmlab::stats {

double mean(const std::vector<double>& x) {
  if (x.empty()) return std::numeric_limits<double>::quiet_NaN();
  return std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(x.size());
}

double sample_std(const std::vector<double>& x) {
  if (x.size() < 2) return 0.0;
  double m = mean(x), s = 0;
  for (double v : x) s += (v - m) * (v - m);
  return std::sqrt(s / static_cast<double>(x.size() - 1));
}

double median(std::vector<double> x) {
  if (x.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(x.begin(), x.end());
  size_t n = x.size();
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

namespace {
// Continued fraction for the incomplete beta function.
double betacf(double a, double b, double x) {
  const int kMaxIt = 300;
  const double kEps = 1e-15, kFpMin = 1e-300;
  double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kFpMin) d = kFpMin;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= kMaxIt; ++m) {
    int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d; if (std::fabs(d) < kFpMin) d = kFpMin;
    c = 1 + aa / c; if (std::fabs(c) < kFpMin) c = kFpMin;
    d = 1 / d; h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d; if (std::fabs(d) < kFpMin) d = kFpMin;
    c = 1 + aa / c; if (std::fabs(c) < kFpMin) c = kFpMin;
    d = 1 / d;
    double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < kEps) break;
  }
  return h;
}
// Regularized incomplete beta I_x(a, b).
double betai(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  double bt = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log(1 - x));
  if (x < (a + 1) / (a + b + 2)) return bt * betacf(a, b, x) / a;
  return 1 - bt * betacf(b, a, 1 - x) / b;
}
double student_t_cdf(double t, double df) {
  double x = df / (df + t * t);
  double tail = 0.5 * betai(df / 2, 0.5, x);  // P(T > |t|)
  return t >= 0 ? 1 - tail : tail;
}
}  // namespace

double student_t_quantile(double q, double df) {
  if (!(q > 0 && q < 1)) throw std::invalid_argument("student_t_quantile: q must be in (0,1)");
  if (!(df >= 1)) throw std::invalid_argument("student_t_quantile: df must be >= 1");
  if (q < 0.5) return -student_t_quantile(1 - q, df);
  double lo = 0, hi = 1;
  while (student_t_cdf(hi, df) < q) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-13 * std::max(1.0, hi); ++i) {
    double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, df) < q ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double ci95_halfwidth(const std::vector<double>& x) {
  if (x.size() < 2) return 0.0;
  double n = static_cast<double>(x.size());
  return student_t_quantile(0.975, n - 1) * sample_std(x) / std::sqrt(n);
}

Summary summarize(const std::vector<double>& x) {
  Summary s;
  s.n = static_cast<int>(x.size());
  if (x.empty()) return s;
  s.mean = mean(x);
  s.std = sample_std(x);
  s.ci95 = ci95_halfwidth(x);
  s.min = *std::min_element(x.begin(), x.end());
  s.max = *std::max_element(x.begin(), x.end());
  s.median = median(x);
  return s;
}

LinearFit linear_fit(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw std::invalid_argument("linear_fit: x and y differ in length");
  if (x.size() < 2) throw std::invalid_argument("linear_fit: need at least 2 points");
  double mx = mean(x), my = mean(y), sxx = 0, sxy = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0) throw std::invalid_argument("linear_fit: all x are equal");
  LinearFit f;
  f.slope = sxy / sxx;
  f.intercept = my - f.slope * mx;
  f.r2 = syy == 0 ? 1.0 : (sxy * sxy) / (sxx * syy);
  return f;
}

LinearFit loglog_fit(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> lx, ly;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    if (!(x[i] > 0) || !(y[i] > 0)) throw std::invalid_argument("loglog_fit: values must be > 0");
    lx.push_back(std::log(x[i]));
    ly.push_back(std::log(y[i]));
  }
  return linear_fit(lx, ly);
}

}  // namespace ssmlab::stats
