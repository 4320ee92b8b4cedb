#!/usr/bin/env bash
# `medcode check` on the full ICD-10-CM 2023 cms-terms dataset (about 84,000 description → code lines, exported
# by `medcode export`), with the store (every code looked up in the release) and without one, against two
# anchors that only parse each line: `jq -c .` and Python's json.loads per line. Also `codes export` of the
# release in each --format. Seconds and peak RSS of each, lines/s, and the ratio to jq; one run each after a
# warm-up, so read the ratios, not the absolute figures, on a shared machine.
#   scripts/build.sh && bench/check.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MEDCODE_BUILD_DIR:-$root/build}"
medcode="$build/src/cli/medcode"
mirror="${MEDCODE_MIRROR:-$root/../shared/data/cms}"
tabular="$mirror/icd10cm/2023/icd10cm_tabular_2023.xml.gz"
for tool in jq python3; do
  command -v "$tool" >/dev/null || { echo "bench/check.sh needs $tool (apt-get install jq python3)" >&2; exit 2; }
done
[ -f "$tabular" ] || { echo "missing $tabular (set MEDCODE_MIRROR to the CMS mirror folder)" >&2; exit 2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/medcode-check-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
export MEDCODE_CONFIG="" MEDCODE_DB="$work/m.db"

"$medcode" -q import icd10cm --year 2023 "$tabular" "$mirror/icd10cm/2023/icd10cm_index_2023.xml.gz"
"$medcode" -q generate --task cms-terms
"$medcode" -q export --out "$work/data" >/dev/null
file="$work/data/descriptions-to-codes.all.jsonl"
lines=$(wc -l < "$file")
cat "$file" > /dev/null  # warm the page cache

timed() { /usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null | tail -1; }
row() {  # label seconds kb anchor_seconds
  awk -v l="$1" -v s="$2" -v k="$3" -v a="$4" -v n="$lines" \
    'BEGIN { printf "| %-34s | %7.2f | %9.0f | %8.1f | %5.2f |\n", l, s, n / (s > 0 ? s : 1e-3), k / 1024, s / a }'
}
read -r jq_s jq_kb < <(timed jq -c . "$file")
read -r py_s py_kb < <(timed python3 -c 'import json, sys
for line in open(sys.argv[1], encoding="utf-8"): json.loads(line)' "$file")
read -r with_s with_kb < <(timed "$medcode" -q check --strict "$file")
read -r bare_s bare_kb < <(timed "$medcode" -q --db "$work/none.db" check --strict "$file")
echo "$lines lines, $(du -h "$file" | cut -f1) ($(cut -d' ' -f1-3 /proc/loadavg) load before)"
echo
echo "| command | seconds | lines/s | peak RSS MB | × jq |"
echo "|---|---:|---:|---:|---:|"
row "jq -c . (anchor)" "$jq_s" "$jq_kb" "$jq_s"
row "python3 json.loads per line" "$py_s" "$py_kb" "$jq_s"
row "medcode check --strict (store)" "$with_s" "$with_kb" "$jq_s"
row "medcode check --strict (no store)" "$bare_s" "$bare_kb" "$jq_s"
echo
echo "| codes export --format | seconds | peak RSS MB | bytes |"
echo "|---|---:|---:|---:|"
for format in plain tsv csv jsonl; do
  read -r s kb < <(timed "$medcode" -q codes export --system icd10cm --year 2023 --format "$format" --output "$work/codes.$format")
  printf '| %-5s | %6.2f | %8.1f | %10d |\n' "$format" "$s" "$(awk -v k="$kb" 'BEGIN { print k / 1024 }')" "$(stat -c %s "$work/codes.$format")"
done
