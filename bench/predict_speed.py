#!/usr/bin/env python3
"""Decode speed and latency of `medcode predict` on the CPU: the same notes at batch 1 and batch 16, greedy
(and beam 4 with --beams 1 4), constrained to the release's valid codes, for each --threads count (0: as many
as the cores available). Figures come from the per-note times medcode reports (encoding and decoding; loading
the model and the code trie is timed apart, as the whole command). Each row is the median of --runs runs.

    bench/predict_speed.py --db medcode.db --model medcode-output/model/lora \
        --dataset medcode-output/descriptions-to-codes.golden.test.jsonl --notes 64 --threads 1 2 0

--medcode takes several programs (say a build before and after a change) and interleaves their runs, so that
a busy machine weighs on each alike.
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


def run_once(medcode, db, model, inputs, batch, beam, threads):
    command = [medcode, "--db", db, "--quiet", "predict", "--model", model, "--input", inputs, "--batch-size",
               str(batch), "--beam", str(beam), "--threads", str(threads)]
    started = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - started
    rows = [json.loads(line) for line in out.splitlines()]
    generated = sum(row["generated_tokens"] for row in rows)
    decode_seconds = sum(row["milliseconds"] for row in rows) / 1000
    # A note's latency is its whole batch's time: it waits for the batch.
    latencies = sorted(row["milliseconds"] * batch for row in rows)
    return {"notes": len(rows), "generated": generated, "rate": generated / decode_seconds,
            "mean": statistics.mean(latencies), "p95": latencies[int(0.95 * (len(latencies) - 1))], "wall": wall}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--medcode", nargs="+", default=[str(ROOT / "build" / "src" / "cli" / "medcode")])
    parser.add_argument("--db", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", required=True, help="JSON Lines with a `text` field per line")
    parser.add_argument("--notes", type=int, default=64)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--beams", type=int, nargs="+", default=[1])
    parser.add_argument("--runs", type=int, default=3)
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

    several = len(args.medcode) > 1
    print(("| program " if several else "") + "| decoding | threads | batch | notes | generated tokens | "
          "decode tokens/s (median) | runs | latency per note (mean, p95) | whole command |")
    print(("|---" if several else "") + "|---|---|---|---|---|---|---|---|---|")
    for beam in args.beams:
        for threads in args.threads:
            for batch in args.batches:
                results = {medcode: [] for medcode in args.medcode}
                for _ in range(args.runs):
                    for medcode in args.medcode:
                        results[medcode].append(run_once(medcode, args.db, args.model, inputs.name, batch, beam,
                                                          threads))
                for medcode, runs in results.items():
                    middle = sorted(runs, key=lambda run: run["rate"])[len(runs) // 2]
                    name = "greedy" if beam == 1 else f"beam {beam}"
                    rates = ", ".join(f"{run['rate']:,.0f}" for run in runs)
                    print((f"| {medcode} " if several else "") +
                          f"| {name} | {threads if threads else 'default'} | {batch} | {middle['notes']} | "
                          f"{middle['generated']} | {middle['rate']:,.0f} | {rates} | {middle['mean']:.1f} ms, "
                          f"{middle['p95']:.1f} ms | {middle['wall']:.2f} s |", flush=True)


if __name__ == "__main__":
    main()
