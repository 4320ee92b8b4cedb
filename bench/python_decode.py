#!/usr/bin/env python3
"""Greedy decoding of a medcode model in PyTorch eager, with a KV cache, as a yardstick for `medcode predict`:
the same model folder (config.json, model.safetensors and tokenizer.model as `medcode train` writes them, or
a LoRA folder, merged), the same prompts (`<s>` + "Predict the medical codes for the following text: " + text,
cut to the prompt budget, + `<|codes|>`), left-padded into batches, prefilled in one pass, then one token per
step. Unconstrained and without stopping at `</s>`, so that every prompt generates --new-tokens tokens; the
figure is generated tokens over prefill plus decode time, as bench/predict_speed.py computes medcode's.

    bench/python_decode.py --model medcode-output/model/lora --texts ../shared/data/codiesp/dev/text_files_en \\
        --notes 32 --threads 1

Needs python3-torch, python3-numpy and python3-sentencepiece (Debian packages).
"""
import argparse
import json
import math
import os
import statistics
import struct
import sys
import time
from pathlib import Path

# OpenBLAS sizes its own thread pool when it is loaded (with torch) and torch.set_num_threads leaves it alone,
# so --threads is read before the import: medcode sets both pools to its --threads as well.
if __name__ == "__main__" and "--threads" in sys.argv:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", sys.argv[sys.argv.index("--threads") + 1])

import numpy as np
import sentencepiece
import torch

PROMPT_PREFIX = "Predict the medical codes for the following text: "
PAD_ID, BOS_ID, EOS_ID = 0, 2, 3
DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    """The tensors of a safetensors file (https://huggingface.co/docs/safetensors): an 8-byte little-endian
    header size, a JSON header of name -> dtype, shape, data_offsets, then the data."""
    raw = Path(path).read_bytes()
    (header_size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_size])
    data = raw[8 + header_size :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        if entry["dtype"] == "BF16":
            words = np.frombuffer(data[begin:end], dtype=np.uint16).astype(np.uint32) << 16
            array = words.view(np.float32)
        else:
            array = np.frombuffer(data[begin:end], dtype=DTYPES[entry["dtype"]])
        tensors[name] = torch.from_numpy(array.copy()).reshape(entry["shape"]).float()
    return tensors


def load_folder(folder):
    """config, weights under HF Llama names, tokenizer path; a LoRA folder is merged into its base."""
    folder = Path(folder)
    if (folder / "adapter_config.json").exists():
        adapter = json.loads((folder / "adapter_config.json").read_text())
        info = json.loads((folder / "medcode.json").read_text())
        base = Path(info["base_dir"])
        base = base if base.is_absolute() else (folder / base)
        config, weights, tokenizer = load_folder(base)
        scaling = adapter["lora_alpha"] / adapter["r"]
        lora = read_safetensors(folder / "adapter_model.safetensors")
        for name, a in lora.items():
            if not name.endswith(".lora_A.weight"):
                continue
            stem = name[: -len(".lora_A.weight")]
            b = lora[stem + ".lora_B.weight"]
            target = stem.removeprefix("base_model.model.") + ".weight"
            weights[target] = weights[target] + (b @ a) * scaling
        return config, weights, tokenizer
    config = json.loads((folder / "config.json").read_text())
    return config, read_safetensors(folder / "model.safetensors"), folder / "tokenizer.model"


class Llama:
    """The decoder of src/model/transformer.cpp in plain tensor ops: RMSNorm, rotary embeddings
    (rotate_half), grouped-query attention, SwiGLU MLP, tied or untied head."""

    def __init__(self, config, weights):
        self.n_layers = config["num_hidden_layers"]
        self.n_heads = config["num_attention_heads"]
        self.n_kv_heads = config["num_key_value_heads"]
        self.dim = config["hidden_size"]
        self.head_dim = self.dim // self.n_heads
        self.eps = config["rms_norm_eps"]
        self.w = weights
        self.embed = weights["model.embed_tokens.weight"]
        self.head = weights.get("lm_head.weight", self.embed)
        exponents = torch.arange(0, self.head_dim, 2, dtype=torch.int64).float() / self.head_dim
        self.inv_freq = 1.0 / (config["rope_theta"] ** exponents)

    def rms_norm(self, x, weight):
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    @staticmethod
    def rotary(x, cos, sin):
        x1, x2 = x.chunk(2, -1)
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)

    def forward(self, tokens, positions, visible, cache, length):
        """tokens, positions (B, T); visible (B, 1, T, S) bool or None; cache: per layer (k, v) storage
        (B, KV, room, hd) written at length..length+T-1. Returns the last position's logits (B, V)."""
        B, T = tokens.shape
        angles = positions.float().unsqueeze(-1) * self.inv_freq  # (B, T, hd/2)
        cos, sin = angles.cos().unsqueeze(1), angles.sin().unsqueeze(1)
        x = self.embed[tokens]  # (B, T, C)
        n_rep = self.n_heads // self.n_kv_heads
        for i in range(self.n_layers):
            p = f"model.layers.{i}."
            h = self.rms_norm(x, self.w[p + "input_layernorm.weight"])
            q = (h @ self.w[p + "self_attn.q_proj.weight"].t()).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
            k = (h @ self.w[p + "self_attn.k_proj.weight"].t()).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
            v = (h @ self.w[p + "self_attn.v_proj.weight"].t()).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
            q, k = self.rotary(q, cos, sin), self.rotary(k, cos, sin)
            keys, values = cache[i]
            keys[:, :, length : length + T] = k
            values[:, :, length : length + T] = v
            k, v = keys[:, :, : length + T], values[:, :, : length + T]  # (B, KV, S, hd)
            S = k.shape[2]
            qg = q.reshape(B, self.n_kv_heads, n_rep * T, self.head_dim)
            scores = (qg @ k.transpose(2, 3)).view(B, self.n_heads, T, S) / math.sqrt(self.head_dim)
            if visible is not None:
                scores = scores.masked_fill(~visible, torch.finfo(torch.float32).min)
            probs = torch.softmax(scores, -1)
            y = (probs.view(B, self.n_kv_heads, n_rep * T, S) @ v).view(B, self.n_heads, T, self.head_dim)
            y = y.transpose(1, 2).reshape(B, T, self.dim)
            x = x + y @ self.w[p + "self_attn.o_proj.weight"].t()
            h = self.rms_norm(x, self.w[p + "post_attention_layernorm.weight"])
            gate = torch.nn.functional.silu(h @ self.w[p + "mlp.gate_proj.weight"].t())
            up = h @ self.w[p + "mlp.up_proj.weight"].t()
            x = x + (gate * up) @ self.w[p + "mlp.down_proj.weight"].t()
        x = self.rms_norm(x[:, -1], self.w["model.norm.weight"])  # (B, C)
        return x @ self.head.t()  # (B, V)


