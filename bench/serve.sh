#!/usr/bin/env bash
# `medcode serve` under load with wrk (Debian's wrk 4.1, keep-alive connections, bench/serve/post.lua): requests/s
# and p50/p99 latency of POST /v1/predict for the bm25 coder and a tiny trained model (model_test.cpp's: 250-token
# vocabulary, `--config tiny`, 12 steps) with 1, 8 and 32 clients, the model with batching on
# (--max-batch 16 --batch-window-ms 5); the model at 32 clients with batching off (--max-batch 1
# --batch-window-ms 0) in a separate server, against batching on, with the mean batch size from /metrics; PDF
# pages/s of POST /v1/predict/pdf?coder=bm25 on a 20-page note (medcode_make_test_pdf) with 1 and 8 clients beside
# `pdftotext` of the same file in a loop (1 and 2 processes); and the server's VmRSS/VmHWM after each of 5 chunks
# of about REQUESTS/5 bm25 requests at 8 clients. The servers run with the default --workers. Every run is
# SECONDS long (chunks: 1-s runs until the chunk's count, at most 60 s each); Markdown tables at the end, exit 1
# if any request failed (non-2xx, socket errors) or a server did not exit 0 on SIGTERM. The store is imported and
# the model trained in a scratch folder first (about 10 s); about 2-3 minutes in all.
#   scripts/build.sh && bench/serve.sh [SECONDS] [REQUESTS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MEDCODE_BUILD_DIR:-$root/build}"
medcode="$build/src/cli/medcode"
make_pdf="$build/tests/medcode_make_test_pdf"
lua="$root/bench/serve/post.lua"
seconds="${1:-8}"
total="${2:-10000}"
pages=20
for tool in wrk curl pdftotext; do
  command -v "$tool" >/dev/null || { echo "bench/serve.sh needs $tool (apt-get install wrk curl poppler-utils)" >&2; exit 2; }
