// LoRA (Hu et al., 2021): a low-rank update B·A added to a frozen linear layer, y = W x + (alpha / r) B A x,
// with A (r, in) initialised like a linear layer and B (out, r) zero, so training starts from the base model.
// The adapters are float32 whatever the base's type.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "medcode/model/stack.h"
#include "medcode/model/transformer.h"

namespace medcode::model {

class LoraLinearImpl : public torch::nn::Module {
 public:
  // Wraps `base` (its weight is shared, not copied). Error(usage) when the rank exceeds min(in, out).
  LoraLinearImpl(torch::nn::Linear base, const LoraConfig& config);
  torch::Tensor forward(const torch::Tensor& x);  // (…, in) → (…, out)
  // Puts W + (alpha/r) B A in place of the base weight W, after which forward skips the adapter. A restorable
  // merge keeps W itself (not a copy: the merged weight is a new tensor), so that unmerge gives back the base
  // bit for bit, as subtracting the update again could not; a merge for good (prediction) lets W go and cannot
  // be undone (unmerge is then Error(usage)).
  void merge(bool restorable = true);
  void unmerge();
  bool merged() const { return m_merged; }
  // Off, forward is the base layer's alone: DPO's reference model is the policy with its adapters off.
  void set_enabled(bool enabled) { m_enabled = enabled; }

  torch::nn::Linear base{nullptr};
  torch::Tensor lora_A;  // (r, in)
  torch::Tensor lora_B;  // (out, r)

 private:
  double m_scaling;
  double m_dropout;
  bool m_merged = false;
  bool m_enabled = true;
  torch::Tensor m_unmerged_weight;  // W while a restorable merge holds W + update
};
TORCH_MODULE(LoraLinear);

// Replaces the targeted linear layers of every block with LoraLinear and freezes every base parameter, so
// that only lora_A and lora_B train. Error(usage) for an unknown target or a rank larger than a layer.
void apply_lora(Transformer& model, const LoraConfig& config);
// The adapters under PEFT's names and shapes:
// base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight (r, in), ....lora_B.weight (out, r).
std::map<std::string, torch::Tensor> lora_state_dict(const Transformer& model);
// Error(bad_input) naming the first missing or mis-shaped tensor.
void load_lora_state_dict(Transformer& model, const std::map<std::string, torch::Tensor>& weights,
                          const std::string& source);
std::vector<torch::Tensor> lora_parameters(const Transformer& model);
void merge_lora(Transformer& model, bool restorable = true);
void unmerge_lora(Transformer& model);
// Turns every adapter off (the base model alone) or on again.
void set_lora_enabled(Transformer& model, bool enabled);

}  // namespace medcode::model
