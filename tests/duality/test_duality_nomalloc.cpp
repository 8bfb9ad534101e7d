// The recurrence, kernel and chunked-SSD hot loops allocate nothing once their buffers exist.
#define EIGEN_RUNTIME_NO_MALLOC
#include <gtest/gtest.h>

#include "duality/recurrence.h"
#include "duality/ssd.h"

namespace d = ssmlab::duality;
using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {
struct NoMalloc {  // disallows heap allocation inside Eigen for its lifetime
  NoMalloc() { Eigen::internal::set_is_malloc_allowed(false); }
  ~NoMalloc() { Eigen::internal::set_is_malloc_allowed(true); }
};
}  // namespace

TEST(DualityNoMalloc, TimeInvariantRecurrenceAndKernel) {
  const int T = 64, N = 8;
  VectorXd a = VectorXd::LinSpaced(N, 0.3, 0.95), B = VectorXd::Random(N), C = VectorXd::Random(N);
  VectorXd x = VectorXd::Random(T), y(T), y2(T), h(N), k(T), p(N);
  MatrixXd M(T, T);
  {
    NoMalloc guard;
    d::diagonal_recurrence(a, B, C, x, y, h);
    d::diagonal_kernel(a, B, C, M, k, p);
    y2.noalias() = M * x;
    d::scalar_recurrence(0.9, 1.0, 2.0, x, y);
    d::scalar_kernel(0.9, 1.0, 2.0, M, k);
  }
  SUCCEED();
}

TEST(DualityNoMalloc, TimeVaryingRecurrenceKernelAndChunkedSsd) {
  const int T = 50, N = 4, Q = 16;
  MatrixXd A = MatrixXd::Random(N, T), B = MatrixXd::Random(N, T), C = MatrixXd::Random(N, T), M(T, T);
  VectorXd x = VectorXd::Random(T), y(T), y2(T), h(N), v(N);
  d::ChunkWorkspace w;
  w.resize(N, Q);
  {
    NoMalloc guard;
    d::timevarying_recurrence(A, B, C, x, y, h);
    d::timevarying_kernel(A, B, C, M, v);
    d::ssd_chunked(A, B, C, x, Q, y2, w);
  }
  EXPECT_LT((y - y2).cwiseAbs().maxCoeff(), 1e-12 * y.cwiseAbs().maxCoeff());
}