done
[ -x "$make_pdf" ] || { echo "missing $make_pdf (cmake --build build --target medcode_make_test_pdf)" >&2; exit 2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/medcode-serve-bench.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

say() { echo "$*" >&2; }
now() { date +%s.%N; }

# --- the store, the model and the request bodies ---
"$medcode" --quiet --db m.db import icd10cm --year 2023 \
  "$root/../shared/data/cms/icd10cm/2023/icd10cm_tabular_2023.xml.gz" \
  "$root/../shared/data/cms/icd10cm/2023/icd10cm_index_2023.xml.gz" >/dev/null
"$medcode" --quiet --db m.db tokenize --dataset "$root/tests/fixtures/tokenize/export" --out tokenizer \
  --vocab-size 250 --max-length 64 >/dev/null
"$medcode" --quiet --db m.db train --stage base --config tiny --out base --max-steps 12 --batch-size 8 >/dev/null 2>&1
"$make_pdf" note.pdf --pages "$pages" >/dev/null
note='Chief complaint: shortness of breath for three days.\nHistory: 67-year-old man with type 2 diabetes mellitus with hyperglycemia, essential hypertension and chronic obstructive pulmonary disease, former smoker.\nAssessment:\n1. Acute exacerbation of chronic obstructive pulmonary disease.\n2. Essential hypertension, controlled.\n3. Type 2 diabetes mellitus without complications.\nPlan: nebulised albuterol, prednisone for five days, recheck in one week.'
printf '{"text": "%s", "coder": "bm25"}' "$note" > bm25.json
printf '{"text": "%s", "coder": "model:base"}' "$note" > model.json

# --- the server ---
port=""
start_server() {  # start_server ARGS...: `serve --port 0 ARGS`, waits for the line with the port
  "$medcode" --db m.db serve --port 0 "$@" > serve.out 2> serve.err &
  server_pid=$!
  local deadline=$((SECONDS + 120))
  until grep -q 'listening on http://' serve.out 2>/dev/null; do
    kill -0 "$server_pid" 2>/dev/null || { cat serve.err >&2; exit 1; }
    [ "$SECONDS" -lt "$deadline" ] || { say "the server did not start"; exit 1; }
    sleep 0.1
  done
  port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' serve.out)
  say "server $server_pid on port $port: serve $*"
}
stop_server() {  # SIGTERM; prints the exit code and the server's 4xx/5xx count
  local errors
  errors=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^medcode_http_request_errors_total/ { n += $NF } END { print n + 0 }')
  kill -TERM "$server_pid"
  local rc=0
  wait "$server_pid" || rc=$?
  server_pid=""
  say "server stopped: exit $rc, $errors HTTP errors in its /metrics"
  stops+=("$rc/$errors")
}
metric() {  # metric 'NAME{LABELS}': its value, 0 when absent
  curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" 'index($0, m " ") == 1 { v = $NF } END { print v + 0 }'
}
status_kb() {  # status_kb VmRSS|VmHWM: from /proc/PID/status, in kB
  awk -v k="$1:" '$1 == k { print $2 }' "/proc/$server_pid/status"
}

# wrk_run CLIENTS DURATION BODY TYPE PATH: writes "requests rps p50_ms p99_ms non2xx socket_errors" to wrk.res
wrk_run() {
  local clients=$1 duration=$2 body=$3 type=$4 path=$5
  local threads=2
  [ "$clients" -ge 2 ] || threads=1
  local args=(-t"$threads" -c"$clients" -d"$duration" --timeout 60s -s "$lua")
  WRK_BODY="$body" WRK_CONTENT_TYPE="$type" wrk "${args[@]}" "http://127.0.0.1:$port$path" > wrk.out
  grep -q '^wrk-result ' wrk.out || { say "wrk gave no result:"; cat wrk.out >&2; exit 1; }
  sed -n 's/^wrk-result requests=\([0-9]*\) seconds=[0-9.]* rps=\([0-9.]*\) p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\) non2xx=\([0-9]*\) socket_errors=\([0-9]*\)$/\1 \2 \3 \4 \5 \6/p' wrk.out > wrk.res
}

rows=()       # "case|clients|requests|rps|p50|p99|mean batch|non2xx|socket errors"
stops=()
# measure CASE CODER CLIENTS BODY TYPE PATH: one run of SECONDS, the coder's mean batch over it
measure() {
  local name=$1 coder=$2 clients=$3 body=$4 type=$5 path=$6
  local sum0 count0 sum1 count1 requests rps p50 p99 non2xx sockerr batch
  sum0=$(metric "medcode_batch_size_sum{coder=\"$coder\"}")
  count0=$(metric "medcode_batch_size_count{coder=\"$coder\"}")
  wrk_run "$clients" "${seconds}s" "$body" "$type" "$path"
  read -r requests rps p50 p99 non2xx sockerr < wrk.res
  sum1=$(metric "medcode_batch_size_sum{coder=\"$coder\"}")
  count1=$(metric "medcode_batch_size_count{coder=\"$coder\"}")
  batch=$(awk -v s="$((sum1 - sum0))" -v c="$((count1 - count0))" 'BEGIN { if (c > 0) printf "%.2f", s / c; else print "-" }')
  rows+=("$name|$clients|$requests|$rps|$p50|$p99|$batch|$non2xx|$sockerr")
  say "$(printf '%-44s %3s clients: %6s requests %8s/s  p50 %8s ms  p99 %8s ms  batch %5s  non-2xx %s  socket errors %s' \
    "$name" "$clients" "$requests" "$rps" "$p50" "$p99" "$batch" "$non2xx" "$sockerr")"
}
warm() { wrk_run 8 2s "$1" "$2" "$3"; }

# --- bm25 and the model, batching on (the defaults, spelt out), and PDF ---
start_server --coder bm25 --coder model:base --max-batch 16 --batch-window-ms 5
warm bm25.json application/json /v1/predict
for c in 1 8 32; do measure "bm25" bm25 "$c" bm25.json application/json /v1/predict; done
warm model.json application/json /v1/predict
for c in 1 8 32; do measure "model, batching on" model:base "$c" model.json application/json /v1/predict; done
warm note.pdf application/pdf "/v1/predict/pdf?coder=bm25"
for c in 1 8; do measure "PDF, $pages pages, bm25" bm25 "$c" note.pdf application/pdf "/v1/predict/pdf?coder=bm25"; done
stop_server

# --- the model, batching off ---
start_server --coder model:base --max-batch 1 --batch-window-ms 0
warm model.json application/json /v1/predict
measure "model, batching off" model:base 32 model.json application/json /v1/predict
stop_server

# --- pdftotext on the same file, one process per file, for SECONDS: one loop, then two side by side ---
pdftotext_loop() {  # prints the files converted in SECONDS
  local end n=0
  end=$(awk -v t="$(now)" -v s="$seconds" 'BEGIN { printf "%.3f", t + s }')
  while awk -v t="$(now)" -v e="$end" 'BEGIN { exit !(t < e) }'; do pdftotext note.pdf /dev/null; n=$((n + 1)); done
  echo "$n"
}
anchor=()
for procs in 1 2; do
  t0=$(now)
  for ((i = 0; i < procs; i++)); do pdftotext_loop > "loop.$i" & done
  wait
  t1=$(now)
  files=$(cat loop.* | awk '{ n += $1 } END { print n }')
  rm -f loop.*
  anchor+=("$procs|$files|$(awk -v n="$files" -v a="$t0" -v b="$t1" -v p="$pages" 'BEGIN { printf "%.1f", n * p / (b - a) }')")
  say "pdftotext, $procs at a time: $files files, ${anchor[-1]##*|} pages/s"
done

# --- peak RSS over REQUESTS bm25 requests at 8 clients, in 5 chunks ---
start_server --coder bm25
warm bm25.json application/json /v1/predict
rss=("warm-up|0|$(status_kb VmRSS)|$(status_kb VmHWM)|0|0")
chunk=$((total / 5))
done_requests=0
for k in 1 2 3 4 5; do
  got=0 bad=0 errs=0 deadline=$((SECONDS + 60))
  while [ "$got" -lt "$chunk" ] && [ "$SECONDS" -lt "$deadline" ]; do
    wrk_run 8 1s bm25.json application/json /v1/predict
    read -r requests _ _ _ non2xx sockerr < wrk.res
    got=$((got + requests)) bad=$((bad + non2xx)) errs=$((errs + sockerr))
  done
  done_requests=$((done_requests + got))
  rss+=("chunk $k|$done_requests|$(status_kb VmRSS)|$(status_kb VmHWM)|$bad|$errs")
  say "chunk $k: $done_requests requests, VmRSS $(status_kb VmRSS) kB, VmHWM $(status_kb VmHWM) kB"
done
stop_server

# --- the tables ---
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "wrk ${seconds} s a run, $(nproc) cores, $(date -u +%Y-%m-%d), ${SECONDS} s in all; load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| case | clients | requests | requests/s | p50 ms | p99 ms | mean batch | non-2xx | socket errors |"
echo "|---|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do echo "| ${row//|/ | } |"; done
field_of() {  # field_of 'CASE|CLIENTS' N: the Nth field (1-based) of that row
  local row
  for row in "${rows[@]}"; do
    if [ "${row%%|*}|$(cut -d'|' -f2 <<< "$row")" = "$1" ]; then cut -d'|' -f"$2" <<< "$row"; return; fi
  done
  echo 0
}
echo
echo "| the model at 32 clients | batching on | batching off | on / off |"
echo "|---|---|---|---|"
for f in "requests/s|4" "p50 ms|5" "p99 ms|6" "mean batch|7"; do
  on=$(field_of "model, batching on|32" "${f#*|}")
  off=$(field_of "model, batching off|32" "${f#*|}")
  ratio=$(awk -v a="$on" -v b="$off" -v f="${f%%|*}" 'BEGIN { if (f != "mean batch" && b > 0) printf "%.2fx", a / b; else print "-" }')
  echo "| ${f%%|*} | $on | $off | $ratio |"
done
echo
echo "| PDF, $pages pages | clients or processes | files | pages/s |"
echo "|---|---|---|---|"
for key in "PDF, $pages pages, bm25|1" "PDF, $pages pages, bm25|8"; do
  echo "| \`POST /v1/predict/pdf?coder=bm25\` | ${key##*|} | $(field_of "$key" 3) | $(awk -v r="$(field_of "$key" 4)" -v p="$pages" 'BEGIN { printf "%.1f", r * p }') |"
done
for row in "${anchor[@]}"; do
  IFS='|' read -r procs files rate <<< "$row"
  echo "| \`pdftotext FILE /dev/null\` in a loop | $procs | $files | $rate |"
done
echo
echo "| bm25, 8 clients | requests so far | VmRSS MiB | VmHWM MiB | non-2xx | socket errors |"
echo "|---|---|---|---|---|---|"
for row in "${rss[@]}"; do
  IFS='|' read -r name n r h bad errs <<< "$row"
  echo "| $name | $n | $(mib "$r") | $(mib "$h") | $bad | $errs |"
done
IFS='|' read -r _ _ r1 h1 _ _ <<< "${rss[1]}"
IFS='|' read -r _ _ r5 h5 _ _ <<< "${rss[5]}"
echo
echo "From chunk 1 to chunk 5: VmRSS $(awk -v a="$r1" -v b="$r5" 'BEGIN { printf "%+.1f MiB (%+.1f%%)", (b - a) / 1024, (b - a) * 100 / a }'), VmHWM $(awk -v a="$h1" -v b="$h5" 'BEGIN { printf "%+.1f MiB (%+.1f%%)", (b - a) / 1024, (b - a) * 100 / a }')"
echo "Servers on SIGTERM (exit code/HTTP errors in /metrics): ${stops[*]}"
failed=0
for row in "${rows[@]}" "${rss[@]}"; do
  IFS='|' read -r -a f <<< "$row"
  [ "${f[-2]}${f[-1]}" = "00" ] || failed=1
done
for stop in "${stops[@]}"; do [ "$stop" = "0/0" ] || failed=1; done
[ "$failed" = 0 ] || { echo "FAILED: non-2xx responses, socket errors, HTTP errors or a bad exit above" >&2; exit 1; }
