// The entry points of libmedcode_torch.so: the model stack on LibTorch behind the interface in stack.h.
#include "medcode/model/predictor.h"
#include "medcode/model/stack.h"
#include "medcode/model/trainer.h"
#include "medcode/version.h"

namespace medcode::model {

namespace {

class TorchModelStack final : public ModelStack {
 public:
  TrainSummary train(store::Database& db, std::int64_t run_id, const TrainOptions& options,
                     const TrainProgressCallback& progress) override {
    return model::train(db, run_id, options, progress);
  }
  std::unique_ptr<CodePredictor> open_predictor(store::Database& db, const PredictOptions& options) override {
    return std::make_unique<Predictor>(db, options);
  }
  std::string resolve_device(const std::string& requested) override {
    return model::resolve_device(requested);
  }
};

}  // namespace

}  // namespace medcode::model

extern "C" {

__attribute__((visibility("default"))) int medcode_model_stack_abi(void) {
  return medcode::model::k_model_stack_abi;
}

__attribute__((visibility("default"))) const char* medcode_model_stack_version(void) {
  return medcode::k_version;
}

__attribute__((visibility("default"))) medcode::model::ModelStack* medcode_model_stack(void) {
  static medcode::model::TorchModelStack stack;
  return &stack;
}

}  // extern "C"
