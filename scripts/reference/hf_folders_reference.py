#!/usr/bin/env python3
"""Golden Hugging Face model folders for the C++ loader (load_hf_model, inspect_hf_folder): tiny random models
in the exact layout transformers saves (config.json, model.safetensors or shards with
model.safetensors.index.json, tokenizer_config.json, generation_config.json), with the logits of a PyTorch
forward written like transformers' LlamaForCausalLM / Qwen2ForCausalLM / MistralForCausalLM: q/k/v (and o, MLP)
biases, an explicit head_dim, llama3 and linear rope scaling (modeling_rope_utils._compute_llama3_parameters),
independent of the C++ code it checks.

Cases, under OUT_DIR:
  llama_tied/     LlamaForCausalLM, tied embeddings (like SmolLM2), F32
  qwen2/          Qwen2ForCausalLM, q/k/v biases, untied, F16, chat_template as a list, eos ids as a list
  llama_sharded/  LlamaForCausalLM, untied, BF16 in two shards with the index
  llama3_rope/    LlamaForCausalLM, rope_scaling llama3, head_dim 16 (not hidden / heads = 8), attention_bias
                  and mlp_bias, BF16; positions start at 40, where the scaling matters
  mistral/        MistralForCausalLM, sliding_window recorded (longer than the batch), BF16
Each has expected.safetensors: tokens, key_padding, positions and logits, the float32 forward over the weights
as stored (BF16 and F16 weights widened to float32, so the C++ float32 forward must agree to float32 rounding);
llama_sharded also has logits_bf16, the forward in bfloat16 as transformers runs it (RMSNorm in float32, cos and
sin cast to bfloat16, softmax in float32).

Regenerate with PyTorch 1.13 (Debian's python3-torch; no other package), then `ctest -L model`:
  /usr/bin/python3 scripts/reference/hf_folders_reference.py tests/fixtures/model/hf
Safetensors format: https://huggingface.co/docs/safetensors (written by hand below).
"""

import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD = 0
# Row 0 is full; row 1 is left-padded with two PAD tokens.
TOKENS = [[5, 17, 142, 3, 188, 61, 229],
          [PAD, PAD, 11, 76, 223, 54, 9]]

BASE = dict(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, hidden_act="silu", initializer_range=0.02, bos_token_id=1, eos_token_id=2)

CASES = {
    "llama_tied": dict(
        config=dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama", tie_word_embeddings=True,
                    max_position_embeddings=512, rope_theta=100000.0, rms_norm_eps=1e-5, attention_bias=False,
                    mlp_bias=False, rope_scaling=None, torch_dtype="float32"),
        dtype=torch.float32, shards=1, seed=11, position_offset=0,
        tokenizer_config=dict(bos_token="<|im_start|>", eos_token="<|im_end|>",
                              chat_template="{% for m in messages %}{{ m['content'] }}{% endfor %}"),
        generation_config=dict(bos_token_id=1, eos_token_id=2)),
    "qwen2": dict(
        config=dict(BASE, architectures=["Qwen2ForCausalLM"], model_type="qwen2", tie_word_embeddings=False,
                    max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6, rope_scaling=None,
                    use_sliding_window=False, sliding_window=4096, max_window_layers=21, torch_dtype="float16"),
        dtype=torch.float16, shards=1, seed=22, position_offset=0,
        tokenizer_config=dict(bos_token=None, eos_token={"content": "<|endoftext|>", "special": True},
                              chat_template=[{"name": "default", "template": "{{ messages[0]['content'] }}"},
                                             {"name": "tool_use", "template": "{{ tools }}"}]),
        generation_config=dict(bos_token_id=1, eos_token_id=[2, 3], do_sample=True, temperature=0.7)),
    "llama_sharded": dict(
        config=dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama", tie_word_embeddings=False,
                    max_position_embeddings=2048, rope_theta=10000.0, rms_norm_eps=1e-5, torch_dtype="bfloat16"),
        dtype=torch.bfloat16, shards=2, seed=33, position_offset=0, bf16_logits=True),
    "llama3_rope": dict(
        config=dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama", tie_word_embeddings=True,
                    max_position_embeddings=512, rope_theta=10000.0, rms_norm_eps=1e-5, head_dim=16,
                    attention_bias=True, mlp_bias=True, torch_dtype="bfloat16",
                    rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                      original_max_position_embeddings=64)),
        dtype=torch.bfloat16, shards=1, seed=44, position_offset=40),
    "mistral": dict(
        config=dict(BASE, architectures=["MistralForCausalLM"], model_type="mistral", tie_word_embeddings=False,
                    num_hidden_layers=1, max_position_embeddings=32768, rope_theta=10000.0, rms_norm_eps=1e-5,
                    sliding_window=4096, torch_dtype="bfloat16"),
        dtype=torch.bfloat16, shards=1, seed=55, position_offset=0),
}


