// Gradient-boosted trees for binary classification, through XGBoost's C API. libxgboost is opened on first
// use, never linked, so the commands that do not need it pay nothing for it (nor for the OpenMP runtime it
// brings).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::eval {

// The library opened on first use and the Debian package that installs it.
inline constexpr const char* k_xgboost_library = "libxgboost.so.0";
inline constexpr const char* k_xgboost_package = "libxgboost0";

// A dense row-major matrix of features, (n_rows, n_features); NaN marks a missing value.
struct FeatureMatrix {
  std::span<const float> values;  // n_rows * n_features
  std::size_t n_rows = 0;
  std::size_t n_features = 0;
};

// Training parameters; the defaults are XGBoost's own, apart from the number of rounds and the seed (42, as
// elsewhere in medcode).
struct BoostedTreesParams {
  int n_rounds = 100;
  int max_depth = 6;
  double learning_rate = 0.3;  // XGBoost's eta
  double min_child_weight = 1;
  double subsample = 1;  // share of rows drawn for each tree, in (0, 1]
  std::uint64_t seed = 42;
  int n_threads = 0;  // 0: every core
};

// A binary classifier (objective binary:logistic) of histogram-built trees. The same data, parameters, seed
// and thread count give the same model, byte for byte. Moves, never copies; one thread at a time.
class BoostedTrees {
 public:
  // Trains on `features` with 0/1 `labels` and optional per-row `weights` (empty: all 1). Error(usage) for
  // parameters out of range, Error(bad_input) for labels other than 0 and 1, negative weights or infinite
  // features, Error(internal) for sizes that do not agree or a failure inside XGBoost.
  static BoostedTrees train(const FeatureMatrix& features, std::span<const float> labels,
                            std::span<const float> weights, const BoostedTreesParams& params);
  // A model from the bytes of save(); Error(bad_input) when they are not one. `n_threads` predicts with.
  static BoostedTrees load(std::string_view bytes, int n_threads = 0);

  // The probability of label 1 for each row; Error(bad_input) when the matrix has not n_features() columns.
  std::vector<float> predict(const FeatureMatrix& features) const;
  // The model as XGBoost's JSON model format, for a caller to embed in a file of its own.
  std::string save() const;

  std::size_t n_features() const { return m_n_features; }

 private:
  struct BoosterDeleter {
    void operator()(void* booster) const;
  };
  using BoosterPtr = std::unique_ptr<void, BoosterDeleter>;

  BoostedTrees(BoosterPtr booster, std::size_t n_features, int n_threads);

  BoosterPtr m_booster;
  std::size_t m_n_features = 0;
  int m_n_threads = 0;
};

// Opens libxgboost now rather than at the first train or load, so that a command can stop before doing any
// work; Error(usage) naming the library and the package to install when it cannot be loaded.
void require_xgboost();

// Loads `file` as XGBoost and resolves every function BoostedTrees calls, with the errors of
// require_xgboost(): lets a test name a library that is not there.
void check_xgboost_library(const char* file);

}  // namespace medcode::eval
