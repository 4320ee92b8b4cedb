#!/usr/bin/env python3
"""Training throughput and peak memory: `medcode train --stage base` against the same loop in Python PyTorch
eager (bench/python_train_loop.py), on the same token set, model sizes, batches and thread count, alternating
runs. Needs a store with a token set (`medcode run` then `medcode tokenize`, see bench/README.md) and Debian's
python3-torch (the same 1.13 LibTorch medcode links).

    bench/train_throughput.py --db medcode.db --token-set default --config small --steps 30 --runs 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(command):
    # Popen.communicate() reaps the child; wait4 on a fresh fork gives its own peak RSS.
    pid = os.fork()
    if pid == 0:
        with open(os.devnull, "w") as devnull:
            out_path = command[-1]
            os.dup2(os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
            os.dup2(devnull.fileno(), 2)
            os.execvp(command[0], command[:-1])
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command[:-1])} failed with {os.waitstatus_to_exitcode(status)}")
    return json.loads(Path(command[-1]).read_text()), usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--medcode", default=str(ROOT / "build" / "src" / "cli" / "medcode"))
    parser.add_argument("--db", required=True)
    parser.add_argument("--token-set", default="default")
    parser.add_argument("--config", default="small")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    results = {"medcode": [], "python": []}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for run in range(args.runs):
            out_dir = scratch / f"model-{run}"
            medcode = [args.medcode, "--db", args.db, "--quiet", "--json", "train", "--stage", "base",
                       "--token-set", args.token_set, "--config", args.config, "--out", str(out_dir),
                       "--max-steps", str(args.steps), "--batch-size", str(args.batch_size),
                       "--threads", str(args.threads), "--eval-every", "0", "--checkpoint-every", "0",
                       "--log-every", str(args.steps), str(scratch / "medcode.json")]
            summary, rss = measure(medcode)
            results["medcode"].append((summary["tokens_per_second"], rss, summary["tokens"]))
            python = [sys.executable, str(ROOT / "bench" / "python_train_loop.py"), "--db", args.db,
                      "--token-set", args.token_set, "--config", str(out_dir / "config.json"),
                      "--steps", str(args.steps), "--batch-size", str(args.batch_size),
                      "--threads", str(args.threads), str(scratch / "python.json")]
            summary, rss = measure(python)
            results["python"].append((summary["tokens_per_second"], rss, summary["tokens"]))
            print(f"run {run + 1}: medcode {results['medcode'][-1][0]:.0f} tokens/s, "
                  f"python {results['python'][-1][0]:.0f} tokens/s", file=sys.stderr)

    anchor = statistics.median(r[0] for r in results["python"])
    print(f"| loop | tokens/run | median tokens/s | vs Python | peak memory |")
    print(f"|---|---|---|---|---|")
    for name in ("medcode", "python"):
        rows = results[name]
        speed = statistics.median(r[0] for r in rows)
        print(f"| {name} | {rows[0][2]} | {speed:,.0f} | {speed / anchor:.2f}x | "
              f"{max(r[1] for r in rows):.0f} MiB |")


if __name__ == "__main__":
    main()
