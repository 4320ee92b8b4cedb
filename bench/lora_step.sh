#!/usr/bin/env bash
# One LoRA training step on the CPU on a base of Qwen2-1.5B's exact shapes (hidden 1536, 28 layers, 12/2
# heads, intermediate 8960, vocabulary 151,936, tied, q/k/v biases; random BF16 weights widened to a float32
# frozen base): rank 16, alpha 32, no dropout on all seven linear layers, AdamW on the adapters, cross-entropy
# over the 255 next-token targets of one 256-token sequence. medcode's step (LibTorch, lora_step_bench)
# against the same step in PyTorch eager (lora_step_reference.py), at the same thread count, one after the
# other so that neither shares the cores or the memory. Prints seconds per step (median after a warm-up step)
# and peak RSS of each, and python/medcode ratios (above 1: medcode is faster or smaller). medcode's idle
# OpenMP workers sleep, as its commands run them; PyTorch keeps the environment's policy, so
# `OMP_WAIT_POLICY=PASSIVE bench/lora_step.sh` runs both alike.
#   scripts/build.sh -DMEDCODE_BUILD_BENCH=ON && bench/lora_step.sh [DIR] [STEPS] [THREADS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MEDCODE_BUILD_DIR:-$root/build}"
python="${PYTHON:-/usr/bin/python3}"  # needs torch: Debian's python3-torch is the 1.13 that medcode links
dir="${1:-${TMPDIR:-/tmp}/medcode-bench-qwen2-1.5b}"
steps="${2:-5}"
threads="${3:-$(nproc)}"
if [ ! -f "$dir/model.safetensors" ]; then
  echo "writing a random Qwen2-1.5B-shaped model to $dir" >&2
  "$build/bench/hf_model_writer" "$dir" Qwen2ForCausalLM 151936 1536 28 12 2 8960 1 BF16
fi
cat "$dir/model.safetensors" > /dev/null  # both load from the page cache

medcode=$("$build/bench/lora_step_bench" "$dir" "$steps" "$threads")
reference=$("$python" "$root/bench/lora_step_reference.py" "$dir" "$steps" "$threads")
echo "medcode: $medcode" >&2
echo "pytorch: $reference" >&2

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
row() {
  awk -v n="$1" -v s="$(field "$2" median_step_seconds)" -v r="$(field "$2" peak_rss_bytes)" \
    -v t="$(field "$2" step_peak_rss_bytes)" -v d="$(field "$2" load_seconds)" -v l="$(field "$2" first_loss)" \
    -v w="$(field "$2" passive_waiting)" \
    'BEGIN { printf "%-20s %9.2f s %10.2f GB %13.2f GB %8.2f s %11.6f  %s\n", n, s, r / 1e9, t / 1e9, d, l,
             w == "True" || w == "true" ? "sleep" : "may spin" }'
}
ratio() { awk -v a="$(field "$reference" "$1")" -v b="$(field "$medcode" "$1")" 'BEGIN { printf "%.2fx", a / b }'; }

echo "$(basename "$dir"): $steps steps (the first a warm-up), $threads threads," \
  "$(field "$medcode" trainable_parameters) trainable parameters"
printf "%-20s %11s %13s %16s %10s %11s  %s\n" "" "s/step" "peak RSS" "steps' peak" "load" "first loss" \
  "idle OpenMP workers"
row "medcode (LibTorch)" "$medcode"
row "PyTorch eager" "$reference"
printf "%-20s %11s %13s %16s\n" "python / medcode" "$(ratio median_step_seconds)" "$(ratio peak_rss_bytes)" \
  "$(ratio step_peak_rss_bytes)"
