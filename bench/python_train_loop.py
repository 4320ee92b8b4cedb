#!/usr/bin/env python3
"""The anchor of bench/train_throughput.py: medcode's base-stage training loop written in Python PyTorch eager.

Same model (the reference implementation in scripts/reference/llama_reference.py, built from the same
config.json sizes), same token set read from the store, same batches in the same order (the trainer's
seeded Fisher-Yates shuffle over mt19937_64), same AdamW groups, schedule and clipping, same thread count.
Prints one JSON line: tokens, step_seconds, tokens_per_second, final loss.
"""
import argparse
import json
import math
import sqlite3
import struct
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts" / "reference"))
import llama_reference  # noqa: E402

IGNORE = -100
PAD = 0


class MT19937_64:
    """std::mt19937_64, so the batches are those of medcode's trainer."""

    def __init__(self, seed):
        self.mt = [0] * 312
        self.index = 312
        self.mt[0] = seed & 0xFFFFFFFFFFFFFFFF
        for i in range(1, 312):
            self.mt[i] = (6364136223846793005 * (self.mt[i - 1] ^ (self.mt[i - 1] >> 62)) + i) & 0xFFFFFFFFFFFFFFFF

    def __call__(self):
        if self.index >= 312:
            for i in range(312):
                x = (self.mt[i] & 0xFFFFFFFF80000000) | (self.mt[(i + 1) % 312] & 0x7FFFFFFF)
                xa = x >> 1
                if x & 1:
                    xa ^= 0xB5026F5AA96619E9
                self.mt[i] = self.mt[(i + 156) % 312] ^ xa
            self.index = 0
        y = self.mt[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & 0xFFFFFFFFFFFFFFFF


def load_examples(db, token_set):
    con = sqlite3.connect(db)
    (set_id,) = con.execute("SELECT id FROM token_sets WHERE name = ?", (token_set,)).fetchone()
    rows = []
    for split in ("train", "corpus"):
        for ids, mask in con.execute(
            "SELECT input_ids, loss_mask FROM token_examples WHERE token_set_id = ? AND split = ? ORDER BY seq",
            (set_id, split),
        ):
            rows.append((list(struct.unpack(f"<{len(ids) // 4}i", ids)), list(mask)))
    return rows


def epoch_order(n, seed, epoch):
    order = list(range(n))
    random = MT19937_64((seed * 0x9E3779B97F4A7C15 + epoch) & 0xFFFFFFFFFFFFFFFF)
    for i in range(n, 1, -1):
        j = random() % i
        order[i - 1], order[j] = order[j], order[i - 1]
    return order


def batch(examples, index, batch_size, seed, loss_on_all, cache):
    per_epoch = (len(examples) + batch_size - 1) // batch_size
    epoch, within = divmod(index, per_epoch)
    if cache.get("epoch") != epoch:
        cache["epoch"], cache["order"] = epoch, epoch_order(len(examples), seed, epoch)
    rows = [examples[cache["order"][(within * batch_size + i) % len(examples)]] for i in range(batch_size)]
    length = max(2, max(len(ids) for ids, _ in rows)) - 1
    inputs = torch.full((batch_size, length), PAD, dtype=torch.int64)
    targets = torch.full((batch_size, length), IGNORE, dtype=torch.int64)
    tokens = 0
    for r, (ids, mask) in enumerate(rows):
        n = len(ids)
        inputs[r, : n - 1] = torch.tensor(ids[:-1])
        counted = torch.tensor([loss_on_all or m != 0 for m in mask[1:]])
        targets[r, : n - 1] = torch.where(counted, torch.tensor(ids[1:]), torch.tensor(IGNORE))
        tokens += n - 1
    return inputs, targets, tokens


def learning_rate(step, peak, warmup, max_steps, min_ratio):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    floor = peak * min_ratio
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--token-set", default="default")
    parser.add_argument("--config", required=True, help="a config.json written by medcode train")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = json.loads(Path(args.config).read_text())
    model = llama_reference.LlamaForCausalLM(config)
    with torch.no_grad():
        for parameter in model.parameters():  # medcode's initialisation: normal(0, 0.02), norms at 1
            parameter.copy_(torch.ones_like(parameter) if parameter.dim() == 1 else 0.02 * torch.randn_like(parameter))
    model.train()
    examples = load_examples(args.db, args.token_set)
    decayed = [p for p in model.parameters() if p.dim() >= 2]
    plain = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decayed, "weight_decay": 0.1}, {"params": plain, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8,
    )
    cache = {}
    tokens = 0
    step_seconds = 0.0
    loss_value = 0.0
    for step in range(args.steps):
        started = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.lr, args.warmup_steps, args.steps, 0.1)
        optimizer.zero_grad()
        inputs, targets, n = batch(examples, step, args.batch_size, args.seed, True, cache)
        positions = torch.arange(inputs.size(1)).expand_as(inputs)
        logits = model(inputs, positions, torch.zeros_like(inputs, dtype=torch.bool))
        loss_sum = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=IGNORE, reduction="sum")
        counted = int((targets != IGNORE).sum())
        (loss_sum / max(1, counted)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        loss_value = loss_sum.item() / max(1, counted)
        step_seconds += time.perf_counter() - started
        tokens += n
    print(json.dumps({"tokens": tokens, "step_seconds": step_seconds,
                      "tokens_per_second": tokens / step_seconds, "final_train_loss": loss_value}))


if __name__ == "__main__":
    main()
