#!/usr/bin/env bash
# The GCIDE study quoted in docs/quality.md (bench/results/quality-gcide-cpu.json): |V| = 89,078,
# 1 x 200 LSTM, Adam, batch 32, one torch thread per run, equal training time made
# deterministic (`paced`: each model's step time measured alone once, then that many steps).
# LightRNN = tied with a K-word shortlist, 2 rounds with one reallocation on costs from every
# training token; the control keeps its random table; the full softmax is tied. Each step
# appends its rows (steps can also run side by side with --out FILE, joined with --merge).
# Steps 6-7 train the baselines at LightRNN's size (0.84M parameters: h9, or h8 with div_value 2;
# the tied full softmax at h9). `bash bench/quality_gcide.sh 3` starts at step 3. Steps 1-7
# (30 rows of about 12 minutes) take about 6 hours on one core; steps 8-9 (learning rates,
# sizes) did not run: each row of the JSON records the command that made it. Steps 10-11
# ablate the bootstrap: the shortlist sized by token coverage (cov0.8), then at the base's
# steps (--pace-as: a calibration is one noisy timing, so an ablation is compared at equal
# steps) dropout and untied row and column vectors of 200 and 100; steps 12-14 add a third
# size per family (hidden 100) for the frontier (`bash bench/quality_gcide.sh 10 11` runs steps
# 10 to 11). `bash bench/quality_gcide.sh fair` times the calibrated computations again
# (bench/quality_retime.py) and reruns the at-size adaptive softmax at the steps that are fair
# against LightRNN's; then it times the contenders at equal time (the adaptive softmax of 100,
# LightRNN's untied vectors) and the 1,000-word shortlists step 16 needs (`--apply` gives a
# computation never timed its first calibration), and reruns `h100` and `h9` at fair steps.
# `... fused` times the baselines again with the fused Adam and reruns them (see there).
# Step 15 starts each round after the reallocation at the configured learning rate with a fresh
# plateau schedule (`restart`), step 16 a 1,000-word shortlist with and without it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" bench/gcide.py  # the corpus, when missing
Q=("$PY" bench/quality.py --threads 1 --corpora gcide --budgets paced:600 --append
  --out bench/results/quality-gcide-cpu.json)
steps=(
  "--models lightrnn,lightrnn-random --variants tie+k2000 --seeds 0,1,2"
  "--models lightrnn-random --variants tie+k2000+cooc --seeds 0,1,2"
  "--models lightrnn,adaptive --variants tie+k2000+cooc --baseline-variants plain --seeds 0,1,2"
  "--models full --baseline-variants tie --seeds 0,1,2"
  "--models lightrnn --variants tie+k2000+r4,tie+k2000+lr0.01+cooc,tie+k2000+h400+cooc"
  "--models adaptive --baseline-variants h9,h8+d2 --seeds 0,1,2"
  "--models full --baseline-variants tie+h9 --seeds 0,1,2"
  "--models lightrnn,adaptive,full --variants tie+k2000+lr0.001,tie+k2000+lr0.01 --baseline-variants lr0.001,lr0.01,tie+lr0.001,tie+lr0.01"
  "--models lightrnn,adaptive,full --variants tie+k2000+h100,tie+k2000+h400 --baseline-variants h100,h400,tie+h100,tie+h400"
  "--models lightrnn --variants tie+cov0.8+cooc"
  "--models lightrnn --variants tie+k2000+drop0.1+cooc,k2000+cooc,k2000+e100+cooc --pace-as tie+k2000+cooc"
  "--models lightrnn --variants tie+k2000+h100+cooc"
  "--models adaptive --baseline-variants h100"
  "--models full --baseline-variants tie+h100"
  "--models lightrnn --variants tie+k2000+cooc+restart --pace-as tie+k2000+cooc --seeds 0,1,2"
  "--models lightrnn --variants tie+k1000+cooc,tie+k1000+cooc+restart"
)
. bench/study_steps.sh
if [ "${1:-}" = fair ]; then
  "$PY" bench/quality_retime.py --corpus gcide --seconds 600 --block 10 \
    --results bench/results/quality-gcide-cpu.json \
    --cases lightrnn:tie+k2000+cooc,lightrnn:tie+cov0.8+cooc,adaptive:plain,adaptive:h8+d2,full:tie,full:tie+h9
  "$PY" bench/quality_retime.py --corpus gcide --seconds 600 --block 20 --apply \
    --results bench/results/quality-gcide-cpu.json --out bench/results/retime-fair-cpu.json \
    --cases lightrnn:tie+k2000+cooc,adaptive:h8+d2,adaptive:h9
  "${Q[@]}" --models adaptive --baseline-variants h8+d2 --seeds 0,1,2
  "$PY" bench/quality_retime.py --corpus gcide --seconds 600 --block 20 --repeats 10 --apply \
    --results bench/results/quality-gcide-cpu.json --out bench/results/retime-top-cpu.json \
    --cases lightrnn:tie+k2000+cooc,adaptive:h100,lightrnn:k2000+cooc
  "$PY" bench/quality_retime.py --corpus gcide --seconds 600 --block 20 --repeats 10 --apply \
    --results bench/results/quality-gcide-cpu.json --out bench/results/retime-shortlist-cpu.json \
    --cases lightrnn:tie+k2000+cooc,lightrnn:tie+k1000+cooc,lightrnn:tie+k1000+h250+cooc,lightrnn:tie+k3000+h150+cooc
  "${Q[@]}" --models adaptive --baseline-variants h100,h9 --seeds 0,1,2
elif [ "${1:-}" = fused ]; then
  # after the trainer's Adam became torch's fused kernel (commit 0c90c48): the models with the
  # most parameters take cheaper steps, so they are timed again against LightRNN's calibration
  # (its rows stay valid: its own step hardly changed) and trained again at the steps that are
  # now fair; `h100+d2` (div_value 2) joins them, the best adaptive softmax on gcide-2. The
  # tied full softmax is timed too but keeps its rows: its step is its softmax, and its fair
  # steps moved by a few percent
  "$PY" bench/quality_retime.py --corpus gcide --seconds 600 --block 10 --repeats 8 --apply \
    --results bench/results/quality-gcide-cpu.json --out bench/results/retime-gcide-fused-cpu.json \
    --cases lightrnn:tie+k2000+cooc,adaptive:h100,adaptive:h100+d2,adaptive:plain,full:tie
  "${Q[@]}" --models adaptive --baseline-variants h100,h100+d2,plain --seeds 0,1,2
else
  run_steps "${1:-1}" "${2:-}"
fi
