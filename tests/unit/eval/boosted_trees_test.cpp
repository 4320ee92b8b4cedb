// Tests of the boosted trees on XGBoost: they learn a separable and an XOR-like problem, take weights and
// missing features, round-trip through their bytes, train the same model twice for one seed, and turn bad
// models, data and parameters (and a missing library) into medcode errors.
#include "medcode/eval/boosted_trees.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "medcode/util/error.h"

namespace medcode::eval {
namespace {

constexpr float k_missing = std::numeric_limits<float>::quiet_NaN();

// Rows of uniform features in [-1, 1] and the labels a rule gives them.
struct Problem {
  std::vector<float> values;
  std::vector<float> labels;
  std::size_t n_features = 0;

  FeatureMatrix features() const { return {values, labels.size(), n_features}; }
};

template <typename Rule>
Problem make_problem(std::size_t n_rows, std::size_t n_features, unsigned seed, Rule rule) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(-1, 1);
  Problem problem;
  problem.n_features = n_features;
  std::vector<float> row(n_features);
  for (std::size_t i = 0; i < n_rows; ++i) {
    for (float& value : row) value = uniform(random);
    problem.values.insert(problem.values.end(), row.begin(), row.end());
    problem.labels.push_back(rule(row) ? 1.0F : 0.0F);
  }
  return problem;
}

bool separable(const std::vector<float>& row) { return row[0] + 0.5F * row[1] > 0.1F; }
bool exclusive_or(const std::vector<float>& row) { return (row[0] > 0) != (row[1] > 0); }

double accuracy(const std::vector<float>& probabilities, const std::vector<float>& labels) {
  std::size_t right = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) right += (probabilities[i] > 0.5F) == (labels[i] == 1);
  return static_cast<double>(right) / static_cast<double>(labels.size());
}

BoostedTreesParams small_params() {
  BoostedTreesParams params;
  params.n_rounds = 40;
  params.max_depth = 3;
  params.n_threads = 2;
  return params;
}

ExitCode code_of(auto&& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.code();
  }
  return ExitCode::ok;
}

TEST(BoostedTrees, LearnsALinearlySeparableProblem) {
  Problem train = make_problem(600, 3, 1, separable);
  Problem test = make_problem(300, 3, 2, separable);
  BoostedTrees model = BoostedTrees::train(train.features(), train.labels, {}, small_params());
  EXPECT_EQ(model.n_features(), 3U);
  std::vector<float> probabilities = model.predict(test.features());
  ASSERT_EQ(probabilities.size(), test.labels.size());
  for (float p : probabilities) {
    EXPECT_GE(p, 0.0F);
    EXPECT_LE(p, 1.0F);
  }
  EXPECT_GE(accuracy(probabilities, test.labels), 0.93);
}

TEST(BoostedTrees, LearnsAnXorLikeProblemNoLinearModelCan) {
  Problem train = make_problem(800, 2, 3, exclusive_or);
  Problem test = make_problem(400, 2, 4, exclusive_or);
  BoostedTrees model = BoostedTrees::train(train.features(), train.labels, {}, small_params());
  EXPECT_GE(accuracy(model.predict(test.features()), test.labels), 0.95);
}

TEST(BoostedTrees, SavedThenLoadedGivesIdenticalPredictions) {
  Problem train = make_problem(500, 4, 5, exclusive_or);
  Problem test = make_problem(200, 4, 6, exclusive_or);
  BoostedTrees model = BoostedTrees::train(train.features(), train.labels, {}, small_params());
  std::string bytes = model.save();
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(bytes.front(), '{') << "the JSON model format";

  BoostedTrees loaded = BoostedTrees::load(bytes, 2);
  EXPECT_EQ(loaded.n_features(), 4U);
  EXPECT_EQ(loaded.predict(test.features()), model.predict(test.features()));
}

TEST(BoostedTrees, TrainsTheSameModelTwiceForOneSeedAndAnotherForAnotherSeed) {
  Problem train = make_problem(500, 5, 7, separable);
  BoostedTreesParams params = small_params();
  params.subsample = 0.7;  // rows are drawn at random: the seed matters
  params.seed = 1234;
  std::string first = BoostedTrees::train(train.features(), train.labels, {}, params).save();
  std::string second = BoostedTrees::train(train.features(), train.labels, {}, params).save();
  EXPECT_EQ(first, second);
  params.seed = 99;
  EXPECT_NE(BoostedTrees::train(train.features(), train.labels, {}, params).save(), first);
}

TEST(BoostedTrees, WeightsTipRowsThatDisagree) {
  // One row ten times over, labelled 1 twice as often as 0: unweighted it leans to 1; with each 0 weighing 5
  // it leans to 0.
  std::vector<float> values(30, 0.5F);
  std::vector<float> labels;
  std::vector<float> weights;
  for (int copy = 0; copy < 10; ++copy) {
    labels.insert(labels.end(), {1, 1, 0});
    weights.insert(weights.end(), {1, 1, 5});
  }
  FeatureMatrix features{values, 30, 1};
  EXPECT_GT(BoostedTrees::train(features, labels, {}, small_params()).predict(features)[0], 0.6F);
  EXPECT_LT(BoostedTrees::train(features, labels, weights, small_params()).predict(features)[0], 0.4F);
}

