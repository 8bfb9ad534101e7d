// test_kernel_impl.cpp — the names of the one KernelImpl choice (kernels/kernel_impl.h).
#include <gtest/gtest.h>

#include <stdexcept>

#include "kernels/kernel_impl.h"

using namespace ssmlab::kernels;

TEST(KernelImplNames, RoundTripAndRejectUnknown) {
  for (auto impl : {KernelImpl::Auto, KernelImpl::Reference, KernelImpl::CpuFused, KernelImpl::Cuda})
    EXPECT_EQ(kernel_impl_from_string(to_string(impl)), impl);
  EXPECT_THROW(kernel_impl_from_string("fast"), std::invalid_argument);
}

TEST(KernelImplNames, ListMatchesTheEnum) {
  const auto& names = kernel_impl_names();
  ASSERT_EQ(names.size(), 4u);
  for (const auto& n : names) EXPECT_EQ(to_string(kernel_impl_from_string(n)), n);
}
