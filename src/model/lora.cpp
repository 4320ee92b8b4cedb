// LoRA adapters on the transformer's linear layers, initialised and named as PEFT does so that an adapter
// trained here loads with PEFT on top of the same base (and the other way round).
#include "medcode/model/lora.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "medcode/util/error.h"

namespace medcode::model {

namespace {

const std::vector<std::string> k_target_names = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                 "gate_proj", "up_proj", "down_proj"};

std::shared_ptr<LoraLinearImpl> as_lora(const torch::nn::AnyModule& module) {
  return std::dynamic_pointer_cast<LoraLinearImpl>(module.ptr());
}

// Every LoRA layer of the model with its PEFT prefix "base_model.model.model.layers.{i}.self_attn.q_proj".
std::vector<std::pair<std::string, std::shared_ptr<LoraLinearImpl>>> lora_layers(const Transformer& model) {
  std::vector<std::pair<std::string, std::shared_ptr<LoraLinearImpl>>> found;
  for (std::size_t i = 0; i < model->blocks.size(); ++i) {
    for (const auto& slot : linear_slots(*model->blocks[i].ptr())) {
      if (auto lora = as_lora(*slot.module)) {
        found.emplace_back(fmt::format("base_model.model.model.layers.{}.{}", i, slot.path), lora);
      }
    }
  }
  return found;
}

void check_rank(std::int64_t rank, std::int64_t in, std::int64_t out, const std::string& layer) {
  if (rank <= 0 || rank > std::min(in, out)) {
    fail(ExitCode::usage, "LoRA rank {} does not fit {} (in {}, out {}): it must be between 1 and {}", rank,
         layer, in, out, std::min(in, out));
  }
}

}  // namespace

// --------------------------------------------------------------------------------------------- LoraLinear

LoraLinearImpl::LoraLinearImpl(torch::nn::Linear base_linear, const LoraConfig& config)
    : base(std::move(base_linear)), m_scaling(config.scaling()), m_dropout(config.dropout) {
  const auto out = base->weight.size(0);
  const auto in = base->weight.size(1);
  check_rank(config.rank, in, out, "a linear layer");
  register_module("base", base);
  // The adapters stay float32 over a bf16 or f16 base, as PEFT keeps them: their updates are too small for
  // bf16's 8-bit mantissa.
  auto options = base->weight.options().dtype(torch::kFloat).requires_grad(false);
  // PEFT: A like nn.Linear's default (kaiming uniform with a = sqrt(5)), B zero so B·A starts at zero.
  lora_A = register_parameter("lora_A", torch::empty({config.rank, in}, options));
  lora_B = register_parameter("lora_B", torch::zeros({out, config.rank}, options));
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(lora_A, std::sqrt(5.0));
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor& x) {
  auto y = base(x);  // (…, out)
  if (m_merged || !m_enabled) return y;
  // in the adapters' type, added back in the base's (PEFT's cast_input_dtype)
  auto input = x.scalar_type() == lora_A.scalar_type() ? x : x.to(lora_A.scalar_type());
  auto dropped = torch::dropout(input, m_dropout, is_training());  // (…, in)
  auto low_rank = torch::matmul(dropped, lora_A.t());              // (…, r)
  auto update = torch::matmul(low_rank, lora_B.t()) * m_scaling;   // (…, out)
  return y + (update.scalar_type() == y.scalar_type() ? update : update.to(y.scalar_type()));
}

void LoraLinearImpl::merge(bool restorable) {
  if (m_merged) return;
  torch::NoGradGuard no_grad;
  torch::Tensor weight = base->weight.detach();
  torch::Tensor update = torch::matmul(lora_B, lora_A).to(weight.scalar_type());  // (out, in)
  base->weight.set_data(torch::add(weight, update, m_scaling));
  if (restorable) m_unmerged_weight = weight;
  m_merged = true;
}

void LoraLinearImpl::unmerge() {
  if (!m_merged) return;
  if (!m_unmerged_weight.defined())
    fail(ExitCode::usage, "these LoRA layers were merged for good and cannot be unmerged");
  torch::NoGradGuard no_grad;
  base->weight.set_data(m_unmerged_weight);
  m_unmerged_weight = torch::Tensor();
  m_merged = false;
}

// ----------------------------------------------------------------------------------- the model's adapters