TEST(BoostedTrees, AcceptsMissingFeaturesAndLearnsFromTheRest) {
  // Every third row has no first feature; the label needs only the second.
  auto rule = [](const std::vector<float>& row) { return row[1] > 0; };
  Problem train = make_problem(600, 2, 8, rule);
  Problem test = make_problem(300, 2, 9, rule);
  for (Problem* problem : {&train, &test})
    for (std::size_t row = 0; row < problem->labels.size(); row += 3) problem->values[row * 2] = k_missing;
  BoostedTrees model = BoostedTrees::train(train.features(), train.labels, {}, small_params());
  std::vector<float> probabilities = model.predict(test.features());
  for (float p : probabilities) EXPECT_TRUE(std::isfinite(p));
  EXPECT_GE(accuracy(probabilities, test.labels), 0.95);

  std::vector<float> nothing_known = {k_missing, k_missing};
  std::vector<float> unknown = model.predict({nothing_known, 1, 2});
  ASSERT_EQ(unknown.size(), 1U);
  EXPECT_TRUE(std::isfinite(unknown[0]));
}

TEST(BoostedTrees, ABufferThatIsNotAModelIsBadInput) {
  Problem train = make_problem(100, 2, 10, separable);
  std::string bytes = BoostedTrees::train(train.features(), train.labels, {}, small_params()).save();
  for (const std::string& corrupt : {std::string("not a model at all"), bytes.substr(0, bytes.size() / 2),
                                     std::string("{}"), std::string(64, '\0'), std::string()}) {
    try {
      BoostedTrees::load(corrupt);
      ADD_FAILURE() << "loaded: " << corrupt.substr(0, 40);
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ExitCode::bad_input) << error.what();
      EXPECT_EQ(std::string(error.what()).find('\n'), std::string::npos) << "one line: " << error.what();
    }
  }
}

TEST(BoostedTrees, AModelTrainedForAnotherObjectiveIsBadInput) {
  Problem train = make_problem(100, 2, 10, separable);
  std::string bytes = BoostedTrees::train(train.features(), train.labels, {}, small_params()).save();
  std::string objective = R"("name":"binary:logistic")";
  std::size_t at = bytes.find(objective);
  ASSERT_NE(at, std::string::npos) << bytes.substr(0, 200);
  bytes.replace(at, objective.size(), R"("name":"reg:squarederror")");
  try {
    BoostedTrees::load(bytes);
    FAIL() << "loaded a regression model";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(error.what()).find("reg:squarederror"), std::string::npos) << error.what();
  }
}

TEST(BoostedTrees, RefusesAMatrixOfAnotherWidthAsBadInput) {
  Problem train = make_problem(100, 3, 11, separable);
  BoostedTrees model = BoostedTrees::train(train.features(), train.labels, {}, small_params());
  std::vector<float> two_columns = {0.1F, 0.2F};
  EXPECT_EQ(code_of([&] { model.predict({two_columns, 1, 2}); }), ExitCode::bad_input);
  EXPECT_TRUE(model.predict({std::span<const float>(), 0, 3}).empty());
}

TEST(BoostedTrees, RefusesBadLabelsWeightsAndFeaturesAsBadInput) {
  Problem train = make_problem(20, 2, 12, separable);
  std::vector<float> labels = train.labels;
  labels[4] = 2;
  EXPECT_EQ(code_of([&] { BoostedTrees::train(train.features(), labels, {}, small_params()); }),
            ExitCode::bad_input);
  std::vector<float> weights(20, 1.0F);
  weights[7] = -1;
  EXPECT_EQ(code_of([&] { BoostedTrees::train(train.features(), train.labels, weights, small_params()); }),
            ExitCode::bad_input);
  Problem infinite = train;
  infinite.values[3] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(code_of([&] { BoostedTrees::train(infinite.features(), train.labels, {}, small_params()); }),
            ExitCode::bad_input);
  EXPECT_EQ(code_of([&] {
              BoostedTrees::train({std::span<const float>(), 0, 2}, {}, {}, small_params());
            }),
            ExitCode::bad_input);
}

TEST(BoostedTrees, RefusesParametersOutOfRangeAsUsageErrors) {
  Problem train = make_problem(20, 2, 13, separable);
  auto code_with = [&](auto change) {
    BoostedTreesParams params = small_params();
    change(params);
    return code_of([&] { BoostedTrees::train(train.features(), train.labels, {}, params); });
  };
  EXPECT_EQ(code_with([](BoostedTreesParams& p) { p.n_rounds = 0; }), ExitCode::usage);
  EXPECT_EQ(code_with([](BoostedTreesParams& p) { p.max_depth = 0; }), ExitCode::usage);
  EXPECT_EQ(code_with([](BoostedTreesParams& p) { p.learning_rate = 0; }), ExitCode::usage);
  EXPECT_EQ(code_with([](BoostedTreesParams& p) { p.subsample = 1.5; }), ExitCode::usage);
  EXPECT_EQ(code_with([](BoostedTreesParams& p) { p.min_child_weight = -1; }), ExitCode::usage);
  EXPECT_EQ(code_with([](BoostedTreesParams& p) { p.n_threads = -2; }), ExitCode::usage);
}

TEST(BoostedTrees, AMissingLibraryIsAUsageErrorNamingItAndItsPackage) {
  try {
    check_xgboost_library("libxgboost-that-is-not-installed.so.0");
    FAIL() << "opened a library that does not exist";
  } catch (const Error& error) {
    std::string message = error.what();
    EXPECT_EQ(error.code(), ExitCode::usage);
    EXPECT_NE(message.find("libxgboost-that-is-not-installed.so.0"), std::string::npos) << message;
    EXPECT_NE(message.find(k_xgboost_package), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_NO_THROW(require_xgboost());
}

}  // namespace
}  // namespace medcode::eval
