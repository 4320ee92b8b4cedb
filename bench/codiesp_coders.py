#!/usr/bin/env python3
"""Document coders on CodiEsp, all in one run: micro P/R/F1, MAP and P@8 of majority, bm25, index and
index+rerank on the English dev split (diagnoses, or procedures with --task P), the reranker trained on the
train split only and its threshold chosen on dev; then (diagnoses) the index coder's notes per second,
single-threaded and with every core.

    python3 bench/codiesp_coders.py [--medcode build/src/cli/medcode] [--task D]

Builds its own store in a temporary folder (ICD-10-CM 2023, and ICD-10-PCS 2023 with its Index for --task P)
from ../shared/data. Prints a Markdown table.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data")


def run(medcode, db, *args):
    result = subprocess.run([medcode, "--db", db, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"medcode {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--medcode", default=os.path.join(ROOT, "build", "src", "cli", "medcode"))
    parser.add_argument("--task", default="D", choices=["D", "P"])
    args = parser.parse_args()
    dev = os.path.join(DATA, "codiesp", "dev")
    train = os.path.join(DATA, "codiesp", "train")
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bench.db")
        run(args.medcode, db, "-q", "import", "icd10cm", "--year", "2023",
            os.path.join(DATA, "cms/icd10cm/2023/icd10cm_tabular_2023.xml.gz"),
            os.path.join(DATA, "cms/icd10cm/2023/icd10cm_index_2023.xml.gz"))
        if args.task == "P":
            run(args.medcode, db, "-q", "import", "icd10pcs", "--year", "2023",
                os.path.join(DATA, "cms/icd10pcs/2023/icd10pcs_codes_2023.txt.gz"),
                os.path.join(DATA, "cms/icd10pcs/2023/icd10pcs_index_2023.xml.gz"))
        coders = ["majority", "bm25"]
        reranker = os.path.join(tmp, "reranker.json")
        started = time.perf_counter()
        run(args.medcode, db, "-q", "reranker", "train", "--task", args.task, "--codiesp", train, "--dev", dev,
            "--out", reranker)
        print(f"reranker trained in {time.perf_counter() - started:.1f} s (train notes only; threshold on dev)\n")
        coders += ["index", f"index+rerank:{reranker}"]
        print(f"| CodiEsp dev, task {args.task} | micro P | micro R | micro F1 | MAP | P@8 | R@8 |")
        print("|---|---|---|---|---|---|---|")
        for coder in coders:
            out = json.loads(run(args.medcode, db, "-q", "--json", "evaluate", "--codiesp", dev, "--task",
                                 args.task, "--coder", coder))
            at8 = next(a for a in out["at_k"] if a["k"] == 8)
            name = "index+rerank" if coder.startswith("index+rerank") else coder
            print(f"| `{name}` | {out['micro']['precision']:.3f} | {out['micro']['recall']:.3f} | "
                  f"{out['micro']['f1']:.3f} | {out['map']:.3f} | {at8['precision']:.3f} | {at8['recall']:.3f} |")
        if args.task == "D":
            # Speed: the 250 dev notes through `evaluate`, the compiled Index already cached; the same command on
            # one short text measures start-up and the matcher's loading, which the notes/s leave out.
            def best_of_3(*command):
                best = None
                for _ in range(3):
                    started = time.perf_counter()
                    run(args.medcode, db, "-q", *command)
                    elapsed = time.perf_counter() - started
                    best = elapsed if best is None else min(best, elapsed)
                return best

            print()
            load = best_of_3("predict", "--coder", "index", "--text", "fever")
            print(f"index, start-up and loading the cached matcher: {load:.2f} s (best of 3)")
            for threads in ["1", "0"]:
                best = best_of_3("--json", "evaluate", "--codiesp", dev, "--coder", "index", "--threads", threads)
                label = "1 thread" if threads == "1" else f"{os.cpu_count()} threads"
                coding = max(best - load, 1e-3)
                print(f"index, {label}: 250 notes in {best:.2f} s (whole command, best of 3), "
                      f"{coding:.2f} s without the loading: {250 / coding:.0f} notes/s")

if __name__ == "__main__":
    main()
