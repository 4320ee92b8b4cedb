// Boosted trees through XGBoost's C API (https://xgboost.readthedocs.io/en/stable/c.html), opened with dlopen
// on first use. The few functions called are declared here, so that only the runtime library is needed; where
// the development header is installed the declarations are checked against it.
#include "medcode/eval/boosted_trees.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "medcode/model/threads.h"
#include "medcode/util/error.h"

#if __has_include(<xgboost/c_api.h>)
#include <xgboost/c_api.h>
#define MEDCODE_HAVE_XGBOOST_HEADER 1
#endif

namespace medcode::eval {

namespace {

using DMatrixHandle = void*;
using BoosterHandle = void*;
using bst_ulong = std::uint64_t;  // the C API's name for its sizes

constexpr const char* k_objective = "binary:logistic";

// The entry points BoostedTrees calls. Each returns 0 on success and -1 on failure, with the reason in
// XGBGetLastError (thread-local).
struct Api {
  const char* (*get_last_error)() = nullptr;
  int (*dmatrix_create_from_mat_omp)(const float* data, bst_ulong n_rows, bst_ulong n_columns, float missing,
                                     DMatrixHandle* out, int n_threads) = nullptr;
  int (*dmatrix_set_float_info)(DMatrixHandle matrix, const char* field, const float* values,
                                bst_ulong length) = nullptr;
  int (*dmatrix_free)(DMatrixHandle matrix) = nullptr;
  int (*booster_create)(const DMatrixHandle cached[], bst_ulong n_cached, BoosterHandle* out) = nullptr;
  int (*booster_free)(BoosterHandle booster) = nullptr;
  int (*booster_set_param)(BoosterHandle booster, const char* name, const char* value) = nullptr;
  int (*booster_update_one_iter)(BoosterHandle booster, int iteration, DMatrixHandle train) = nullptr;
  int (*booster_predict_from_dmatrix)(BoosterHandle booster, DMatrixHandle matrix, const char* config,
                                      const bst_ulong** out_shape, bst_ulong* out_n_dims,
                                      const float** out_result) = nullptr;
  int (*booster_save_model_to_buffer)(BoosterHandle booster, const char* config, bst_ulong* out_length,
                                      const char** out_bytes) = nullptr;
  int (*booster_load_model_from_buffer)(BoosterHandle booster, const void* bytes, bst_ulong length) = nullptr;
  int (*booster_get_num_feature)(BoosterHandle booster, bst_ulong* out) = nullptr;
  int (*booster_save_json_config)(BoosterHandle booster, bst_ulong* out_length,
                                  const char** out_json) = nullptr;
};

#ifdef MEDCODE_HAVE_XGBOOST_HEADER
template <typename Ours, typename Theirs>
constexpr bool k_same = std::is_same_v<Ours, Theirs>;
static_assert(k_same<decltype(Api::get_last_error), decltype(&::XGBGetLastError)>);
static_assert(k_same<decltype(Api::dmatrix_create_from_mat_omp), decltype(&::XGDMatrixCreateFromMat_omp)>);
static_assert(k_same<decltype(Api::dmatrix_set_float_info), decltype(&::XGDMatrixSetFloatInfo)>);
static_assert(k_same<decltype(Api::dmatrix_free), decltype(&::XGDMatrixFree)>);
static_assert(k_same<decltype(Api::booster_create), decltype(&::XGBoosterCreate)>);
static_assert(k_same<decltype(Api::booster_free), decltype(&::XGBoosterFree)>);
static_assert(k_same<decltype(Api::booster_set_param), decltype(&::XGBoosterSetParam)>);
static_assert(k_same<decltype(Api::booster_update_one_iter), decltype(&::XGBoosterUpdateOneIter)>);
static_assert(k_same<decltype(Api::booster_predict_from_dmatrix), decltype(&::XGBoosterPredictFromDMatrix)>);
static_assert(k_same<decltype(Api::booster_save_model_to_buffer), decltype(&::XGBoosterSaveModelToBuffer)>);
static_assert(
    k_same<decltype(Api::booster_load_model_from_buffer), decltype(&::XGBoosterLoadModelFromBuffer)>);
static_assert(k_same<decltype(Api::booster_get_num_feature), decltype(&::XGBoosterGetNumFeature)>);
static_assert(k_same<decltype(Api::booster_save_json_config), decltype(&::XGBoosterSaveJsonConfig)>);
#endif

template <typename Function>
void resolve(void* library, const char* file, const char* name, Function& function) {
  function = reinterpret_cast<Function>(dlsym(library, name));
  if (!function)
    fail(ExitCode::usage, "{} lacks {} (XGBoost 1.7 or newer is needed); install the Debian package {}", file,
         name, k_xgboost_package);
}

Api open_xgboost(const char* file) {
  // XGBoost brings libgomp, which reads its wait policy only when loaded: idle workers must be asked to sleep
  // now, or spinning threads slow everything else down on a busy machine.
  model::prefer_passive_waiting();
  // RTLD_LOCAL: its OpenMP runtime and dmlc stay out of the global scope. Never closed: OpenMP worker threads
  // it started may outlive any owner we could name.
  void* library = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char* reason = dlerror();
    fail(ExitCode::usage, "cannot load {} ({}); install the Debian package {}", file,
         reason ? reason : "not found", k_xgboost_package);
  }
  Api api;
  resolve(library, file, "XGBGetLastError", api.get_last_error);
  resolve(library, file, "XGDMatrixCreateFromMat_omp", api.dmatrix_create_from_mat_omp);
  resolve(library, file, "XGDMatrixSetFloatInfo", api.dmatrix_set_float_info);
  resolve(library, file, "XGDMatrixFree", api.dmatrix_free);
  resolve(library, file, "XGBoosterCreate", api.booster_create);
  resolve(library, file, "XGBoosterFree", api.booster_free);
  resolve(library, file, "XGBoosterSetParam", api.booster_set_param);
  resolve(library, file, "XGBoosterUpdateOneIter", api.booster_update_one_iter);
  resolve(library, file, "XGBoosterPredictFromDMatrix", api.booster_predict_from_dmatrix);
  resolve(library, file, "XGBoosterSaveModelToBuffer", api.booster_save_model_to_buffer);
  resolve(library, file, "XGBoosterLoadModelFromBuffer", api.booster_load_model_from_buffer);
  resolve(library, file, "XGBoosterGetNumFeature", api.booster_get_num_feature);
  resolve(library, file, "XGBoosterSaveJsonConfig", api.booster_save_json_config);
  return api;
}

const Api& api() {
  static const Api opened = open_xgboost(k_xgboost_library);
  return opened;
}

// XGBoost's reason for the last failure on this thread, on one line and without the time of day it starts
// with: its messages may go on with a stack trace.
std::string last_error() {
  std::string message = api().get_last_error();
  if (auto newline = message.find('\n'); newline != std::string::npos) message.resize(newline);
  if (message.starts_with('[')) {
    if (auto end = message.find("] "); end != std::string::npos && end < 16) message.erase(0, end + 2);
  }
  return message.empty() ? "no reason given" : message;
}

void check(int status, ExitCode code, std::string_view doing) {
  if (status != 0) fail(code, "XGBoost failed to {}: {}", doing, last_error());
}

struct MatrixDeleter {
  void operator()(void* matrix) const { api().dmatrix_free(matrix); }
};
using MatrixPtr = std::unique_ptr<void, MatrixDeleter>;

void check_shape(const FeatureMatrix& features) {
  if (features.n_features == 0) fail(ExitCode::internal, "boosted trees: a feature matrix needs a column");
  if (features.values.size() != features.n_rows * features.n_features)
    fail(ExitCode::internal, "boosted trees: {} values for a ({}, {}) feature matrix", features.values.size(),
         features.n_rows, features.n_features);
  for (std::size_t i = 0; i < features.values.size(); ++i)
    if (std::isinf(features.values[i]))
      fail(ExitCode::bad_input, "boosted trees: feature {} of row {} is infinite", i % features.n_features,
           i / features.n_features);
}

MatrixPtr make_matrix(const FeatureMatrix& features, int n_threads) {
  check_shape(features);
  DMatrixHandle matrix = nullptr;
  check(api().dmatrix_create_from_mat_omp(features.values.data(), features.n_rows, features.n_features,
                                          std::numeric_limits<float>::quiet_NaN(), &matrix, n_threads),
        ExitCode::internal, "build a feature matrix");
  return MatrixPtr(matrix);
}

void check_params(const BoostedTreesParams& params) {
  auto out_of_range = [](const char* name, auto value, const char* range) {
    fail(ExitCode::usage, "boosted trees: {} must be {}, not {}", name, range, value);
  };
  if (params.n_rounds < 1) out_of_range("the number of rounds", params.n_rounds, "at least 1");
  if (params.max_depth < 1) out_of_range("the maximum depth", params.max_depth, "at least 1");
  if (!(params.learning_rate > 0)) out_of_range("the learning rate", params.learning_rate, "above 0");
  if (!(params.min_child_weight >= 0)) out_of_range("min_child_weight", params.min_child_weight, "0 or more");
  if (!(params.subsample > 0 && params.subsample <= 1))
    out_of_range("subsample", params.subsample, "in (0, 1]");
  if (params.n_threads < 0) out_of_range("the number of threads", params.n_threads, "0 or more");
}

void check_labels_and_weights(std::size_t n_rows, std::span<const float> labels,
                              std::span<const float> weights) {
  if (labels.size() != n_rows)
    fail(ExitCode::internal, "boosted trees: {} labels for {} rows", labels.size(), n_rows);
  if (!weights.empty() && weights.size() != n_rows)
    fail(ExitCode::internal, "boosted trees: {} weights for {} rows", weights.size(), n_rows);
  for (std::size_t row = 0; row < n_rows; ++row) {
    if (labels[row] != 0 && labels[row] != 1)
      fail(ExitCode::bad_input, "boosted trees: the label of row {} is {}, not 0 or 1", row, labels[row]);
    if (!weights.empty() && !(weights[row] >= 0 && std::isfinite(weights[row])))
      fail(ExitCode::bad_input, "boosted trees: the weight of row {} is {}, not a finite number >= 0", row,
           weights[row]);
  }
}

void set_param(BoosterHandle booster, const char* name, const std::string& value) {
  check(api().booster_set_param(booster, name, value.c_str()), ExitCode::internal,
        fmt::format("set {} to {}", name, value));
}

// Parameters every booster gets, trained or loaded: XGBoost logs nothing of its own (a module never prints;
// failures come back through XGBGetLastError all the same).
void set_common_params(BoosterHandle booster, int n_threads) {
  set_param(booster, "nthread", std::to_string(n_threads));
  set_param(booster, "verbosity", "0");
}

// The objective a booster was trained for, from its configuration
// ({"learner": {"objective": {"name": ...}}}).
std::string objective_of(BoosterHandle booster) {
  bst_ulong length = 0;
  const char* json = nullptr;
  check(api().booster_save_json_config(booster, &length, &json), ExitCode::bad_input,
        "read the model's configuration");
  nlohmann::json config = nlohmann::json::parse(std::string_view(json, length), nullptr, false);
  const nlohmann::json* name = nullptr;
  if (config.is_object()) {
    nlohmann::json::json_pointer pointer("/learner/objective/name");
    if (config.contains(pointer)) name = &config[pointer];
  }
  return name && name->is_string() ? name->get<std::string>() : std::string("unknown");
}

}  // namespace