def encode_prompt(tokenizer, text, budget):
    ids = [BOS_ID] + tokenizer.encode(PROMPT_PREFIX + text)
    if len(ids) + 1 > budget:
        ids = ids[: budget - 1]
    return ids + [tokenizer.piece_to_id("<|codes|>")]


def decode_batch(model, prompts, new_tokens):
    """Greedy decoding of left-padded prompts; returns (generated ids per prompt, seconds)."""
    B = len(prompts)
    P = max(len(p) for p in prompts)
    tokens = torch.full((B, P), PAD_ID, dtype=torch.int64)
    positions = torch.zeros((B, P), dtype=torch.int64)
    padding = torch.ones((B, P + new_tokens), dtype=torch.bool)
    padding[:, P:] = False
    for b, prompt in enumerate(prompts):
        offset = P - len(prompt)
        tokens[b, offset:] = torch.tensor(prompt)
        positions[b, offset:] = torch.arange(len(prompt))
        padding[b, offset:P] = False
    padded = bool(padding.any())
    room = P + new_tokens
    cache = [(torch.empty(B, model.n_kv_heads, room, model.head_dim), torch.empty(B, model.n_kv_heads, room, model.head_dim))
             for _ in range(model.n_layers)]
    started = time.perf_counter()
    with torch.inference_mode():
        causal = torch.ones(P, P, dtype=torch.bool).tril()
        visible = causal.view(1, 1, P, P) & ~padding[:, :P].view(B, 1, 1, P)
        logits = model.forward(tokens, positions, visible, cache, 0)
        next_position = positions[:, -1:] + 1
        generated = []
        for step in range(new_tokens):
            token = logits.argmax(-1, keepdim=True)  # (B, 1)
            generated.append(token)
            if step + 1 == new_tokens:
                break
            S = P + step + 1
            visible = ~padding[:, :S].view(B, 1, 1, S) if padded else None
            logits = model.forward(token, next_position + step, visible, cache, P + step)
    seconds = time.perf_counter() - started
    return torch.cat(generated, 1).tolist(), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model folder written by `medcode train` (base or LoRA)")
    parser.add_argument("--texts", required=True, help="a folder of .txt notes or a JSON Lines file with `text`")
    parser.add_argument("--notes", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3, help="runs per batch size; the median is reported")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config, weights, tokenizer_path = load_folder(args.model)
    model = Llama(config, weights)
    tokenizer = sentencepiece.SentencePieceProcessor(model_file=str(tokenizer_path))
    # predict's budget: half of max_seq_len, at most 64 tokens, is kept for the completion
    max_seq_len = config["max_position_embeddings"]
    budget = max_seq_len - min(64, max_seq_len // 2)
    new_tokens = min(args.new_tokens, max_seq_len - budget)
    source = Path(args.texts)
    if source.is_dir():
        texts = [path.read_text() for path in sorted(source.glob("*.txt"))]
    else:
        texts = [json.loads(line)["text"] for line in source.read_text().splitlines() if line.strip()]
    texts = (texts * (1 + args.notes // max(1, len(texts))))[: args.notes]
    prompts = [encode_prompt(tokenizer, text, budget) for text in texts]

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (OpenBLAS "
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'its default')}); {len(prompts)} prompts of "
          f"{statistics.mean(len(p) for p in prompts):.0f} tokens (budget {budget}), {new_tokens} new tokens each")
    print("| decoding | batch | notes | generated tokens | decode tokens/s (median) | runs |")
    print("|---|---|---|---|---|---|")
    for batch in (1, 16):
        rates = []
        for _ in range(args.runs):
            generated, seconds = 0, 0.0
            for start in range(0, len(prompts), batch):
                ids, elapsed = decode_batch(model, prompts[start : start + batch], new_tokens)
                generated += sum(len(row) for row in ids)
                seconds += elapsed
            rates.append(generated / seconds)
        print(f"| greedy (PyTorch eager) | {batch} | {len(prompts)} | {generated} | {statistics.median(rates):,.0f} | "
              f"{', '.join(f'{r:,.0f}' for r in rates)} |")


if __name__ == "__main__":
    main()