# ------------------------------------------------------------------------------------------------ the model

def head_dim_of(c):
    return c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]


def biases_of(c):
    """(q/k/v, o, mlp) biases as each architecture's modeling file has them."""
    arch = c["architectures"][0]
    if arch == "Qwen2ForCausalLM":
        return True, False, False
    if arch == "MistralForCausalLM":
        return False, False, False
    return c.get("attention_bias", False), c.get("attention_bias", False), c.get("mlp_bias", False)


def inv_freq_of(c):
    """transformers' modeling_rope_utils: default, linear and llama3, in float32."""
    dim = head_dim_of(c)
    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    scaling = c.get("rope_scaling")
    if not scaling:
        return inv_freq
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        return inv_freq / scaling["factor"]
    assert kind == "llama3", kind
    factor = scaling["factor"]
    low_freq_factor = scaling["low_freq_factor"]
    high_freq_factor = scaling["high_freq_factor"]
    old_context_len = scaling["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.to(torch.float32)
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps)).to(dtype)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(x, n_rep):
    b, n_kv, s, hd = x.shape
    return x[:, :, None, :, :].expand(b, n_kv, n_rep, s, hd).reshape(b, n_kv * n_rep, s, hd)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        qkv_bias, o_bias, _ = biases_of(c)
        self.n_heads, self.n_kv, self.head_dim = c["num_attention_heads"], c["num_key_value_heads"], head_dim_of(c)
        hidden = c["hidden_size"]
        self.q_proj = nn.Linear(hidden, self.n_heads * self.head_dim, bias=qkv_bias)
        self.k_proj = nn.Linear(hidden, self.n_kv * self.head_dim, bias=qkv_bias)
        self.v_proj = nn.Linear(hidden, self.n_kv * self.head_dim, bias=qkv_bias)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, hidden, bias=o_bias)

    def forward(self, x, cos, sin, allowed):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        cos, sin = cos.unsqueeze(1).to(q.dtype), sin.unsqueeze(1).to(q.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = repeat_kv(k, self.n_heads // self.n_kv)
        v = repeat_kv(v, self.n_heads // self.n_kv)
        scores = q @ k.transpose(2, 3) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        y = (probs @ v).transpose(1, 2).reshape(b, t, -1)
        return self.o_proj(y)


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        _, _, bias = biases_of(c)
        self.gate_proj = nn.Linear(c["hidden_size"], c["intermediate_size"], bias=bias)
        self.up_proj = nn.Linear(c["hidden_size"], c["intermediate_size"], bias=bias)
        self.down_proj = nn.Linear(c["intermediate_size"], c["hidden_size"], bias=bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = Mlp(c)

    def forward(self, x, cos, sin, allowed):
        h = x + self.self_attn(self.input_layernorm(x), cos, sin, allowed)
        return h + self.mlp(self.post_attention_layernorm(h))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([DecoderLayer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class ForCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = Decoder(c)
        tied = c["tie_word_embeddings"]
        self.lm_head = None if tied else nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def forward(self, tokens, positions, key_padding):
        t = tokens.shape[1]
        freqs = positions.float()[..., None] * inv_freq_of(self.config)  # (B, T, hd/2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        allowed = causal[None, None] & ~key_padding[:, None, None, :]  # (B, 1, T, T)
        x = self.model.embed_tokens(tokens)
        for layer in self.model.layers:
            x = layer(x, cos, sin, allowed)
        x = self.model.norm(x)
        head = self.lm_head.weight if self.lm_head is not None else self.model.embed_tokens.weight
        return (x @ head.t()).float()


def init_weights(model, dtype):
    """normal(0, 0.02) for most weights, but q and k large enough (0.25) that attention scores are of order 1
    and rotary positions (and their scaling) change the logits well beyond the tolerance, v and o at 0.1;
    normal(0, 0.05) for biases (non-zero, so they count); norms near 1. Then rounded to the storage type, so
    that the float32 forward runs on exactly the stored values."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.normal_(0.0, 0.05)
            elif name.endswith(("q_proj.weight", "k_proj.weight")):
                p.normal_(0.0, 0.25)
            elif name.endswith(("v_proj.weight", "o_proj.weight")):
                p.normal_(0.0, 0.1)
            else:
                p.normal_(0.0, 0.02)
            p.copy_(p.to(dtype).float())


# ----------------------------------------------------------------------------------------------- the writer

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
          torch.bool: "BOOL"}


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: the same two bytes as int16
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name]
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in chunks:
            f.write(data)
    return offset


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def write_weights(out_dir, state, shards):
    """model.safetensors, or transformers' shard names with model.safetensors.index.json."""
    if shards == 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), state, {"format": "pt"})
        return
    names = sorted(state)
    per_shard = math.ceil(len(names) / shards)
    weight_map, total = {}, 0
    for i in range(shards):
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {name: state[name] for name in names[i * per_shard:(i + 1) * per_shard]}
        total += write_safetensors(os.path.join(out_dir, file), part, {"format": "pt"})
        weight_map.update({name: file for name in part})
    write_json(os.path.join(out_dir, "model.safetensors.index.json"),
               dict(metadata=dict(total_size=total), weight_map=weight_map))


# ------------------------------------------------------------------------------------------------ the cases

def batch(position_offset):
    tokens = torch.tensor(TOKENS, dtype=torch.int64)
    key_padding = tokens == PAD
    positions = ((~key_padding).long().cumsum(-1) - 1).clamp(min=0) + position_offset
    positions[key_padding] = 0
    return tokens, key_padding, positions


def write_case(out, name, case):
    torch.manual_seed(case["seed"])
    config = case["config"]
    model = ForCausalLM(config)
    init_weights(model, case["dtype"])
    out_dir = os.path.join(out, name)
    os.makedirs(out_dir, exist_ok=True)
    write_json(os.path.join(out_dir, "config.json"), config)
    state = {k: v.to(case["dtype"]) for k, v in model.state_dict().items()}
    write_weights(out_dir, state, case["shards"])
    if "tokenizer_config" in case:
        write_json(os.path.join(out_dir, "tokenizer_config.json"), case["tokenizer_config"])
    if "generation_config" in case:
        write_json(os.path.join(out_dir, "generation_config.json"), case["generation_config"])

    tokens, key_padding, positions = batch(case["position_offset"])
    with torch.no_grad():
        expected = dict(tokens=tokens, key_padding=key_padding, positions=positions,
                        logits=model(tokens, positions, key_padding))
        if case.get("bf16_logits"):
            expected["logits_bf16"] = model.to(torch.bfloat16)(tokens, positions, key_padding)
    write_safetensors(os.path.join(out_dir, "expected.safetensors"), expected)
    print(f"{out_dir}: {sum(p.numel() for p in model.parameters())} parameters")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: hf_folders_reference.py OUT_DIR")
    torch.set_num_threads(1)
    for name, case in CASES.items():
        write_case(sys.argv[1], name, case)


if __name__ == "__main__":
    main()
