#!/usr/bin/env python3
"""How much of a provider's rate limit `medcode generate` uses, and how many 429s it provokes, when the provider
counts its limit per second, per ten seconds or per minute.

Starts bench's fake_provider_server once per window length (--window-s 1, 10, 60: fixed windows, each allowing
its share of the per-minute limit), then runs `medcode generate --task descriptions --batch-size 1` (one code a
request, so requests are as many as items) on a fresh copy of one FY2023 store. Reports the answered requests
per second as a fraction of the limit, and the 429s the server sent.

usage: bench/rate_limits.py [--items 3000] [--rpm 3000] [--latency-ms 100] [--json]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

from generate_throughput import start_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medcode", default=os.path.join(ROOT, "build", "src", "cli", "medcode"))
    parser.add_argument("--server", default=os.path.join(ROOT, "build", "bench", "fake_provider_server"))
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--rpm", type=int, default=3000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--windows", default="1,10,60")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    tabular = os.path.join(args.data, "cms", "icd10cm", "2023", "icd10cm_tabular_2023.xml.gz")
    for path in (args.medcode, args.server, tabular):
        if not os.path.exists(path):
            sys.exit(f"missing: {path} (build with -DMEDCODE_BUILD_BENCH=ON)")

    work = tempfile.mkdtemp(prefix="medcode-bench-limits-")
    results = []
    try:
        base_db = os.path.join(work, "base.db")
        subprocess.run([args.medcode, "--quiet", "--db", base_db, "import", "icd10cm", "--year", "2023", tabular],
                       check=True, env=dict(os.environ, MEDCODE_CONFIG=""), stdout=subprocess.DEVNULL)
        for window in [int(w) for w in args.windows.split(",")]:
            server, port = start_server(args.server, args.latency_ms, args.rpm, window)
            config = os.path.join(work, f"medcode-{window}.yaml")
            with open(config, "w") as out:
                out.write(f"models:\n  bench:\n    provider: openai\n    model_id: bench\n"
                          f"    base_url: http://127.0.0.1:{port}/v1\n    api_key_env: \"\"\n"
                          f"    input_per_million: 0.15\n    output_per_million: 0.6\n"
                          f"    requests_per_minute: {args.rpm}\n    tokens_per_minute: 0\n"
                          f"    max_concurrency: 64\n    max_attempts: 20\n")
            db = os.path.join(work, f"w{window}.db")
            shutil.copyfile(base_db, db)
            started = time.perf_counter()
            result = subprocess.run([args.medcode, "--quiet", "--db", db, "generate", "--task", "descriptions",
                                     "--model", "bench", "--sample", str(args.items), "--count", "1",
                                     "--batch-size", "1"],
                                    env=dict(os.environ, MEDCODE_CONFIG=config), capture_output=True, text=True)
            wall = time.perf_counter() - started
            server.stdin.close()
            summary = server.stdout.read().strip().splitlines()[-1]
            server.wait(timeout=10)
            if result.returncode != 0:
                sys.exit(f"generate exited {result.returncode}: {result.stderr[-2000:]}")
            served, limited = int(summary.split()[1]), int(summary.split()[3])
            answered = served - limited
            results.append({"window_seconds": window, "requests_answered": answered, "answered_429": limited,
                            "seconds": round(wall, 1),
                            "fraction_of_limit": round(answered / wall / (args.rpm / 60), 3)})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"fake provider: {args.latency_ms} ms latency, {args.rpm} requests/min; generate --batch-size 1, "
          f"{args.items} items")
    print("| provider's window | answered | 429s | seconds | of the limit |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['window_seconds']} s | {r['requests_answered']} | {r['answered_429']} | {r['seconds']} | "
              f"{r['fraction_of_limit']} |")


if __name__ == "__main__":
    main()
