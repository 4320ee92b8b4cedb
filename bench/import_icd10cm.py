#!/usr/bin/env python3
"""Times `medcode import icd10cm` side by side with the Python standard-library anchor.

Each command runs --runs times into a fresh store, alternating so that machine noise hits both alike;
the median wall time of each and their ratio are printed (and written as JSON with --json).

With --before OTHER_MEDCODE (a build of an earlier commit) that binary runs in the same rotation, so that a
change is measured before and after on the same machine at the same time.

usage: bench/import_icd10cm.py [--medcode BUILD/src/cli/medcode] [--before OTHER] [--data ../shared/data] [--runs 7]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(command, env=None):
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medcode", default=os.path.join(ROOT, "build", "src", "cli", "medcode"))
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--anchor", default=None, help="anchor script (default: DATA/../bench/anchors/...)")
    parser.add_argument("--before", default=None, help="an earlier medcode binary to time alongside")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    data = os.path.abspath(args.data)
    anchor = args.anchor or os.path.join(data, "..", "bench", "anchors", "import_icd10cm_python.py")
    tabular = os.path.join(data, "cms", "icd10cm", "2023", "icd10cm_tabular_2023.xml.gz")
    index = os.path.join(data, "cms", "icd10cm", "2023", "icd10cm_index_2023.xml.gz")
    for path in (args.medcode, anchor, tabular, index) + ((args.before,) if args.before else ()):
        if not os.path.exists(path):
            sys.exit(f"missing: {path}")

    work = tempfile.mkdtemp(prefix="medcode-bench-")
    env = dict(os.environ, MEDCODE_CONFIG="")
    cases = {
        "medcode tabular+index": lambda db: [args.medcode, "--quiet", "--db", db, "import", "icd10cm",
                                             "--year", "2023", tabular, index],
        "medcode tabular": lambda db: [args.medcode, "--quiet", "--db", db, "import", "icd10cm",
                                       "--year", "2023", tabular],
        "python anchor tabular": lambda db: [sys.executable, anchor, tabular, db],
    }
    if args.before:
        cases["before tabular+index"] = lambda db: [args.before, "--quiet", "--db", db, "import", "icd10cm",
                                                    "--year", "2023", tabular, index]
        cases["before tabular"] = lambda db: [args.before, "--quiet", "--db", db, "import", "icd10cm",
                                              "--year", "2023", tabular]
    times = {name: [] for name in cases}
    try:
        for run in range(args.runs):
            for name, command in cases.items():
                db = os.path.join(work, f"{run}-{len(times[name])}-{name.replace(' ', '_')}.db")
                times[name].append(timed(command(db), env))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    medians = {name: statistics.median(values) for name, values in times.items()}
    anchor_time = medians["python anchor tabular"]
    result = {
        "runs": args.runs,
        "median_seconds": medians,
        "speedup_vs_anchor": {name: anchor_time / value for name, value in medians.items()},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'command':28} {'median s':>9} {'vs anchor':>10}")
    for name, value in medians.items():
        print(f"{name:28} {value:9.3f} {anchor_time / value:9.2f}x")


if __name__ == "__main__":
    main()
