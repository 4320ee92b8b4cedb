#!/usr/bin/env bash
# Loading a pretrained base of Qwen2-1.5B's exact shapes (hidden 1536, 28 layers, 12/2 heads, intermediate
# 8960, vocabulary 151,936, tied, bf16; random weights) with medcode's loader, against `cat` of the same files
# as the floor. Each timing touches every byte of the weights once, from the page cache (a warm-up run reads
# them first). Prints the median of RUNS interleaved runs and the peak RSS against the files' size.
#   scripts/build.sh -DMEDCODE_BUILD_BENCH=ON && bench/hf_load.sh [DIR] [RUNS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MEDCODE_BUILD_DIR:-$root/build}"
dir="${1:-${TMPDIR:-/tmp}/medcode-bench-qwen2-1.5b}"
runs="${2:-3}"
if [ ! -f "$dir/model.safetensors" ]; then
  echo "writing a random Qwen2-1.5B-shaped model to $dir" >&2
  "$build/bench/hf_model_writer" "$dir" Qwen2ForCausalLM 151936 1536 28 12 2 8960 1 BF16
fi
bytes=$(stat -c %s "$dir/model.safetensors")
cat "$dir/model.safetensors" > /dev/null  # warm the page cache

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cat_s=(); bf16_s=(); f32_s=(); bf16_rss=0; f32_rss=0; cat_rss=0
for _ in $(seq "$runs"); do
  cat_s+=("$( { /usr/bin/time -f '%e %M' cat "$dir/model.safetensors" > /dev/null; } 2>&1 | tail -1)")
  bf16_s+=("$("$build/bench/hf_load_bench" "$dir" bf16)")
  f32_s+=("$("$build/bench/hf_load_bench" "$dir" f32)")
done
cat_median=$(printf '%s\n' "${cat_s[@]}" | awk '{print $1}' | median)
cat_rss=$(printf '%s\n' "${cat_s[@]}" | awk '{print $2 * 1024}' | sort -n | tail -1)
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
report() {
  local name=$1; shift
  local seconds rss
  seconds=$(for r in "$@"; do field "$r" load_and_touch_seconds; done | median)
  rss=$(for r in "$@"; do field "$r" peak_rss_bytes; done | sort -g | tail -1)
  awk -v n="$name" -v s="$seconds" -v c="$cat_median" -v r="$rss" -v b="$bytes" \
    'BEGIN { printf "%-22s %8.2f s  %6.2fx cat   peak RSS %6.2f GB  %4.2fx the file\n", n, s, s / c, r / 1e9, r / b }'
}
awk -v b="$bytes" -v r="$runs" 'BEGIN { printf "file %.2f GB; %d runs\n", b / 1e9, r }'
awk -v c="$cat_median" -v r="$cat_rss" 'BEGIN { printf "%-22s %8.2f s  %6.2fx cat   peak RSS %6.2f GB\n", "cat", c, 1, r / 1e9 }'
report "medcode load (bf16)" "${bf16_s[@]}"
report "medcode load (f32)" "${f32_s[@]}"
