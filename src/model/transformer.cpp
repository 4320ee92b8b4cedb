// The Llama-family decoder on LibTorch, with the semantics of Hugging Face's LlamaForCausalLM so that either
// side can load the other's weights: RMSNorm, rotary embeddings ("rotate_half"), grouped-query attention,
// SwiGLU MLP. Each forward reads top to bottom with the shapes in comments.
#include "medcode/model/transformer.h"

#include <fmt/ranges.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "medcode/model/lora.h"
#include "medcode/util/error.h"

namespace medcode::model {

namespace {

constexpr double k_init_std = 0.02;

thread_local bool t_uninitialised_weights = false;

// A linear layer initialised as HF's _init_weights does: weight normal(0, 0.02), bias (where there is one) 0.
// Under UninitialisedWeights its tensors are allocated and never written: LibTorch's Linear always
// initialises what it allocates, so it is made 1 × 1 and given its real tensors after.
torch::nn::AnyModule make_linear(std::int64_t in, std::int64_t out, bool bias) {
  if (t_uninitialised_weights) {
    torch::nn::Linear linear(torch::nn::LinearOptions(1, 1).bias(bias));
    linear->options = torch::nn::LinearOptions(in, out).bias(bias);
    linear->weight.set_data(torch::empty({out, in}));
    if (bias) linear->bias.set_data(torch::empty({out}));
    return torch::nn::AnyModule(linear);
  }
  torch::nn::Linear linear(torch::nn::LinearOptions(in, out).bias(bias));
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(linear->weight, 0.0, k_init_std);
  if (bias) linear->bias.zero_();
  return torch::nn::AnyModule(linear);
}

// inv_freq (hd/2) of the rotary embedding, float32 as transformers' modeling_rope_utils computes it:
// 1 / theta^(2i / hd), then scaled. linear: inv_freq / factor (the same as positions / factor). llama3
// (_compute_llama3_parameters): wavelengths 2π / inv_freq longer than original_max / low_freq_factor are
// divided by factor, those shorter than original_max / high_freq_factor kept, and those between blended
// with smooth = (original_max / wavelen - low) / (high - low).
torch::Tensor rope_inv_freq(const ModelConfig& config) {
  const auto hd = config.head_dim();
  auto exponents =
      torch::arange(0, hd, 2, torch::kLong).to(torch::kFloat) / static_cast<float>(hd);  // (hd/2)
  auto inv_freq = 1.0 / torch::pow(config.rope_theta, exponents);
  const auto& scaling = config.rope_scaling;
  if (scaling.type == "linear") return inv_freq / scaling.factor;
  if (scaling.type != "llama3") return inv_freq;
  const double original = static_cast<double>(scaling.original_max_position_embeddings);
  const double low_freq_wavelen = original / scaling.low_freq_factor;
  const double high_freq_wavelen = original / scaling.high_freq_factor;
  auto wavelen = 2 * std::numbers::pi / inv_freq;
  auto scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / scaling.factor, inv_freq);
  auto smooth =
      (original / wavelen - scaling.low_freq_factor) / (scaling.high_freq_factor - scaling.low_freq_factor);
  auto smoothed = (1 - smooth) * scaled / scaling.factor + smooth * scaled;
  auto medium = wavelen.ge(high_freq_wavelen).logical_and(wavelen.le(low_freq_wavelen));
  return torch::where(medium, smoothed, scaled);
}

// x (…, in) @ weight (out, in)^T. A single row (decoding one sequence) goes through a matrix-vector product:
// BLAS's gemm, which LibTorch calls for any matmul, packs the whole weight on every call, which for one row
// costs several times the arithmetic.
torch::Tensor project(const torch::Tensor& x, const torch::Tensor& weight) {
  const auto in = x.size(-1);
  if (x.numel() != in) return torch::matmul(x, weight.t());
  std::vector<std::int64_t> shape = x.sizes().vec();
  shape.back() = weight.size(0);
  return torch::mv(weight, x.reshape({in})).view(shape);
}

// The weight that alone gives a linear slot's output: a plain Linear's without bias, or a LoRA layer's base
// once the adapter is merged into it; undefined otherwise (the module's own forward is needed).
torch::Tensor plain_weight(torch::nn::AnyModule& module) {
  torch::nn::Module* held = module.ptr().get();
  if (auto* lora = held->as<LoraLinearImpl>()) {
    if (!lora->merged()) return {};
    held = lora->base.get();
  }
  auto* linear = held->as<torch::nn::LinearImpl>();
  if (linear == nullptr || linear->bias.defined()) return {};
  return linear->weight;
}

torch::Tensor run_linear(torch::nn::AnyModule& module, const torch::Tensor& x) {
  if (x.numel() == x.size(-1)) {
    if (auto weight = plain_weight(module); weight.defined()) return project(x, weight);
  }
  return module.forward<torch::Tensor>(x);
}

// (…, hd) with halves (x1, x2) → (…, hd) as (x1 cos − x2 sin, x2 cos + x1 sin): HF's
// `x * cos + rotate_half(x) * sin` with cos and sin given once for both halves.
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  auto halves = x.chunk(2, -1);
  const auto& x1 = halves[0];  // (B, H, T, hd/2)
  const auto& x2 = halves[1];
  return torch::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
}