void BoostedTrees::BoosterDeleter::operator()(void* booster) const { api().booster_free(booster); }

BoostedTrees::BoostedTrees(BoosterPtr booster, std::size_t n_features, int n_threads)
    : m_booster(std::move(booster)), m_n_features(n_features), m_n_threads(n_threads) {}

BoostedTrees BoostedTrees::train(const FeatureMatrix& features, std::span<const float> labels,
                                 std::span<const float> weights, const BoostedTreesParams& params) {
  check_params(params);
  check_labels_and_weights(features.n_rows, labels, weights);
  if (features.n_rows == 0) fail(ExitCode::bad_input, "boosted trees: no rows to train on");
  MatrixPtr train_matrix = make_matrix(features, params.n_threads);
  check(api().dmatrix_set_float_info(train_matrix.get(), "label", labels.data(), labels.size()),
        ExitCode::internal, "set the labels");
  if (!weights.empty())
    check(api().dmatrix_set_float_info(train_matrix.get(), "weight", weights.data(), weights.size()),
          ExitCode::internal, "set the weights");

  DMatrixHandle cached[] = {train_matrix.get()};
  BoosterHandle created = nullptr;
  check(api().booster_create(cached, 1, &created), ExitCode::internal, "create a booster");
  BoosterPtr booster(created);
  set_common_params(created, params.n_threads);
  set_param(created, "objective", k_objective);
  set_param(created, "tree_method", "hist");
  set_param(created, "max_depth", std::to_string(params.max_depth));
  set_param(created, "eta", fmt::format("{}", params.learning_rate));
  set_param(created, "min_child_weight", fmt::format("{}", params.min_child_weight));
  set_param(created, "subsample", fmt::format("{}", params.subsample));
  // XGBoost's seed is a signed 64-bit number: the same bits, read as one.
  set_param(created, "seed", std::to_string(static_cast<std::int64_t>(params.seed)));
  for (int round = 0; round < params.n_rounds; ++round)
    check(api().booster_update_one_iter(created, round, train_matrix.get()), ExitCode::internal,
          fmt::format("train round {}", round + 1));
  return BoostedTrees(std::move(booster), features.n_features, params.n_threads);
}

