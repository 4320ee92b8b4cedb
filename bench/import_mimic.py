#!/usr/bin/env python3
"""Times `medcode import mimic-iv` in rows/s, side by side with two anchors, on the demo's largest tables and
on a larger synthetic table it generates.

Anchors: the sqlite3 shell's `.import` (C, no type checks) into a table with the same column types and index,
and Python's csv module with sqlite3 executemany. Each case runs --runs times into a fresh store, alternating
so that machine noise hits all alike; the median wall time (whole process, file read to indexed table) and
rows/s of each are printed (and written as JSON with --json), with medcode's own time for the table (what
it reports, without process start-up and store creation).

usage: bench/import_mimic.py [--medcode BUILD/src/cli/medcode] [--data ../shared/data] [--rows 5000000]
                             [--runs 3] [--json]
"""
import argparse, csv, gzip, json, os, random, shutil, sqlite3, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The narrow table generated: the layout of MIMIC-IV hosp/diagnoses_icd.
NARROW_HEADER = ["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"]
NARROW_TYPES = ["INTEGER", "INTEGER", "INTEGER", "TEXT", "INTEGER"]


def generate_narrow(path, rows, seed=42):
    rng = random.Random(seed)
    codes = [f"{rng.randint(0, 99999):05d}" for _ in range(2000)] + \
            [f"{chr(65 + rng.randint(0, 25))}{rng.randint(0, 9999):04d}" for _ in range(2000)]
    with gzip.open(path, "wt", compresslevel=1, newline="") as out:
        out.write(",".join(NARROW_HEADER) + "\n")
        subject = 10000000
        hadm = 20000000
        seq = 0
        lines = []
        for _ in range(rows):
            seq += 1
            if seq > 12:
                seq = 1
                hadm += 1
                if rng.random() < 0.3:
                    subject += 1
            code = codes[rng.randrange(len(codes))]
            lines.append(f"{subject},{hadm},{seq},{code},{9 if code[0].isdigit() else 10}\n")
            if len(lines) == 100000:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))


def python_anchor(csv_gz, db, types, index_column):
    """Python's csv + sqlite3 executemany, one transaction, then the index: how a script would do it."""
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    with gzip.open(csv_gz, "rt", newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        columns = ", ".join(f'"{name}" {kind}' for name, kind in zip(header, types))
        connection.execute(f"CREATE TABLE t ({columns})")
        placeholders = ", ".join("?" for _ in header)
        convert = [int if kind == "INTEGER" else float if kind == "REAL" else str for kind in types]

        def rows():
            for row in reader:
                yield [None if value == "" else f(value) for f, value in zip(convert, row)]

        with connection:
            connection.executemany(f"INSERT INTO t VALUES ({placeholders})", rows())
            connection.execute(f'CREATE INDEX t_by_{index_column} ON t("{index_column}")')
    connection.close()


def sqlite_shell_anchor(sqlite3_bin, csv_gz, db, header, types, index_column):
    columns = ", ".join(f'"{name}" {kind}' for name, kind in zip(header, types))
    script = (f"PRAGMA journal_mode = WAL;\nPRAGMA synchronous = NORMAL;\nCREATE TABLE t ({columns});\n"
              f".import --csv --skip 1 '|gzip -dc {csv_gz}' t\n"
              f'CREATE INDEX t_by_{index_column} ON t("{index_column}");\n')
    subprocess.run([sqlite3_bin, db], input=script.encode(), check=True, stdout=subprocess.DEVNULL)


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def demo_types(medcode, data, table):
    """The column types medcode gives a demo table, read back from a store it imported."""
    work = tempfile.mkdtemp(prefix="medcode-bench-types-")
    try:
        db = os.path.join(work, "t.db")
        subprocess.run([medcode, "--quiet", "--db", db, "import", "mimic-iv", data, "--tables", table,
                        "--no-verify"], check=True, stdout=subprocess.DEVNULL)
        connection = sqlite3.connect(db)
        info = connection.execute(f"PRAGMA table_info(mimic4_{table})").fetchall()
        connection.close()
        return [row[1] for row in info], [row[2] for row in info]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medcode", default=os.path.join(ROOT, "build", "src", "cli", "medcode"))
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--sqlite3", default=shutil.which("sqlite3"))
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows of the synthetic narrow table")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    demo = os.path.join(os.path.abspath(args.data), "mimic-iv-demo-2.2")
    for path in (args.medcode, demo):
        if not os.path.exists(path):
            sys.exit(f"missing: {path}")

    work = tempfile.mkdtemp(prefix="medcode-bench-")
    synthetic = os.path.join(work, "synthetic")
    os.makedirs(os.path.join(synthetic, "hosp"))
    narrow = os.path.join(synthetic, "hosp", "diagnoses_icd.csv.gz")
    print(f"generating {args.rows} rows of hosp/diagnoses_icd ...", file=sys.stderr)
    generate_narrow(narrow, args.rows)

    # (table label, folder, medcode table, csv.gz, rows, header, types, index column)
    tables = [("synthetic diagnoses_icd (5 cols)", synthetic, "diagnoses_icd", narrow, args.rows, NARROW_HEADER,
               NARROW_TYPES, "hadm_id")]
    for table, rows in (("labevents", 107727), ("emar_detail", 72018)):
        header, types = demo_types(args.medcode, demo, table)
        index = "hadm_id" if "hadm_id" in header else header[1]
        tables.append((f"demo {table} ({len(header)} cols)", demo, table,
                       os.path.join(demo, "hosp", f"{table}.csv.gz"), rows, header, types, index))

    results = []
    try:
        for label, folder, table, csv_gz, rows, header, types, index in tables:
            in_process = []

            def run_medcode(db):
                out = subprocess.run([args.medcode, "--quiet", "--json", "--db", db, "import", "mimic-iv", folder,
                                      "--tables", table, "--no-verify"], check=True, capture_output=True).stdout
                in_process.append(json.loads(out)["tables"][0]["seconds"])

            cases = {
                "medcode": run_medcode,
                "python csv+sqlite3": lambda db: python_anchor(csv_gz, db, types, index),
            }
            if args.sqlite3:
                cases["sqlite3 .import"] = lambda db: sqlite_shell_anchor(args.sqlite3, csv_gz, db, header, types,
                                                                          index)
            times = {name: [] for name in cases}
            for run in range(args.runs):
                for name, case in cases.items():
                    db = os.path.join(work, f"{run}-{name.replace(' ', '_')}.db")
                    times[name].append(timed(lambda: case(db)))
                    for suffix in ("", "-wal", "-shm"):
                        if os.path.exists(db + suffix):
                            os.remove(db + suffix)
            medians = {name: statistics.median(values) for name, values in times.items()}
            # The table's own load time as medcode reports it: without process start-up and store creation.
            medians["medcode, table only"] = statistics.median(in_process)
            results.append({"table": label, "rows": rows, "median_seconds": medians,
                            "rows_per_second": {name: rows / value for name, value in medians.items()}})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps({"runs": args.runs, "tables": results}, indent=2))
        return
    print(f"{'table':34} {'case':20} {'median s':>9} {'rows/s':>11} {'medcode vs it':>14}")
    for result in results:
        medcode_time = result["median_seconds"]["medcode"]
        for name, value in result["median_seconds"].items():
            print(f"{result['table']:34} {name:20} {value:9.3f} {result['rows'] / value:11,.0f} "
                  f"{value / medcode_time:13.2f}x")


if __name__ == "__main__":
    main()