// The lowest finite value of a floating type, what masked scores get.
double lowest_of(torch::ScalarType type) {
  if (type == torch::kBFloat16) return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
  if (type == torch::kHalf) return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
  if (type == torch::kDouble) return std::numeric_limits<double>::lowest();
  return std::numeric_limits<float>::lowest();
}

torch::Tensor dropout_if_training(const torch::Tensor& x, double p, bool training) {
  return training && p > 0 ? torch::dropout(x, p, true) : x;
}

// Writes `added` (B, KV, T, hd) at positions past..past+T-1 of `storage` (B, KV, room, hd), making room
// first (doubling, at least `capacity`) and keeping the `cached` positions 0..past-1. Returns the view of
// positions 0..past+T-1.
torch::Tensor append_positions(torch::Tensor& storage, const torch::Tensor& cached,
                               const torch::Tensor& added, std::int64_t past, std::int64_t capacity) {
  const auto T = added.size(2);
  const auto needed = past + T;
  if (!storage.defined() || storage.size(0) != added.size(0) || storage.size(2) < needed) {
    std::int64_t room = std::max(needed, capacity);
    if (storage.defined()) room = std::max(room, 2 * storage.size(2));
    auto grown = torch::empty({added.size(0), added.size(1), room, added.size(3)}, added.options());
    if (past > 0) grown.narrow(2, 0, past).copy_(cached);
    storage = grown;
  }
  storage.narrow(2, past, T).copy_(added);
  return storage.narrow(2, 0, needed);
}

}  // namespace

// ---------------------------------------------------------------------------------------------- KvCache

void KvCache::append(std::size_t layer, const torch::Tensor& k, const torch::Tensor& v) {
  if (keys.size() <= layer) keys.resize(layer + 1);
  if (values.size() <= layer) values.resize(layer + 1);
  if (m_key_storage.size() <= layer) m_key_storage.resize(layer + 1);
  if (m_value_storage.size() <= layer) m_value_storage.resize(layer + 1);
  keys[layer] = append_positions(m_key_storage[layer], keys[layer], k, length, capacity);
  values[layer] = append_positions(m_value_storage[layer], values[layer], v, length, capacity);
}

