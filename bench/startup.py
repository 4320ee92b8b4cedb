#!/usr/bin/env python3
"""Times medcode's start-up: `--version`, `--help` and `codes show S06.0X1A` on an imported store.

The store is made once by importing the FY2023 tabular. Each command then runs --runs times, the commands
alternating so that machine noise hits all alike, next to `sqlite3 STORE 'select 1'` as the floor (a process
that links SQLite and opens the same store). Prints the median wall time and peak RSS of each (each run under
/usr/bin/time, floor included) and the ratio of the time to the floor's; --json writes the same as JSON.

usage: bench/startup.py [--medcode build/src/cli/medcode] [--data ../shared/data] [--runs 30]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_MS = 30.0
TARGET_RSS_MIB = 20.0


def timed(command, env, cwd):
    """Wall seconds and peak RSS (KiB) of one run of `command`, whose output is discarded.

    The peak RSS comes from /usr/bin/time, a small C program: a child forked from this Python process would
    report Python's resident set as its own peak, since the kernel keeps the larger of before and after exec.
    """
    report = os.path.join(cwd, "time.out")
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report] + command, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)}: exit code {result.returncode}")
    with open(report) as lines:
        return elapsed, int(lines.read().split()[-1])


def prepare_store(medcode, tabular, work, env):
    store = os.path.join(work, "store.db")
    subprocess.run([medcode, "--quiet", "--db", store, "import", "icd10cm", "--year", "2023", tabular],
                   check=True, stdout=subprocess.DEVNULL, env=env, cwd=work)
    return store


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medcode", default=os.path.join(ROOT, "build", "src", "cli", "medcode"))
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--sqlite3", default=shutil.which("sqlite3"), help="the sqlite3 shell (the floor)")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    medcode = os.path.abspath(args.medcode)
    tabular = os.path.join(os.path.abspath(args.data), "cms", "icd10cm", "2023", "icd10cm_tabular_2023.xml.gz")
    for path in (medcode, tabular, args.sqlite3, "/usr/bin/time"):
        if not path or not os.path.exists(path):
            sys.exit(f"missing: {path} (the sqlite3 shell: apt-get install sqlite3; /usr/bin/time: apt-get install time)")

    work = tempfile.mkdtemp(prefix="medcode-startup-")
    # No config file or MEDCODE_* setting may change what is measured; the working directory has no medcode.yaml.
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEDCODE_")}
    try:
        store = prepare_store(medcode, tabular, work, env)
        cases = {
            "medcode --version": [medcode, "--version"],
            "medcode --help": [medcode, "--help"],
            "medcode codes show S06.0X1A": [medcode, "--db", store, "codes", "show", "S06.0X1A"],
            "sqlite3 STORE 'select 1'": [args.sqlite3, store, "select 1"],
        }
        for command in cases.values():  # once each, unmeasured: page cache and store warm alike
            timed(command, env, work)
        seconds = {name: [] for name in cases}
        rss_kib = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, command in cases.items():
                elapsed, peak = timed(command, env, work)
                seconds[name].append(elapsed)
                rss_kib[name].append(peak)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    floor = statistics.median(seconds["sqlite3 STORE 'select 1'"])
    result = {"runs": args.runs, "target_ms": TARGET_MS, "target_rss_mib": TARGET_RSS_MIB, "cases": {}}
    for name in cases:
        median_s = statistics.median(seconds[name])
        result["cases"][name] = {
            "median_ms": median_s * 1000,
            "min_ms": min(seconds[name]) * 1000,
            "peak_rss_mib": statistics.median(rss_kib[name]) / 1024,
            "vs_floor": median_s / floor,
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'command':30} {'median ms':>10} {'min ms':>8} {'peak RSS MiB':>13} {'vs floor':>9}")
    for name, case in result["cases"].items():
        print(f"{name:30} {case['median_ms']:10.1f} {case['min_ms']:8.1f} {case['peak_rss_mib']:13.1f}"
              f" {case['vs_floor']:8.2f}x")
    print(f"targets for medcode: under {TARGET_MS:.0f} ms and {TARGET_RSS_MIB:.0f} MiB peak RSS")


if __name__ == "__main__":
    main()
