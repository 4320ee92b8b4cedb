#!/usr/bin/env python3
"""Golden outputs for the C++ transformer: a small, self-contained PyTorch Llama written like Hugging Face's
LlamaForCausalLM (RMSNorm, "rotate_half" rotary embeddings, repeat_kv grouped-query attention, SwiGLU MLP,
tied or untied head) and PEFT's LoRA, independent of the C++ code it checks.

For a fixed seed and a tiny config it makes random weights, runs a forward on a fixed batch (one row left-
padded), computes the next-token cross-entropy, takes one AdamW step, and writes under OUT_DIR:

  untied/ and tied/   config.json (HF LlamaConfig names), weights.safetensors (HF names),
                      expected.safetensors: tokens, key_padding, positions, targets, logits, loss, the gradients
                      and post-step values of a few weights (names prefixed grad. and updated.)
  lora/               a PEFT adapter folder on the untied base (adapter_config.json, adapter_model.safetensors with
                      non-zero lora_B) and expected.safetensors: logits with the adapters, and the adapters'
                      gradients

Regenerate (needs PyTorch 1.13, the version of the LibTorch the C++ links, e.g. Debian's python3-torch; no
other package), then run the C++ side with `ctest -L model`:
  python3 scripts/reference/llama_reference.py tests/fixtures/model/golden
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

CONFIG = dict(vocab_size=97, hidden_size=32, intermediate_size=88, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=64, rope_theta=10000.0, rms_norm_eps=1e-5)
LORA = dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
ADAMW = dict(lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
PAD = 0
# Row 0 is full; row 1 is left-padded with two PAD tokens.
TOKENS = [[5, 17, 42, 3, 88, 61, 29],
          [PAD, PAD, 11, 76, 23, 54, 9]]
# The weights whose gradient and post-step value are checked.
CHECKED = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
           "model.layers.0.input_layernorm.weight", "model.layers.1.mlp.down_proj.weight", "model.norm.weight",
           "lm_head.weight"]


# ------------------------------------------------------------------------------------------------ the model

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


def rotary_cos_sin(positions, head_dim, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))  # (hd/2)
    freqs = positions.float()[..., None] * inv_freq  # (B, T, hd/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (B, T, hd)
    return emb.cos(), emb.sin()


def repeat_kv(x, n_rep):
    b, n_kv, s, hd = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, n_kv, n_rep, s, hd).reshape(b, n_kv * n_rep, s, hd)


class LoraLinear(nn.Module):
    """PEFT's LoRA layer: y = W x + (alpha / r) B A x."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        self.scaling = alpha / r
        self.merged = False

    def forward(self, x):
        y = self.base(x)
        if self.merged:
            return y
        return y + self.lora_B(self.lora_A(x)) * self.scaling

    @torch.no_grad()
    def merge(self):
        self.base.weight += (self.lora_B.weight @ self.lora_A.weight) * self.scaling
        self.merged = True


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_heads, self.n_kv = c["num_attention_heads"], c["num_key_value_heads"]
        self.head_dim = c["hidden_size"] // self.n_heads
        self.q_proj = nn.Linear(c["hidden_size"], self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(c["hidden_size"], self.n_kv * self.head_dim, bias=False)
        self.v_proj = nn.Linear(c["hidden_size"], self.n_kv * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, c["hidden_size"], bias=False)

    def forward(self, x, cos, sin, allowed):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
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
        self.gate_proj = nn.Linear(c["hidden_size"], c["intermediate_size"], bias=False)
        self.up_proj = nn.Linear(c["hidden_size"], c["intermediate_size"], bias=False)
        self.down_proj = nn.Linear(c["intermediate_size"], c["hidden_size"], bias=False)

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


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([DecoderLayer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class LlamaForCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = LlamaModel(c)
        self.lm_head = None if c["tie_word_embeddings"] else nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def forward(self, tokens, positions, key_padding):
        b, t = tokens.shape
        c = self.config
        cos, sin = rotary_cos_sin(positions, c["hidden_size"] // c["num_attention_heads"], c["rope_theta"])
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        allowed = causal[None, None] & ~key_padding[:, None, None, :]  # (B, 1, T, T)
        x = self.model.embed_tokens(tokens)
        for layer in self.model.layers:
            x = layer(x, cos, sin, allowed)
        x = self.model.norm(x)
        return self.lm_head(x) if self.lm_head is not None else x @ self.model.embed_tokens.weight.t()

    def hf_state_dict(self):
        return {k: v for k, v in self.state_dict().items() if "lora_" not in k}


def init_weights(model):
    """normal(0, 0.02) for linears and embeddings; norms near 1 but not 1, so their weights count."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.02)


# --------------------------------------------------------------------------------------------------- inputs

def batch():
    tokens = torch.tensor(TOKENS, dtype=torch.int64)
    key_padding = tokens == PAD
    positions = ((~key_padding).long().cumsum(-1) - 1).clamp(min=0)
    # next-token targets; -100 (ignored) where either the input or the target is padding, and at the end
    targets = torch.full_like(tokens, -100)
    targets[:, :-1] = tokens[:, 1:]
    targets[:, :-1][key_padding[:, :-1] | key_padding[:, 1:]] = -100
    return tokens, key_padding, positions, targets


def loss_of(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


# ----------------------------------------------------------------------------------------------- the writer

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.int64: "I64",
          torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}


def write_safetensors(path, tensors, metadata=None):
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes()
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


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def hf_config(tied):
    return dict(architectures=["LlamaForCausalLM"], model_type="llama", tie_word_embeddings=tied,
                hidden_act="silu", torch_dtype="float32", **CONFIG)


# ------------------------------------------------------------------------------------------------ the cases

def base_case(out_dir, tied, seed):
    torch.manual_seed(seed)
    config = hf_config(tied)
    model = LlamaForCausalLM(config)
    init_weights(model)
    os.makedirs(out_dir, exist_ok=True)
    write_json(os.path.join(out_dir, "config.json"), config)
    write_safetensors(os.path.join(out_dir, "weights.safetensors"), model.hf_state_dict(), {"format": "pt"})

    tokens, key_padding, positions, targets = batch()
    logits = model(tokens, positions, key_padding)
    loss = loss_of(logits, targets)
    loss.backward()
    params = dict(model.named_parameters())
    checked = [n for n in CHECKED if n in params]
    expected = dict(tokens=tokens, key_padding=key_padding, positions=positions, targets=targets,
                    logits=logits, loss=loss.reshape(1))
    for name in checked:
        expected["grad." + name] = params[name].grad
    torch.optim.AdamW(model.parameters(), **ADAMW).step()
    for name in checked:
        expected["updated." + name] = params[name]
    write_safetensors(os.path.join(out_dir, "expected.safetensors"), expected)
    print(f"{out_dir}: loss {loss.item():.6f}")


def lora_case(out_dir, base_dir):
    torch.manual_seed(7)
    config = hf_config(False)
    model = LlamaForCausalLM(config)
    state = read_safetensors(os.path.join(base_dir, "weights.safetensors"))
    model.load_state_dict(state)
    for p in model.parameters():
        p.requires_grad_(False)
    layers = {}
    for i, layer in enumerate(model.model.layers):
        for name in LORA["target_modules"]:
            lora = LoraLinear(getattr(layer.self_attn, name), LORA["r"], LORA["lora_alpha"])
            with torch.no_grad():
                lora.lora_B.weight.normal_(0.0, 0.05)  # non-zero, so the adapter changes the output
            setattr(layer.self_attn, name, lora)
            layers[f"base_model.model.model.layers.{i}.self_attn.{name}"] = lora
    adapters = {}
    for prefix, lora in layers.items():
        adapters[prefix + ".lora_A.weight"] = lora.lora_A.weight
        adapters[prefix + ".lora_B.weight"] = lora.lora_B.weight

    tokens, key_padding, positions, targets = batch()
    logits = model(tokens, positions, key_padding)
    loss = loss_of(logits, targets)
    loss.backward()
    expected = dict(logits=logits, loss=loss.reshape(1))
    for name, tensor in adapters.items():
        expected["grad." + name] = tensor.grad
    with torch.no_grad():
        for lora in layers.values():
            lora.merge()
        merged = model(tokens, positions, key_padding)
    difference = (merged - logits).abs().max().item()
    assert difference < 1e-5, f"merged and unmerged LoRA logits differ by {difference}"

    os.makedirs(out_dir, exist_ok=True)
    adapter_config = dict(peft_type="LORA", task_type="CAUSAL_LM", r=LORA["r"], lora_alpha=LORA["lora_alpha"],
                          lora_dropout=0.0, target_modules=LORA["target_modules"], bias="none",
                          fan_in_fan_out=False, base_model_name_or_path="../untied", inference_mode=True,
                          modules_to_save=None, init_lora_weights=True)
    write_json(os.path.join(out_dir, "adapter_config.json"), adapter_config)
    write_safetensors(os.path.join(out_dir, "adapter_model.safetensors"), adapters, {"format": "pt"})
    write_safetensors(os.path.join(out_dir, "expected.safetensors"), expected)
    print(f"{out_dir}: loss {loss.item():.6f}, merged logits within {difference:.2e}")


def read_safetensors(path):
    inverse = {v: k for k, v in DTYPES.items()}
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        flat = torch.frombuffer(bytearray(data[begin:end]), dtype=inverse[info["dtype"]])
        tensors[name] = flat.reshape(info["shape"]).clone()
    return tensors


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: llama_reference.py OUT_DIR")
    out = sys.argv[1]
    torch.set_num_threads(1)
    base_case(os.path.join(out, "untied"), tied=False, seed=1234)
    base_case(os.path.join(out, "tied"), tied=True, seed=4321)
    lora_case(os.path.join(out, "lora"), os.path.join(out, "untied"))


if __name__ == "__main__":
    main()