BoostedTrees BoostedTrees::load(std::string_view bytes, int n_threads) {
  // Only what save() writes: XGBoost's reader of its older binary format trusts the sizes it reads, and on
  // other bytes asks for whatever memory they spell.
  if (!bytes.starts_with('{'))
    fail(ExitCode::bad_input, "boosted trees: the model is not XGBoost's JSON format");
  BoosterHandle created = nullptr;
  check(api().booster_create(nullptr, 0, &created), ExitCode::internal, "create a booster");
  BoosterPtr booster(created);
  check(api().booster_load_model_from_buffer(created, bytes.data(), bytes.size()), ExitCode::bad_input,
        "load a model");
  set_common_params(created, n_threads);
  if (std::string objective = objective_of(created); objective != k_objective)
    fail(ExitCode::bad_input, "boosted trees: the model was trained for {}, not {}", objective, k_objective);
  bst_ulong n_features = 0;
  check(api().booster_get_num_feature(created, &n_features), ExitCode::internal,
        "read the number of features");
  if (n_features == 0) fail(ExitCode::bad_input, "boosted trees: the model has no features");
  return BoostedTrees(std::move(booster), n_features, n_threads);
}

std::vector<float> BoostedTrees::predict(const FeatureMatrix& features) const {
  if (features.n_features != m_n_features)
    fail(ExitCode::bad_input, "boosted trees: the model takes {} features, the matrix has {}", m_n_features,
         features.n_features);
  if (features.n_rows == 0) return {};
  MatrixPtr matrix = make_matrix(features, m_n_threads);
  const bst_ulong* shape = nullptr;
  bst_ulong n_dims = 0;
  const float* result = nullptr;
  constexpr const char* k_config =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false})";
  check(api().booster_predict_from_dmatrix(m_booster.get(), matrix.get(), k_config, &shape, &n_dims, &result),
        ExitCode::internal, "predict");
  bst_ulong n_values = 1;
  for (bst_ulong dim = 0; dim < n_dims; ++dim) n_values *= shape[dim];
  if (n_values != features.n_rows)
    fail(ExitCode::internal, "boosted trees: {} predictions for {} rows", n_values, features.n_rows);
  // The result lives in the booster until its next call: copied out at once.
  return std::vector<float>(result, result + n_values);
}

std::string BoostedTrees::save() const {
  bst_ulong length = 0;
  const char* bytes = nullptr;
  check(api().booster_save_model_to_buffer(m_booster.get(), R"({"format": "json"})", &length, &bytes),
        ExitCode::internal, "save the model");
  return std::string(bytes, length);
}

void require_xgboost() { api(); }

void check_xgboost_library(const char* file) { open_xgboost(file); }

}  // namespace medcode::eval
