// Helpers shared by the model tests: a tiny config, error capture and tensor comparison with a report.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "medcode/model/config.h"
#include "medcode/util/error.h"

namespace medcode::model::testing {

// Small enough that every test runs in milliseconds; GQA with two query heads per kv head.
inline ModelConfig tiny_test_config(bool tied = true) {
  ModelConfig config;
  config.vocab_size = 50;
  config.dim = 16;
  config.n_layers = 2;
  config.n_heads = 4;
  config.n_kv_heads = 2;
  config.hidden_dim = 40;
  config.max_seq_len = 32;
  config.tie_embeddings = tied;
  return config;
}

// The Error a call throws (its code and message), or ExitCode::ok and "" when it throws none.
template <typename Call>
std::pair<ExitCode, std::string> error_of(Call&& call) {
  try {
    call();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  return {ExitCode::ok, ""};
}

inline double max_abs_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

// allclose with |a - b| <= atol + rtol |b|, reporting the largest difference when it fails.
inline ::testing::AssertionResult all_close(const torch::Tensor& actual, const torch::Tensor& expected,
                                            double rtol, double atol) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << "shapes differ: " << actual.sizes() << " vs " << expected.sizes();
  }
  if (actual.to(torch::kDouble).allclose(expected.to(torch::kDouble), rtol, atol)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "largest difference " << max_abs_difference(actual, expected)
                                       << " beyond rtol " << rtol << ", atol " << atol;
}

}  // namespace medcode::model::testing
