#!/usr/bin/env python3
# One LoRA training step in PyTorch eager, the reference that bench/lora_step.sh sets against
# bench/lora_step_bench.cpp: the same Hugging Face folder widened to a float32 frozen base, the same adapters
# (rank 16, alpha 32, no dropout, all seven linear layers, initialised as PEFT does), the same AdamW and
# tokens, and the same JSON line. Needs only torch: the safetensors file is read here and the decoder is
# written out as transformers' Qwen2/Llama modelling code computes it.
#   lora_step_reference.py DIR STEPS THREADS
# STEPS counts every step; the first is a warm-up, left out of the median.
import ctypes
import ctypes.util
import json
import math
import mmap
import os
import resource
import statistics
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SEQUENCE = 256
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def read_safetensors(path):
    """The file's tensors widened to float32, tensor by tensor from a copy-on-write mapping, so that the model
    is never held twice (as transformers' safe_open does, and as medcode's loader does)."""
    with open(path, "rb") as file:
        mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY)  # writable, so frombuffer does not warn
    (header_length,) = struct.unpack("<Q", mapping[:8])
    header = json.loads(mapping[8 : 8 + header_length])
    data_start = 8 + header_length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        element = torch.tensor([], dtype=dtype).element_size()
        raw = torch.frombuffer(mapping, dtype=dtype, count=(end - begin) // element, offset=data_start + begin)
        tensors[name] = raw.view(entry["shape"]).to(torch.float32)
    return tensors


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, weight, eps):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.eps = eps

    def forward(self, x):
        x32 = x.to(torch.float32)
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


class LoraLinear(nn.Module):
    """PEFT's LoRA layer: y = W x + b + (alpha / r) B A x, A like nn.Linear's default initialisation
    (kaiming uniform, a = sqrt(5)), B zero."""

    def __init__(self, weight, bias, rank, alpha):
        super().__init__()
        out_features, in_features = weight.shape
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.lora_A = nn.Linear(in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / rank

    def forward(self, x):
        return F.linear(x, self.weight, self.bias) + self.lora_B(self.lora_A(x)) * self.scaling


class Block(nn.Module):
    def __init__(self, weights, prefix, config, rank, alpha):
        super().__init__()
        eps = config["rms_norm_eps"]
        self.heads = config["num_attention_heads"]
        self.kv_heads = config.get("num_key_value_heads", self.heads)
        self.head_dim = config.get("head_dim") or config["hidden_size"] // self.heads
        self.input_layernorm = RMSNorm(weights[prefix + "input_layernorm.weight"], eps)
        self.post_attention_layernorm = RMSNorm(weights[prefix + "post_attention_layernorm.weight"], eps)
        for name in TARGETS:
            path = prefix + ("self_attn." if name in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp.") + name
            layer = LoraLinear(weights[path + ".weight"], weights.get(path + ".bias"), rank, alpha)
            self.add_module(name, layer)

    def forward(self, x, cos, sin, mask):
        batch, length, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(batch, length, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(h).view(batch, length, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(h).view(batch, length, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # transformers' repeat_kv: each kv head copied for the query heads next to each other
        repeats = self.heads // self.kv_heads
        k = k.repeat_interleave(repeats, dim=1)
        v = v.repeat_interleave(repeats, dim=1)
        # torch 1.13 has no fused scaled_dot_product_attention: the eager attention of transformers
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        y = torch.matmul(probs, v).transpose(1, 2).reshape(batch, length, self.heads * self.head_dim)
        x = x + self.o_proj(y)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Decoder(nn.Module):
    def __init__(self, weights, config, rank, alpha):
        super().__init__()
        self.embed = nn.Parameter(weights["model.embed_tokens.weight"], requires_grad=False)
        self.layers = nn.ModuleList(
            Block(weights, f"model.layers.{i}.", config, rank, alpha) for i in range(config["num_hidden_layers"])
        )
        self.norm = RMSNorm(weights["model.norm.weight"], config["rms_norm_eps"])
        head = weights.get("lm_head.weight")
        self.head = self.embed if head is None else nn.Parameter(head, requires_grad=False)
        heads = config["num_attention_heads"]
        head_dim = config.get("head_dim") or config["hidden_size"] // heads
        base = config.get("rope_theta", 10000.0)
        self.inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))

    def forward(self, tokens):
        length = tokens.shape[1]
        positions = torch.arange(length, dtype=torch.float32)
        freqs = torch.outer(positions, self.inv_freq)
        angles = torch.cat((freqs, freqs), dim=-1)  # (T, head_dim)
        cos, sin = angles.cos(), angles.sin()
        mask = torch.ones(length, length, dtype=torch.bool).tril()
        x = F.embedding(tokens, self.embed)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return F.linear(self.norm(x), self.head)


def set_blas_threads(threads):
    # PyTorch's set_num_threads leaves OpenBLAS's own pool (one thread per core) alone; medcode sizes both.
    name = ctypes.util.find_library("openblas") or "libopenblas.so.0"
    try:
        ctypes.CDLL(name).openblas_set_num_threads(threads)
    except (OSError, AttributeError):
        pass


def peak_rss():
    # Linux keeps ru_maxrss as the address space's high-water mark: it restarts from the current RSS when
    # "5" is written to /proc/self/clear_refs.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: lora_step_reference.py DIR STEPS THREADS")
    folder, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if steps < 2:
        sys.exit("lora_step_reference.py: STEPS must be at least 2 (the first is a warm-up)")
    torch.set_num_threads(threads)
    set_blas_threads(threads)
    torch.manual_seed(0)

    start = time.perf_counter()
    with open(os.path.join(folder, "config.json")) as file:
        config = json.load(file)
    weights = read_safetensors(os.path.join(folder, "model.safetensors"))
    model = Decoder(weights, config, rank=16, alpha=32.0)
    del weights
    load_seconds = time.perf_counter() - start
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    model.train()

    vocab = config["vocab_size"]
    tokens = torch.tensor([[(i * 7919 + 13) % vocab for i in range(SEQUENCE)]], dtype=torch.int64)
    targets = tokens[:, 1:].reshape(-1)

    # the load's transient peak (the mapping beside the widened weights) told apart from the steps' own
    load_peak_rss = peak_rss()
    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")
    step_seconds = []
    first_loss = None
    for _ in range(steps):
        step_start = time.perf_counter()
        logits = model(tokens)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        step_seconds.append(time.perf_counter() - step_start)
        if first_loss is None:
            first_loss = loss.item()
    step_peak_rss = peak_rss()

    print(
        json.dumps(
            {
                "load_seconds": round(load_seconds, 3),
                "step_seconds": [round(s, 3) for s in step_seconds],
                "median_step_seconds": round(statistics.median(step_seconds[1:]), 3),
                "first_loss": round(first_loss, 8),
                "peak_rss_bytes": max(load_peak_rss, step_peak_rss),
                "step_peak_rss_bytes": step_peak_rss,
                "trainable_parameters": sum(p.numel() for p in trainable),
                "threads": torch.get_num_threads(),
                "passive_waiting": os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE",
            }
        )
    )


if __name__ == "__main__":
    main()