void KvCache::select_rows(const torch::Tensor& index) {
  for (auto [views, storage] : {std::pair{&keys, &m_key_storage}, std::pair{&values, &m_value_storage}}) {
    for (std::size_t layer = 0; layer < views->size(); ++layer) {
      torch::Tensor& view = (*views)[layer];
      if (!view.defined()) continue;
      torch::Tensor picked = view.index_select(0, index.to(view.device()));  // (B', KV, S, hd)
      if (layer < storage->size() && (*storage)[layer].defined() &&
          (*storage)[layer].size(0) == picked.size(0)) {
        view.copy_(picked);  // the same rows count: in place, keeping the room for new positions
      } else {
        torch::Tensor fresh;
        view = append_positions(fresh, {}, picked, 0, std::max(capacity, picked.size(2)));
        if (storage->size() <= layer) storage->resize(layer + 1);
        (*storage)[layer] = fresh;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------- RMSNorm

RMSNormImpl::RMSNormImpl(std::int64_t dim, double eps) : m_eps(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // Computed in float32 whatever the input's type, as HF's LlamaRMSNorm does.
  auto x32 = x.to(torch::kFloat);                         // (B, T, C)
  auto variance = x32.pow(2).mean(-1, /*keepdim=*/true);  // (B, T, 1)
  auto normed = x32 * torch::rsqrt(variance + m_eps);     // (B, T, C)
  return weight * normed.to(x.scalar_type());
}

// -------------------------------------------------------------------------------------------- Attention

AttentionImpl::AttentionImpl(const ModelConfig& config)
    : m_n_heads(config.n_heads),
      m_n_kv_heads(config.n_kv_heads),
      m_head_dim(config.head_dim()),
      m_dropout(config.dropout) {
  const std::int64_t kv_dim = m_n_kv_heads * m_head_dim;
  q_proj = make_linear(config.dim, m_n_heads * m_head_dim, config.qkv_bias);
  k_proj = make_linear(config.dim, kv_dim, config.qkv_bias);
  v_proj = make_linear(config.dim, kv_dim, config.qkv_bias);
  o_proj = make_linear(m_n_heads * m_head_dim, config.dim, config.o_bias);
  register_module("q_proj", q_proj.ptr());
  register_module("k_proj", k_proj.ptr());
  register_module("v_proj", v_proj.ptr());
  register_module("o_proj", o_proj.ptr());
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin, const torch::Tensor& mask, KvCache* cache,
                                     std::size_t layer) {
  const auto B = x.size(0);
  const auto T = x.size(1);
  // project and split into heads
  auto q = run_linear(q_proj, x).view({B, T, m_n_heads, m_head_dim}).transpose(1, 2);     // (B, H, T, hd)
  auto k = run_linear(k_proj, x).view({B, T, m_n_kv_heads, m_head_dim}).transpose(1, 2);  // (B, KV, T, hd)
  auto v = run_linear(v_proj, x).view({B, T, m_n_kv_heads, m_head_dim}).transpose(1, 2);  // (B, KV, T, hd)
  // rotary position embedding on queries and keys, in their type (HF casts cos and sin to it)
  auto cos_h = cos.unsqueeze(1).to(q.scalar_type());  // (B, 1, T, hd/2)
  auto sin_h = sin.unsqueeze(1).to(q.scalar_type());
  q = apply_rotary(q, cos_h, sin_h);
  k = apply_rotary(k, cos_h, sin_h);
  // append to the cache: the keys and values of every position so far
  if (cache != nullptr) {
    cache->append(layer, k, v);
    k = cache->keys[layer];  // (B, KV, S, hd)
    v = cache->values[layer];
  }
  const auto S = k.size(2);
  // grouped-query attention: each kv head serves the n_rep = n_heads / n_kv_heads query heads next to each
  // other (HF's repeat_kv order), so the queries are grouped by kv head rather than the keys copied per head
  const auto n_rep = m_n_heads / m_n_kv_heads;
  auto q_grouped = q.reshape({B, m_n_kv_heads, n_rep * T, m_head_dim});  // (B, KV, n_rep*T, hd)
  // scaled dot product with the mask written out (LibTorch 1.13's C++ API has no fused SDPA). Masked scores
  // get the lowest float rather than -inf, as in HF, so that a row with every key masked (a padding query)
  // stays finite instead of turning into NaN that backward would spread.
  auto scores = torch::matmul(q_grouped, k.transpose(2, 3)).view({B, m_n_heads, T, S}) /
                std::sqrt(static_cast<double>(m_head_dim));  // (B, H, T, S)
  if (mask.defined()) scores = scores.masked_fill(mask.logical_not(), lowest_of(scores.scalar_type()));
  auto probs = torch::softmax(scores, -1, torch::kFloat).to(q.scalar_type());  // (B, H, T, S)
  probs = dropout_if_training(probs, m_dropout, is_training());
  auto y = torch::matmul(probs.view({B, m_n_kv_heads, n_rep * T, S}), v);  // (B, KV, n_rep*T, hd)
  y = y.view({B, m_n_heads, T, m_head_dim})
          .transpose(1, 2)
          .reshape({B, T, m_n_heads * m_head_dim});  // (B, T, C)
  return run_linear(o_proj, y);                      // (B, T, C)
}

// -------------------------------------------------------------------------------------------------- Mlp

MlpImpl::MlpImpl(const ModelConfig& config) {
  gate_proj = make_linear(config.dim, config.hidden_dim, config.mlp_bias);
  up_proj = make_linear(config.dim, config.hidden_dim, config.mlp_bias);
  down_proj = make_linear(config.hidden_dim, config.dim, config.mlp_bias);
  register_module("gate_proj", gate_proj.ptr());
  register_module("up_proj", up_proj.ptr());
  register_module("down_proj", down_proj.ptr());
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  auto gate = torch::silu(run_linear(gate_proj, x));  // (B, T, hidden)
  auto up = run_linear(up_proj, x);                   // (B, T, hidden)
  return run_linear(down_proj, gate * up);            // (B, T, C)
}

// ------------------------------------------------------------------------------------------------ Block

BlockImpl::BlockImpl(const ModelConfig& config) : dropout(config.dropout) {
  input_layernorm = register_module("input_layernorm", RMSNorm(config.dim, config.norm_eps));
  self_attn = register_module("self_attn", Attention(config));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(config.dim, config.norm_eps));
  mlp = register_module("mlp", Mlp(config));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                 const torch::Tensor& mask, KvCache* cache, std::size_t layer) {
  // pre-norm residual blocks; dropout on each branch's output while training
  auto attended = self_attn(input_layernorm(x), cos, sin, mask, cache, layer);  // (B, T, C)
  auto h = x + dropout_if_training(attended, dropout, is_training());
  auto mixed = mlp(post_attention_layernorm(h));  // (B, T, C)
  return h + dropout_if_training(mixed, dropout, is_training());
}

std::vector<LinearSlot> linear_slots(BlockImpl& block) {
  auto& attn = *block.self_attn;
  auto& mlp = *block.mlp;
  return {
      {"self_attn.q_proj", "q_proj", &attn, &attn.q_proj},
      {"self_attn.k_proj", "k_proj", &attn, &attn.k_proj},
      {"self_attn.v_proj", "v_proj", &attn, &attn.v_proj},
      {"self_attn.o_proj", "o_proj", &attn, &attn.o_proj},
      {"mlp.gate_proj", "gate_proj", &mlp, &mlp.gate_proj},
      {"mlp.up_proj", "up_proj", &mlp, &mlp.up_proj},
      {"mlp.down_proj", "down_proj", &mlp, &mlp.down_proj},
  };
}

torch::Tensor linear_bias(const torch::nn::AnyModule& module) {
  auto parameters = module.ptr()->named_parameters(/*recurse=*/true);
  if (const auto* bias = parameters.find("bias")) return *bias;
  if (const auto* bias = parameters.find("base.bias")) return *bias;
  return {};
}

torch::Tensor linear_weight(const torch::nn::AnyModule& module) {
  // A plain Linear registers "weight"; a LoraLinear holds its Linear as "base".
  auto parameters = module.ptr()->named_parameters(/*recurse=*/true);
  if (const auto* weight = parameters.find("weight")) return *weight;
  if (const auto* weight = parameters.find("base.weight")) return *weight;
  fail(ExitCode::internal, "a linear slot holds a module without a weight");
}

torch::Tensor positions_from_padding(const torch::Tensor& key_padding) {
  auto real = key_padding.logical_not().to(torch::kLong);  // (B, S)
  return (real.cumsum(1) - 1).clamp_min(0);                // (B, S)
}

// ------------------------------------------------------------------------------------------ Transformer

UninitialisedWeights::UninitialisedWeights() : m_previous(t_uninitialised_weights) {
  t_uninitialised_weights = true;
}
UninitialisedWeights::~UninitialisedWeights() { t_uninitialised_weights = m_previous; }

TransformerImpl::TransformerImpl(const ModelConfig& config) : m_config(config) {
  m_config.validate();
  if (m_config.vocab_size <= 0) {
    fail(ExitCode::usage, "model config: `vocab_size` must be set (it is {})", m_config.vocab_size);
  }
  if (t_uninitialised_weights) {
    embed_tokens = register_module(
        "embed_tokens", torch::nn::Embedding(torch::nn::EmbeddingOptions(m_config.vocab_size, m_config.dim)
                                                 ._weight(torch::empty({m_config.vocab_size, m_config.dim}))));
  } else {
    embed_tokens = register_module("embed_tokens", torch::nn::Embedding(m_config.vocab_size, m_config.dim));
    torch::NoGradGuard no_grad;
    torch::nn::init::normal_(embed_tokens->weight, 0.0, k_init_std);
  }
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < m_config.n_layers; ++i) {
    Block block(m_config);
    layers->push_back(block);
    blocks.push_back(block);
  }
  norm = register_module("norm", RMSNorm(m_config.dim, m_config.norm_eps));
  if (!m_config.tie_embeddings) {
    lm_head = register_module("lm_head", make_linear(m_config.dim, m_config.vocab_size, false)
                                             .get<torch::nn::Linear>());
  }
  m_inv_freq = register_buffer("inv_freq", rope_inv_freq(m_config));  // (hd/2)
}

KvCache TransformerImpl::make_cache() const {
  KvCache cache;
  cache.keys.resize(static_cast<std::size_t>(m_config.n_layers));
  cache.values.resize(static_cast<std::size_t>(m_config.n_layers));
  return cache;
}

namespace {

// Gradient checkpointing: a block's forward keeps only its input; backward runs the block again with the
// random generator and autocast as they were (so dropout draws the same masks) and backpropagates through
// that. Memory for activations drops from every block's to one block's at a time, for one more forward.
struct CheckpointedBlock : public torch::autograd::Function<CheckpointedBlock> {
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& x,
                               BlockImpl* block, const torch::Tensor& cos, const torch::Tensor& sin,
                               const torch::Tensor& mask) {
    context->save_for_backward({x});
    context->saved_data["block"] = reinterpret_cast<std::int64_t>(block);
    context->saved_data["cos"] = cos;
    context->saved_data["sin"] = sin;
    if (mask.defined()) context->saved_data["mask"] = mask;
    context->saved_data["autocast"] = at::autocast::is_enabled();
    at::Generator generator = at::globalContext().defaultGenerator(x.device());
    {
      std::lock_guard<std::mutex> lock(generator.mutex());
      context->saved_data["rng"] = generator.get_state();
    }
    return block->forward(x, cos, sin, mask, nullptr, 0);  // grad mode is off here
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list grad_outputs) {
    auto* block = reinterpret_cast<BlockImpl*>(context->saved_data["block"].toInt());
    torch::Tensor input = context->get_saved_variables()[0].detach().requires_grad_(true);
    at::Generator generator = at::globalContext().defaultGenerator(input.device());
    auto mask = context->saved_data.find("mask");
    // The generator's lock is held only to read and set its state: dropout in the block takes it too.
    torch::Tensor now;
    {
      std::lock_guard<std::mutex> lock(generator.mutex());
      now = generator.get_state();  // put back after, so the rest of backward is unaffected
      generator.set_state(context->saved_data["rng"].toTensor());
    }
    const bool autocast_was = at::autocast::is_enabled();
    at::autocast::set_enabled(context->saved_data["autocast"].toBool());
    torch::Tensor output;
    {
      torch::AutoGradMode enable(true);
      output = block->forward(input, context->saved_data["cos"].toTensor(), context->saved_data["sin"].toTensor(),
                              mask == context->saved_data.end() ? torch::Tensor() : mask->second.toTensor(),
                              nullptr, 0);
    }
    at::autocast::set_enabled(autocast_was);
    {
      std::lock_guard<std::mutex> lock(generator.mutex());
      generator.set_state(now);
    }
    // the block's trainable weights (LoRA adapters) accumulate their gradients here
    torch::autograd::backward({output}, {grad_outputs[0]});
    return {input.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor TransformerImpl::forward(const torch::Tensor& tokens, const torch::Tensor& positions,
                                       const torch::Tensor& key_padding, KvCache* cache, bool last_only) {
  if (tokens.dim() != 2)
    fail(ExitCode::internal, "transformer: tokens must be (B, T), got {} dims", tokens.dim());
  const auto B = tokens.size(0);
  const auto T = tokens.size(1);
  const auto past = cache != nullptr ? cache->length : 0;
  const auto S = past + T;
  // attention is always full: the same as a sliding window only while every key lies inside it
  if (m_config.sliding_window > 0 && S > m_config.sliding_window) {
    fail(ExitCode::usage,
         "transformer: {} positions exceed the model's sliding_window {}, which is not implemented", S,
         m_config.sliding_window);
  }
  const auto device = tokens.device();
  // positions (B, T): given (left-padded rows), or past + 0..T-1
  auto pos = positions.defined() ? positions.to(device, torch::kLong)
                                 : (torch::arange(past, S, torch::TensorOptions(torch::kLong).device(device)))
                                       .unsqueeze(0)
                                       .expand({B, T});
  if (pos.size(0) != B || pos.size(1) != T) fail(ExitCode::internal, "transformer: positions must be (B, T)");
  // rotary angles (B, T, hd/2)
  auto angles = pos.to(torch::kFloat).unsqueeze(-1) * m_inv_freq.to(device);
  auto cos = angles.cos();
  auto sin = angles.sin();
  // mask (B, 1, T, S): query t (absolute index past + t) sees keys 0..past + t that are not padding. A
  // single query sees every earlier key: without padding it needs no mask.
  torch::Tensor mask;
  if (T > 1) {
    auto query_index =
        torch::arange(past, S, torch::TensorOptions(torch::kLong).device(device)).unsqueeze(1);  // (T, 1)
    auto key_index =
        torch::arange(0, S, torch::TensorOptions(torch::kLong).device(device)).unsqueeze(0);  // (1, S)
    mask = key_index.le(query_index).view({1, 1, T, S}).expand({B, 1, T, S});
  }
  if (key_padding.defined()) {
    if (key_padding.size(0) != B || key_padding.size(1) != S) {
      fail(ExitCode::internal, "transformer: key_padding must be (B, S) = ({}, {}), got ({}, {})", B, S,
           key_padding.size(0), key_padding.size(1));
    }
    auto visible = key_padding.to(device).logical_not().view({B, 1, 1, S});
    mask = mask.defined() ? mask.logical_and(visible) : visible;
  }
  // the blocks
  auto x = embed_tokens(tokens);                                                               // (B, T, C)
  if (gradient_checkpointing && is_training() && torch::GradMode::is_enabled() && cache == nullptr) {
    // The embedding is frozen under LoRA: without an input that asks for gradients, backward would never
    // reach a checkpointed block and its adapters would get none.
    if (!x.requires_grad()) x = x.detach().requires_grad_(true);
    for (auto& block : blocks) x = CheckpointedBlock::apply(x, block.get(), cos, sin, mask);  // (B, T, C)
  } else {
    for (std::size_t i = 0; i < blocks.size(); ++i) x = blocks[i](x, cos, sin, mask, cache, i);  // (B, T, C)
  }
  if (cache != nullptr) cache->length = S;
  if (last_only) x = x.narrow(1, T - 1, 1);  // (B, 1, C)
  x = norm(x);                               // (B, T, C)
  // output head, tied to the embedding unless the config says otherwise
  auto logits = project(x, lm_head ? lm_head->weight : embed_tokens->weight);  // (B, T, V)
  return logits.to(torch::kFloat);
}

// ------------------------------------------------------------------------------ Hugging Face state dict

std::vector<std::pair<std::string, torch::Tensor>> TransformerImpl::hf_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> named;
  named.emplace_back("model.embed_tokens.weight", embed_tokens->weight);
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    auto& block = *blocks[i].ptr();
    const std::string prefix = fmt::format("model.layers.{}.", i);
    named.emplace_back(prefix + "input_layernorm.weight", block.input_layernorm->weight);
    for (const auto& slot : linear_slots(block)) {
      named.emplace_back(prefix + slot.path + ".weight", linear_weight(*slot.module));
      if (auto bias = linear_bias(*slot.module); bias.defined())
        named.emplace_back(prefix + slot.path + ".bias", bias);
    }
    named.emplace_back(prefix + "post_attention_layernorm.weight", block.post_attention_layernorm->weight);
  }
  named.emplace_back("model.norm.weight", norm->weight);
  if (lm_head) named.emplace_back("lm_head.weight", lm_head->weight);
  return named;
}

std::map<std::string, torch::Tensor> TransformerImpl::hf_state_dict() const {
  std::map<std::string, torch::Tensor> weights;
  for (const auto& [name, tensor] : hf_parameters()) weights[name] = tensor.detach().clone();
  return weights;
}

void TransformerImpl::load_hf_state_dict(const std::map<std::string, torch::Tensor>& weights,
                                         const std::string& source) {
  auto named = hf_parameters();
  for (const auto& [name, parameter] : named) {
    auto found = weights.find(name);
    if (found == weights.end()) fail(ExitCode::bad_input, "{}: tensor `{}` is missing", source, name);
    if (found->second.sizes() != parameter.sizes()) {
      fail(ExitCode::bad_input, "{}: tensor `{}` has shape {}, the model expects {}", source, name,
           fmt::join(found->second.sizes(), "x"), fmt::join(parameter.sizes(), "x"));
    }
  }
  for (const auto& [name, tensor] : weights) {
    bool known =
        std::any_of(named.begin(), named.end(), [&](const auto& entry) { return entry.first == name; });
    if (!known) {
      fail(ExitCode::bad_input,
           "{}: unexpected tensor `{}` (tie_word_embeddings or the layer count differs?)", source, name);
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, parameter] : named) parameter.copy_(weights.at(name));
}

}  // namespace medcode::model
