#!/usr/bin/env python3
"""Throughput of `medcode generate` against the fake provider, side by side with a sequential client.

Starts bench's fake_provider_server on loopback with a fixed latency and a requests-per-minute limit, then runs
`medcode generate --task descriptions` three ways on fresh copies of one FY2023 store:

  limit     one code a request (--batch-size 1): how much of the rate limit the engine uses
  adaptive  the default adaptive batching: items per second when requests carry several codes
  naive     one request at a time, one code a request (concurrency fixed at 1): the sequential approach

For each it reports wall time, items/s, requests/s as a fraction of the limit, the client's CPU time per
request (user + system of the medcode process) and its peak memory (max RSS).

usage: bench/generate_throughput.py [--items 5000] [--naive-items 300] [--latency-ms 100] [--rpm 3000] [--json]
"""
import argparse, json, os, shutil, sqlite3, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_measured(command, env):
    """Runs command; returns (wall seconds, user+sys CPU seconds, max RSS in MiB)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stderr = process.stderr.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(command)} exited {code}: {stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def start_server(server, latency_ms, rpm, window_s=0):
    """Starts fake_provider_server; returns (process, port). window_s > 0: limits counted in fixed windows."""
    process = subprocess.Popen([server, "--port", "0", "--latency-ms", str(latency_ms), "--rpm", str(rpm),
                                "--window-s", str(window_s)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line.startswith("listening on "):
        sys.exit(f"fake provider did not start: {line!r}")
    return process, int(line.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medcode", default=os.path.join(ROOT, "build", "src", "cli", "medcode"))
    parser.add_argument("--server", default=os.path.join(ROOT, "build", "bench", "fake_provider_server"))
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--naive-items", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--rpm", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    tabular = os.path.join(args.data, "cms", "icd10cm", "2023", "icd10cm_tabular_2023.xml.gz")
    for path in (args.medcode, args.server, tabular):
        if not os.path.exists(path):
            sys.exit(f"missing: {path} (build with -DMEDCODE_BUILD_BENCH=ON)")

    work = tempfile.mkdtemp(prefix="medcode-bench-generate-")
    server, port = start_server(args.server, args.latency_ms, args.rpm)
    try:
        base_db = os.path.join(work, "base.db")
        env = dict(os.environ, MEDCODE_CONFIG="")
        subprocess.run([args.medcode, "--quiet", "--db", base_db, "import", "icd10cm", "--year", "2023", tabular],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        config = os.path.join(work, "medcode.yaml")
        common = (f"    provider: openai\n    model_id: bench\n    base_url: http://127.0.0.1:{port}/v1\n"
                  f"    api_key_env: \"\"\n    input_per_million: 0.15\n    output_per_million: 0.6\n"
                  f"    requests_per_minute: {args.rpm}\n    tokens_per_minute: 0\n")
        with open(config, "w") as out:
            out.write("models:\n  bench:\n" + common + "    max_concurrency: 64\n"
                      "  naive:\n" + common + "    initial_concurrency: 1\n    max_concurrency: 1\n")
        env = dict(os.environ, MEDCODE_CONFIG=config)
        cases = [("limit", "bench", args.items, ["--batch-size", "1"]),
                 ("adaptive", "bench", args.items, []),
                 ("naive", "naive", args.naive_items, ["--batch-size", "1"])]
        results = {}
        for name, model, items, extra in cases:
            db = os.path.join(work, f"{name}.db")
            shutil.copyfile(base_db, db)
            command = [args.medcode, "--quiet", "--db", db, "generate", "--task", "descriptions", "--model", model,
                       "--sample", str(items), "--count", "1"] + extra
            wall, cpu, rss = run_measured(command, env)
            with sqlite3.connect(db) as store:
                requests = store.execute("SELECT count(*) FROM llm_attempts").fetchone()[0]
                done = store.execute("SELECT count(*) FROM generation_items WHERE status = 'done'").fetchone()[0]
            results[name] = {
                "items": done, "requests": requests, "seconds": round(wall, 2),
                "items_per_second": round(done / wall, 1),
                "requests_per_second": round(requests / wall, 1),
                "fraction_of_limit": round(requests / wall / (args.rpm / 60), 3),
                "cpu_ms_per_request": round(1000 * cpu / max(requests, 1), 3),
                "peak_rss_mib": round(rss, 1),
            }
        results["adaptive_vs_naive_items_per_second"] = round(
            results["adaptive"]["items_per_second"] / results["naive"]["items_per_second"], 1)
        results["limit_vs_naive_items_per_second"] = round(
            results["limit"]["items_per_second"] / results["naive"]["items_per_second"], 1)
    finally:
        server.stdin.close()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"fake provider: {args.latency_ms} ms latency, {args.rpm} requests/min limit ({args.rpm / 60:.0f}/s)")
    print(f"{'case':<10} {'items':>6} {'requests':>9} {'seconds':>8} {'items/s':>8} {'req/s':>7} "
          f"{'of limit':>9} {'CPU ms/req':>11} {'peak MiB':>9}")
    for name in ("limit", "adaptive", "naive"):
        r = results[name]
        print(f"{name:<10} {r['items']:>6} {r['requests']:>9} {r['seconds']:>8} {r['items_per_second']:>8} "
              f"{r['requests_per_second']:>7} {r['fraction_of_limit']:>9} {r['cpu_ms_per_request']:>11} "
              f"{r['peak_rss_mib']:>9}")
    print(f"items/s vs naive: limit {results['limit_vs_naive_items_per_second']}x, "
          f"adaptive {results['adaptive_vs_naive_items_per_second']}x")


if __name__ == "__main__":
    main()
