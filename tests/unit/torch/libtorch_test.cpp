// Checks that LibTorch (the trainer's tensor library) is found, links and runs on this machine.
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

TEST(LibTorch, MultipliesMatricesOnTheCpu) {
  torch::Tensor a = torch::ones({2, 3});
  torch::Tensor b = torch::full({3, 2}, 2.0);
  torch::Tensor c = torch::matmul(a, b);  // (2, 2), every element 3 * 2
  ASSERT_EQ(c.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_FLOAT_EQ(c[1][1].item<float>(), 6.0F);
}

}  // namespace
