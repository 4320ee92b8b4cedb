#!/usr/bin/env python3
"""Decode speed and latency of `medcode predict` on the CPU: the same notes at batch 1 and batch 16, greedy
(and beam 4 for comparison), constrained to the release's valid codes. Figures come from the per-note times
medcode reports (decoding only; loading the model and the code trie is timed apart, as the whole command).

    bench/predict_speed.py --db medcode.db --model medcode-output/model/lora \
        --dataset medcode-output/descriptions-to-codes.golden.test.jsonl --notes 64
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--medcode", default=str(ROOT / "build" / "src" / "cli" / "medcode"))
    parser.add_argument("--db", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", required=True, help="JSON Lines with a `text` field per line")
    parser.add_argument("--notes", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    texts = []
    for line in Path(args.dataset).read_text().splitlines():
        if line.strip():
            texts.append(json.loads(line)["text"])
    while len(texts) < args.notes:
        texts += texts
    texts = texts[: args.notes]
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as inputs:
        for i, text in enumerate(texts):
            inputs.write(json.dumps({"id": i, "text": text}) + "\n")

    print("| decoding | batch | notes | generated tokens | decode tokens/s | latency per note (mean, p95) | whole command |")
    print("|---|---|---|---|---|---|---|")
    for beam in (1, 4):
        for batch in (1, 16):
            command = [args.medcode, "--db", args.db, "--quiet", "predict", "--model", args.model, "--input",
                       inputs.name, "--batch-size", str(batch), "--beam", str(beam), "--threads", str(args.threads)]
            started = time.perf_counter()
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            wall = time.perf_counter() - started
            rows = [json.loads(line) for line in out.splitlines()]
            generated = sum(row["generated_tokens"] for row in rows)
            decode_seconds = sum(row["milliseconds"] for row in rows) / 1000
            # A note's latency is its whole batch's time: it waits for the batch.
            latencies = sorted(row["milliseconds"] * batch for row in rows)
            p95 = latencies[int(0.95 * (len(latencies) - 1))]
            name = "greedy" if beam == 1 else f"beam {beam}"
            print(f"| {name} | {batch} | {len(rows)} | {generated} | {generated / decode_seconds:,.0f} | "
                  f"{statistics.mean(latencies):.1f} ms, {p95:.1f} ms | {wall:.2f} s |")


if __name__ == "__main__":
    main()
