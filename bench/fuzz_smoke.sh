#!/usr/bin/env bash
# A short fuzzing session of the parsers of untrusted input (fuzz/): builds the libFuzzer harnesses with clang
# in build-fuzz, replays the saved reproducers (fuzz/regressions/<harness>/), then fuzzes each harness for a
# bounded time from a scratch copy of its seeds (fuzz/corpus/<harness>/, which stays as it is) and prints the
# inputs run, the coverage reached and the crashes found, each crash replayed to name what failed and where.
# Exits 1 when a harness crashed or a reproducer still fails. A benchmark, never part of the test suite.
#
# Usage: bench/fuzz_smoke.sh [SECONDS_PER_HARNESS] [HARNESS...]
#   SECONDS_PER_HARNESS  default $FUZZ_SECONDS, else 60
#   HARNESS              e.g. icd10cm_tabular gem_file (default: all)
# Environment: MEDCODE_FUZZ_BUILD_DIR (default ./build-fuzz), MEDCODE_JOBS (build jobs, default 2),
#   FUZZ_KEEP=1 keeps the scratch folder (logs, grown corpus, crash inputs) when nothing crashed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-${FUZZ_SECONDS:-60}}"
[[ $# -gt 0 ]] && shift
build_dir="${MEDCODE_FUZZ_BUILD_DIR:-$root/build-fuzz}"
jobs="${MEDCODE_JOBS:-2}"

# Inputs a little larger than a few records or elements of each format: room to nest and repeat, small enough
# that the fuzzer spends its time on structure rather than on long lines.
harnesses=(icd10cm_tabular icd10cm_index icd10cm_order icd10pcs_file icd10pcs_index hcpcs_annual_file gem_file
  mimic_csv json_answer)
declare -A max_len=(
  [icd10cm_tabular]=8192 [icd10cm_index]=8192 [icd10pcs_index]=8192
  [icd10cm_order]=2048 [icd10pcs_file]=2048 [gem_file]=1024
  [hcpcs_annual_file]=4096 [mimic_csv]=2048 [json_answer]=4096)
declare -A dictionary=(
  [icd10cm_tabular]=icd10_xml.dict [icd10cm_index]=icd10_xml.dict [icd10pcs_index]=icd10_xml.dict)
[[ $# -gt 0 ]] && harnesses=("$@")
for harness in "${harnesses[@]}"; do
  [[ -n "${max_len[$harness]:-}" ]] || { echo "unknown harness: $harness" >&2; exit 2; }
done

scratch="$(mktemp -d "${TMPDIR:-/tmp}/medcode-fuzz.XXXXXX")"
echo "building the harnesses in $build_dir (log: $scratch/build.log)" >&2
if ! { CC=clang CXX=clang++ cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
         -DMEDCODE_FUZZ=ON -DMEDCODE_WITH_TORCH=OFF -DMEDCODE_BUILD_TESTS=OFF &&
       nice -n 10 cmake --build "$build_dir" --target medcode_fuzz -j "$jobs"
     } >"$scratch/build.log" 2>&1; then
  tail -30 "$scratch/build.log" >&2
  exit 2
fi

# What a crashing input does when run alone: the failure ("uncaught std::out_of_range: stoi", a sanitizer
# summary, a broken promise of the harness) and the first frame in medcode's sources, as "KEY<tab>TEXT": KEY
# leaves out the value a broken promise names, so that one bug found with many values counts once.
describe_crash() {
  awk -v root="$root/" '
    !what && /^medcode fuzz: / { what = substr($0, 15); key = what; sub(/: .*/, "", key) }
    !what && /terminate called after throwing an instance of/ {
      type = $0; sub(/.*instance of /, "", type); gsub(/'\''/, "", type)
      getline; sub(/^ *what\(\): */, ""); what = "uncaught " type ": " $0
    }
    !what && /runtime error: / { what = $0; sub(/.*runtime error: /, "undefined behaviour: ", what) }
    !what && /^SUMMARY: / { what = substr($0, 10); sub(/ [(\/].*$/, "", what) }
    !what && /ERROR: libFuzzer: / { what = $0; sub(/.*ERROR: libFuzzer: /, "", what) }
    /^ +#[0-9]+ 0x/ && index($0, root) {
      frame = substr($0, index($0, root) + length(root)); sub(/:[0-9]+ *$/, "", frame)
      if (!source && frame ~ /^src\//) source = frame
      if (!harness_frame && frame ~ /^fuzz\// && frame !~ /^fuzz\/harness\.h/) harness_frame = frame
    }
    END {
      where = source ? source : harness_frame
      where = where ? " at " where : " (no medcode frame in the trace)"
      if (!what) what = "unknown failure"
      print (key ? key : what) where "\t" what where
    }'
}

failed=0
rows=()
findings=()
for harness in "${harnesses[@]}"; do
  binary="$build_dir/fuzz/fuzz_$harness"
  work="$scratch/$harness"
  mkdir -p "$work/corpus" "$work/artifacts" "$work/regressions"
  cp "$root/fuzz/corpus/$harness/"* "$work/corpus/"

  n_regressions=0
  n_failing=0
  for input in "$root/fuzz/regressions/$harness"/*; do
    [[ -f "$input" ]] || continue
    n_regressions=$((n_regressions + 1))
    log="$work/regressions/$(basename "$input").log"
    if ! "$binary" -timeout=10 "$input" >"$log" 2>&1; then
      n_failing=$((n_failing + 1))
      findings+=("$harness: reproducer ${input#"$root/"} still fails: $(describe_crash <"$log" | cut -f2)")
    fi
  done

  echo "fuzzing $harness for ${seconds}s" >&2
  dict=()
  [[ -n "${dictionary[$harness]:-}" ]] && dict=(-dict="$root/fuzz/${dictionary[$harness]}")
  # Fork mode with crashes ignored: the session goes on after a crash, so one run can find several.
  nice -n 10 "$binary" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$seconds" -max_len="${max_len[$harness]}" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/" "${dict[@]}" "$work/corpus" >"$work/fuzz.log" 2>&1 || true

  # The last progress line: "#RUNS: cov: EDGES ft: FEATURES corp: INPUTS exec/s ...".
  progress="$(grep -E '^#[0-9]+: cov:' "$work/fuzz.log" | tail -1 || true)"
  runs="$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$progress")"
  coverage="$(sed -E 's/.* cov: ([0-9]+).*/\1/' <<<"$progress")"
  features="$(sed -E 's/.* ft: ([0-9]+).*/\1/' <<<"$progress")"
  corpus="$(sed -E 's/.* corp: ([0-9]+).*/\1/' <<<"$progress")"
  declare -A seen=()
  n_crashes=0
  for artifact in "$work/artifacts"/*; do
    [[ -f "$artifact" ]] || continue
    n_crashes=$((n_crashes + 1))
    "$binary" -timeout=10 "$artifact" >"$artifact.log" 2>&1 || true
    IFS=$'\t' read -r key finding < <(describe_crash <"$artifact.log")
    if [[ -z "${seen[$key]:-}" ]]; then
      seen[$key]=1
      findings+=("$harness: $finding (input: $artifact)")
    fi
  done
  unset seen
  (( n_crashes > 0 || n_failing > 0 )) && failed=1
  rows+=("$(printf '%-18s %6s %10s %8s %6s %8s %7s %8s %11s' "$harness" "${max_len[$harness]}" "${runs:-0}" \
    "$(( ${runs:-0} / seconds ))" "${coverage:-0}" "${features:-0}" "${corpus:-0}" "$n_crashes" \
    "$n_failing/$n_regressions")")
done

echo
printf '%-18s %6s %10s %8s %6s %8s %7s %8s %11s\n' harness max_len runs runs/s cov features corpus crashes \
  regressions
printf '%s\n' "${rows[@]}"
if (( ${#findings[@]} > 0 )); then
  echo
  echo "findings (one input each; every crash input is in its harness's artifacts folder):"
  printf '  %s\n' "${findings[@]}"
fi
echo
if (( failed )) || [[ "${FUZZ_KEEP:-0}" == 1 ]]; then
  echo "logs, crash inputs and grown corpora: $scratch"
else
  rm -rf "$scratch"
fi
exit "$failed"
