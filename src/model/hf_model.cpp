// Loading a Hugging Face model folder: the folder is inspected first (names, shapes and dtypes from the
// safetensors headers), then each weight file is memory-mapped and its tensors replace the parameters of a
// Transformer built from config.json.
#include "medcode/model/hf_model.h"

#include <fmt/ranges.h>

#include <sys/mman.h>

#include <cstdint>
#include <map>

#include "medcode/model/safetensors.h"
#include "medcode/util/error.h"

namespace medcode::model {

namespace {

// `tensor` on `device` as `dtype`: itself when it is already, else a copy. A copy on the CPU is asked to sit
// on huge pages (where the kernel gives them on request): widening a 1.5 B model from bf16 writes 6 GB of
// fresh memory, and a fault per 4 KiB page made that ten times slower than the conversion itself.
torch::Tensor converted(const torch::Tensor& tensor, torch::Device device, torch::ScalarType dtype) {
  if (tensor.device() == device && tensor.scalar_type() == dtype) return tensor;
  if (!device.is_cpu()) return tensor.to(device, dtype);
  torch::Tensor out = torch::empty(tensor.sizes(), torch::TensorOptions().dtype(dtype));
  constexpr std::uintptr_t k_huge_page = 2 << 20;
  auto begin = (reinterpret_cast<std::uintptr_t>(out.data_ptr()) + k_huge_page - 1) & ~(k_huge_page - 1);
  auto end = (reinterpret_cast<std::uintptr_t>(out.data_ptr()) + out.nbytes()) & ~(k_huge_page - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // advice only
  out.copy_(tensor);
  return out;
}

}  // namespace

Transformer load_hf_model(const std::filesystem::path& dir, torch::Device device, torch::ScalarType dtype) {
  return load_hf_model(inspect_hf_folder(dir), device, dtype);
}

Transformer load_hf_model(const HfFolder& folder, torch::Device device, torch::ScalarType dtype) {
  if (dtype != torch::kFloat && dtype != torch::kBFloat16 && dtype != torch::kHalf) {
    fail(ExitCode::usage, "{}: weights load as float32, bfloat16 or float16, not {}", folder.dir.string(),
         c10::toString(dtype));
  }
  // Every weight is replaced below: none is initialised first.
  Transformer model = [&] {
    UninitialisedWeights uninitialised;
    return Transformer(folder.config);
  }();
  std::map<std::string, torch::Tensor> parameters;
  for (const auto& [name, parameter] : model->hf_parameters()) parameters[name] = parameter;
  // the tensors of each file in turn: a file's mapping goes once no parameter views it
  std::map<std::filesystem::path, std::vector<const HfTensorLocation*>> by_file;
  for (const auto& location : folder.tensors) by_file[location.file].push_back(&location);
  torch::NoGradGuard no_grad;
  for (const auto& [file, locations] : by_file) {
    auto mapped = map_safetensors(file);
    for (const auto* location : locations) {
      auto parameter = parameters.find(location->name);
      if (parameter == parameters.end()) {
        fail(ExitCode::internal, "{}: the model has no parameter `{}`", folder.dir.string(), location->name);
      }
      auto& tensor = mapped.tensors.at(location->name);
      if (tensor.sizes() !=
          parameter->second.sizes()) {  // inspect_hf_folder checked it; the file may have changed
        fail(ExitCode::bad_input, "{}: tensor `{}` has shape [{}], the model expects [{}]", file.string(),
             location->name, fmt::join(tensor.sizes(), ", "), fmt::join(parameter->second.sizes(), ", "));
      }
      // the parameter takes the mapped tensor's data: no copy when type and device already fit
      parameter->second.set_data(converted(tensor, device, dtype));
      parameters.erase(parameter);
    }
  }
  if (!parameters.empty()) {
    fail(ExitCode::internal, "{}: parameter `{}` got no weight", folder.dir.string(),
         parameters.begin()->first);
  }
  model->to(device);  // the buffers (inv_freq); the parameters are there already
  model->eval();
  return model;
}

}  // namespace medcode::model
