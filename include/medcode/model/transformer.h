// A decoder-only transformer of the Llama family on the LibTorch C++ frontend: token embedding, RMSNorm,
// rotary position embedding (plain, linear- or llama3-scaled), grouped-query attention with optional q/k/v
// and o biases (Qwen2, Llama's attention_bias), SwiGLU MLP (optionally biased), tied or untied output head.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "medcode/model/config.h"

namespace medcode::model {

// Keys and values of every layer for incremental decoding. keys[i] and values[i] are (B, n_kv_heads, S,
// head_dim) views of storage with room for more positions, so that a decoding step writes its one new
// position in place instead of copying the whole cache; `length` is S, the positions already cached.
struct KvCache {
  std::vector<torch::Tensor> keys;
  std::vector<torch::Tensor> values;
  std::int64_t length = 0;
  // Positions the first append makes room for (0: just what it appends); the storage grows past it when
  // needed. Decoding sets it to prompt plus new tokens, so it never grows.
  std::int64_t capacity = 0;

  // Keeps the rows `index` (B') of every tensor: beam search reorders its beams with it.
  void select_rows(const torch::Tensor& index);
  // Writes k and v (B, n_kv_heads, T, head_dim) of `layer` at positions length..length+T-1 and points
  // keys[layer] and values[layer] at positions 0..length+T-1; the caller then advances `length`.
  void append(std::size_t layer, const torch::Tensor& k, const torch::Tensor& v);

 private:
  std::vector<torch::Tensor> m_key_storage;  // (B, n_kv_heads, room, head_dim)
  std::vector<torch::Tensor> m_value_storage;
};

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(std::int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double m_eps;
};
TORCH_MODULE(RMSNorm);

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& config);
  // x (B, T, C); cos/sin (B, T, head_dim/2); mask (B, 1, T, S) bool, true where query t may see key s
  // (causal and not padding), undefined when every query sees every key. With a cache (holding S - T
  // positions), the new keys and values are appended to its `layer`.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, KvCache* cache, std::size_t layer);
  // Linear layers are held as modules so that LoRA can replace them (see lora.h).
  torch::nn::AnyModule q_proj, k_proj, v_proj, o_proj;

 private:
  std::int64_t m_n_heads, m_n_kv_heads, m_head_dim;
  double m_dropout;
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, C) → (B, T, C): down(silu(gate(x)) * up(x))
  torch::nn::AnyModule gate_proj, up_proj, down_proj;
};
TORCH_MODULE(Mlp);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, KvCache* cache, std::size_t layer);
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
  double dropout = 0.0;
};
TORCH_MODULE(Block);

// One replaceable linear layer of a block, for LoRA: `owner` registers it under `name`.
struct LinearSlot {
  std::string path;  // relative to the block: "self_attn.q_proj", "mlp.down_proj"
  std::string name;  // PEFT's target name: "q_proj"
  torch::nn::Module* owner = nullptr;
  torch::nn::AnyModule* module = nullptr;
};
// The seven linear layers of a block: q, k, v, o, gate, up, down.
std::vector<LinearSlot> linear_slots(BlockImpl& block);
// The weight (out, in) of a slot's linear layer, whether plain or wrapped by LoRA (its base weight).
torch::Tensor linear_weight(const torch::nn::AnyModule& module);
// Its bias (out), or an undefined tensor when it has none.
torch::Tensor linear_bias(const torch::nn::AnyModule& module);

// Positions (B, S) int64 of a left-padded batch from its key_padding (B, S) bool (true = padding): each
// row counts from 0 at its first real token; padding gets position 0.
torch::Tensor positions_from_padding(const torch::Tensor& key_padding);

// While one lives on this thread, new Transformers get memory for their weights but no initial values: a
// loader that replaces every weight (load_hf_model) spends neither the time of a random initialisation nor
// the resident memory it would touch.
class UninitialisedWeights {
 public:
  UninitialisedWeights();
  ~UninitialisedWeights();
  UninitialisedWeights(const UninitialisedWeights&) = delete;
  UninitialisedWeights& operator=(const UninitialisedWeights&) = delete;

 private:
  bool m_previous;
};

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const ModelConfig& config);

  // tokens (B, T) int64 → logits (B, T, vocab_size), float32.
  // positions (B, T) int64: each token's position; undefined means cache->length + 0..T-1 for every row.
  // key_padding (B, S) bool, S = cached + T: true where a key is padding (left-padded batches); may be
  // undefined. With a cache, the new keys and values are appended to it and cache->length grows by T.
  // last_only: logits (B, 1, V) of the last position alone, all that decoding reads (the output head is
  // the widest matmul of a prefill).
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& positions = {},
                        const torch::Tensor& key_padding = {}, KvCache* cache = nullptr,
                        bool last_only = false);

  const ModelConfig& config() const { return m_config; }
  KvCache make_cache() const;

  // The weights under Hugging Face Llama names (model.embed_tokens.weight,
  // model.layers.0.self_attn.q_proj.weight, ..., model.norm.weight, lm_head.weight unless tied), LoRA
  // adapters excluded (merge them first to export the merged model); copies, on the model's device.
  // HF's LlamaForCausalLM applies rotary embeddings in the same "rotate_half" layout as we do, so q_proj
  // and k_proj need no permutation either way (only Meta's original interleaved checkpoints would).
  std::map<std::string, torch::Tensor> hf_state_dict() const;
  // The live parameters under those names (biases included where the config has them), in the order of
  // hf_tensor_shapes(config()): what a loader replaces or copies into.
  std::vector<std::pair<std::string, torch::Tensor>> hf_parameters() const;
  // Copies weights in by those names; Error(bad_input) naming `source` and the first missing, unexpected
  // or mis-shaped tensor.
  void load_hf_state_dict(const std::map<std::string, torch::Tensor>& weights, const std::string& source);

  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tied to embed_tokens

  // Blocks as their concrete type (the ModuleList holds them type-erased).
  std::vector<Block> blocks;
  // While training with gradients, keep only each block's input and run the block again in backward: the
  // activations of a 1.5 B model at sequence 256 shrink from gigabytes to one block's.
  bool gradient_checkpointing = false;

 private:
  ModelConfig m_config;
  torch::Tensor m_inv_freq;  // (head_dim/2), a buffer
};
TORCH_MODULE(Transformer);

}  // namespace medcode::model