void apply_lora(Transformer& model, const LoraConfig& config) {
  if (config.target_modules.empty()) {
    fail(ExitCode::usage, "LoRA needs at least one target module (among {})",
         fmt::join(k_target_names, ", "));
  }
  for (const auto& target : config.target_modules) {
    if (std::find(k_target_names.begin(), k_target_names.end(), target) == k_target_names.end()) {
      fail(ExitCode::usage, "unknown LoRA target module '{}' (valid: {})", target,
           fmt::join(k_target_names, ", "));
    }
  }
  const std::set<std::string> targets(config.target_modules.begin(), config.target_modules.end());
  // check every layer before changing any, so that a bad rank leaves the model as it was
  for (std::size_t i = 0; i < model->blocks.size(); ++i) {
    for (const auto& slot : linear_slots(*model->blocks[i])) {
      if (!targets.contains(slot.name)) continue;
      if (as_lora(*slot.module))
        fail(ExitCode::usage, "LoRA is already applied to model.layers.{}.{}", i, slot.path);
      auto weight = linear_weight(*slot.module);
      check_rank(config.rank, weight.size(1), weight.size(0),
                 fmt::format("model.layers.{}.{}", i, slot.path));
    }
  }
  for (auto& parameter : model->parameters()) parameter.set_requires_grad(false);
  for (auto& block : model->blocks) {
    for (const auto& slot : linear_slots(*block)) {
      if (!targets.contains(slot.name)) continue;
      LoraLinear lora(slot.module->get<torch::nn::Linear>(), config);
      lora->lora_A.set_requires_grad(true);
      lora->lora_B.set_requires_grad(true);
      slot.owner->replace_module(slot.name, lora);
      *slot.module = torch::nn::AnyModule(lora);
    }
  }
  if (model->is_training())
    model->train();  // the new layers take the model's mode
  else
    model->eval();
}

std::map<std::string, torch::Tensor> lora_state_dict(const Transformer& model) {
  std::map<std::string, torch::Tensor> weights;
  for (const auto& [prefix, lora] : lora_layers(model)) {
    weights[prefix + ".lora_A.weight"] = lora->lora_A.detach().clone();  // (r, in)
    weights[prefix + ".lora_B.weight"] = lora->lora_B.detach().clone();  // (out, r)
  }
  return weights;
}

void load_lora_state_dict(Transformer& model, const std::map<std::string, torch::Tensor>& weights,
                          const std::string& source) {
  auto layers = lora_layers(model);
  std::set<std::string> expected;
  for (const auto& [prefix, lora] : layers) {
    for (const auto& [suffix, parameter] :
         {std::pair{".lora_A.weight", lora->lora_A}, std::pair{".lora_B.weight", lora->lora_B}}) {
      const std::string name = prefix + suffix;
      expected.insert(name);
      auto found = weights.find(name);
      if (found == weights.end())
        fail(ExitCode::bad_input, "{}: adapter tensor `{}` is missing", source, name);
      if (found->second.sizes() != parameter.sizes()) {
        fail(ExitCode::bad_input, "{}: adapter tensor `{}` has shape {}, the model expects {}", source, name,
             fmt::join(found->second.sizes(), "x"), fmt::join(parameter.sizes(), "x"));
      }
    }
  }
  for (const auto& [name, tensor] : weights) {
    if (!expected.contains(name)) {
      fail(ExitCode::bad_input, "{}: unexpected adapter tensor `{}` (target_modules or layers differ?)",
           source, name);
    }
  }
  torch::NoGradGuard no_grad;
  for (const auto& [prefix, lora] : layers) {
    if (lora->merged()) fail(ExitCode::usage, "{}: cannot load adapters into merged LoRA layers", source);
    lora->lora_A.copy_(weights.at(prefix + ".lora_A.weight"));
    lora->lora_B.copy_(weights.at(prefix + ".lora_B.weight"));
  }
}

std::vector<torch::Tensor> lora_parameters(const Transformer& model) {
  std::vector<torch::Tensor> parameters;
  for (const auto& [prefix, lora] : lora_layers(model)) {
    parameters.push_back(lora->lora_A);
    parameters.push_back(lora->lora_B);
  }
  return parameters;
}

void merge_lora(Transformer& model, bool restorable) {
  for (const auto& [prefix, lora] : lora_layers(model)) lora->merge(restorable);
}

void unmerge_lora(Transformer& model) {
  for (const auto& [prefix, lora] : lora_layers(model)) lora->unmerge();
}

void set_lora_enabled(Transformer& model, bool enabled) {
  for (const auto& [prefix, lora] : lora_layers(model)) lora->set_enabled(enabled);
}

}  // namespace medcode::model
