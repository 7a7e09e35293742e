#!/usr/bin/env bash
# What each round of the pipeline's bootstrap is worth (bench/results/loop-cpu.json, quoted in
# docs/quality.md#the-pipelines-own-rounds): the `demo` profile's pipeline for six rounds with
# the early stops off, and its control (one round as long, never reallocated), on WikiText-2 and
# GCIDE (`python bench/gcide.py` first), seeds 0-2, one torch thread each, then the report.
# About 4 hours on one core; to run the steps side by side, start a Prefect server (`prefect
# server start`), set PREFECT_API_URL, give each lane its own steps (`bash bench/loop.sh 1 4`,
# `... 2 3 5 7`, ...), and then write the report (`bash bench/loop.sh report`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=.lightrnn/loop
Q=("$PY" bench/loop.py run --rounds 6)
steps=(
  "--corpus gcide --what bootstrap --out $OUT/gcide-bootstrap-s0.json"
  "--corpus wikitext-2 --what bootstrap --out $OUT/wikitext-2-bootstrap-s0.json"
  "--corpus wikitext-2 --what control --out $OUT/wikitext-2-control-s0.json"
  "--corpus gcide --what control --out $OUT/gcide-control-s0.json"
  "--corpus wikitext-2 --what bootstrap --seed 1 --out $OUT/wikitext-2-bootstrap-s1.json"
  "--corpus gcide --what bootstrap --seed 1 --out $OUT/gcide-bootstrap-s1.json"
  "--corpus wikitext-2 --what bootstrap --seed 2 --out $OUT/wikitext-2-bootstrap-s2.json"
  "--corpus gcide --what bootstrap --seed 2 --out $OUT/gcide-bootstrap-s2.json"
)
. bench/study_steps.sh
report() {
  "$PY" bench/loop.py report "$OUT"/*-s[0-9].json --out bench/results/loop-cpu.json
}
# `bash bench/loop.sh converged`: the same bootstrap with each round trained until it converges
# (early stopping ends it, at most 30,000 steps) instead of the profile's 2,400 steps, for four
# rounds, seed 0, both corpora side by side (bench/results/loop-converged-cpu.json; about an
# hour on two cores). It needs a Prefect server and PREFECT_API_URL, as the lanes do.
converged() {
  local dir=.lightrnn/loop-converged corpus pid pids=()
  for corpus in wikitext-2 gcide; do
    "$PY" bench/loop.py run --rounds 4 --corpus "$corpus" --what bootstrap \
      --set train.max_steps=30000 --work "$dir" --out "$dir/$corpus-bootstrap-s0.json" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done  # either run failing stops the script
  "$PY" bench/loop.py report "$dir"/*-s0.json --out bench/results/loop-converged-cpu.json
}
if [ "${1:-}" = report ]; then
  report
elif [ "${1:-}" = converged ]; then
  converged
elif [ $# -gt 0 ]; then
  for step in "$@"; do run_steps "$step" "$step"; done
else
  run_steps 1
  report
fi
