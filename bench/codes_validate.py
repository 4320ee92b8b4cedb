#!/usr/bin/env python3
"""Times `medcode codes validate -` on 100,000 codes from stdin, in codes per second.

The store is made once by importing the FY2023 tabular. The codes are drawn from that release with a fixed
seed: billable codes as printed, billable codes written differently (lower case, without the dot, with spaces
around), headers (not billable), well-formed codes the release lacks, and malformed text. The command runs
--runs times with text output and with --json, alternating; the median wall time of each gives codes/s.

usage: bench/codes_validate.py [--medcode build/src/cli/medcode] [--data ../shared/data] [--codes 100000]
"""
import argparse, json, os, random, shutil, sqlite3, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MALFORMED = ["XYZ", "1234", "E1", "E11..9", "E11.9.1", "U", "??", "E11-9", "S06.0X1AA", "ZZZZZZZZ", "0A1.2"]


def respelled(code, rng):
    """The code as people write it: lower case, without the dot, padded with spaces, or all of these."""
    choice = rng.randrange(4)
    if choice == 0:
        return code.lower()
    if choice == 1:
        return code.replace(".", "")
    if choice == 2:
        return f"  {code} "
    return code.replace(".", "").lower()


def absent(code, known, rng):
    """A well-formed code near `code` that the release does not have."""
    for _ in range(20):
        candidate = code[:-1] + rng.choice("0123456789ABCDEFGHJKLMNPQRSTVWXYZ")
        if len(code.replace(".", "")) == 3:
            candidate = code + "." + rng.choice("0123456789")
        if candidate not in known:
            return candidate
    return code + "9"  # one character longer than any code below it


def draw_codes(store, n_codes, seed):
    db = sqlite3.connect(store)
    rows = db.execute("SELECT code, billable FROM codes ORDER BY code").fetchall()
    db.close()
    billable = [code for code, is_billable in rows if is_billable]
    headers = [code for code, is_billable in rows if not is_billable]
    known = {code for code, _ in rows}
    rng = random.Random(seed)
    # (weight, maker): valid 60 % (as printed or respelled), not billable 10 %, absent 15 %, malformed 15 %
    makers = [
        (40, lambda: rng.choice(billable)),
        (20, lambda: respelled(rng.choice(billable), rng)),
        (10, lambda: rng.choice(headers)),
        (15, lambda: absent(rng.choice(billable), known, rng)),
        (15, lambda: rng.choice(MALFORMED)),
    ]
    weights = [weight for weight, _ in makers]
    return [rng.choices(makers, weights)[0][1]() for _ in range(n_codes)]


def timed(command, stdin_path, env):
    with open(stdin_path, "rb") as stdin:
        start = time.perf_counter()
        result = subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env)
        elapsed = time.perf_counter() - start
    if result.returncode not in (0, 3):  # 3: some codes are invalid, as drawn
        sys.exit(f"{' '.join(command)}: exit code {result.returncode}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medcode", default=os.path.join(ROOT, "build", "src", "cli", "medcode"))
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--codes", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    medcode = os.path.abspath(args.medcode)
    tabular = os.path.join(os.path.abspath(args.data), "cms", "icd10cm", "2023", "icd10cm_tabular_2023.xml.gz")
    for path in (medcode, tabular):
        if not os.path.exists(path):
            sys.exit(f"missing: {path}")

    work = tempfile.mkdtemp(prefix="medcode-validate-")
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEDCODE_")}
    try:
        store = os.path.join(work, "store.db")
        subprocess.run([medcode, "--quiet", "--db", store, "import", "icd10cm", "--year", "2023", tabular],
                       check=True, stdout=subprocess.DEVNULL, env=env, cwd=work)
        codes_path = os.path.join(work, "codes.txt")
        with open(codes_path, "w") as out:
            out.write("\n".join(draw_codes(store, args.codes, args.seed)) + "\n")
        cases = {
            "text": [medcode, "--db", store, "codes", "validate", "-"],
            "--json": [medcode, "--db", store, "--json", "codes", "validate", "-"],
        }
        seconds = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, command in cases.items():
                seconds[name].append(timed(command, codes_path, env))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result = {"codes": args.codes, "runs": args.runs, "seed": args.seed, "cases": {}}
    for name, values in seconds.items():
        median_s = statistics.median(values)
        result["cases"][name] = {"median_seconds": median_s, "codes_per_second": args.codes / median_s}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"`medcode codes validate -` on {args.codes:,} codes, median of {args.runs} runs")
    print(f"{'output':8} {'median s':>9} {'codes/s':>10}")
    for name, case in result["cases"].items():
        print(f"{name:8} {case['median_seconds']:9.3f} {case['codes_per_second']:10,.0f}")


if __name__ == "__main__":
    main()
