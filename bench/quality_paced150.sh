#!/usr/bin/env bash
# PTB and WikiText-2 at 150 s of CPU each, paced (bench/results/quality-paced150-cpu.json,
# quoted in docs/quality.md): the co-occurrence start against the random one, the baselines at
# LightRNN's size (0.36M parameters on PTB, 0.79M on WikiText-2), a learning-rate sweep on PTB
# (1e-3, the default 3e-3, 1e-2) per family, four rounds on WikiText-2 (what each round of
# reallocation is worth), the bootstrap from the co-occurrence table, and keep margins (keepX:
# whether the table settles within four rounds), and on PTB LightRNN at 0.36-0.39M parameters
# with a shortlist (K words of 300-2,000, the LSTM narrowed to keep the size), and on
# WikiText-2 ablations of the bootstrap at its steps (--pace-as): the shortlist sized by token
# coverage (covX), dropout, untied row and column vectors of 200 and 100 (eN); then a third size
# per family and corpus (hidden 100 or 400) for the frontier. 1 x 200 LSTM, Adam, batch 32, one
# torch thread per run. `bash bench/quality_paced150.sh 3` starts at step 3 (`... 3 5`: steps 3 to 5);
# `... fair` times the calibrated computations again and reruns the adaptive softmaxes that were
# short of the steps that are fair against LightRNN's (bench/quality_retime.py); `... fused`
# does the same for the adaptive softmaxes of 200 after the trainer's Adam became the fused kernel.
# About 4 hours on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
Q=("$PY" bench/quality.py --threads 1 --budgets paced:150 --append
  --out bench/results/quality-paced150-cpu.json)
steps=(
  "--corpora ptb --models lightrnn-random,lightrnn --variants tie,tie+cooc"
  "--corpora wikitext-2 --models lightrnn-random --variants tie+k2000,tie+k2000+cooc --seeds 0,1,2"
  "--corpora ptb --models adaptive --baseline-variants h26,h22+d2 --seeds 0,1,2"
  "--corpora ptb --models full --baseline-variants tie+h36 --seeds 0,1,2"
  "--corpora wikitext-2 --models adaptive --baseline-variants h22 --seeds 0,1,2"
  "--corpora wikitext-2 --models adaptive --baseline-variants h18+d2"
  "--corpora wikitext-2 --models full --baseline-variants tie+h24 --seeds 0,1,2"
  "--corpora ptb --models adaptive --baseline-variants plain,lr0.001,lr0.01"
  "--corpora ptb --models full --baseline-variants tie,tie+lr0.001,tie+lr0.01"
  "--corpora ptb --models lightrnn-random --variants tie+cooc+lr0.001,tie+cooc+lr0.01"
  "--corpora wikitext-2 --models adaptive --seeds 0,1,2"
  "--corpora wikitext-2 --models full --baseline-variants tie --seeds 0,1,2"
  "--corpora wikitext-2 --models lightrnn,lightrnn-random --variants tie+k2000+r4"
  "--corpora wikitext-2 --models lightrnn --variants tie+k2000+cooc --seeds 0,1,2"
  "--corpora wikitext-2 --models lightrnn --variants tie+k2000+r4+cooc,tie+k2000+keep0.05+r4+cooc,tie+k2000+keep0.2+r4+cooc"
  "--corpora ptb --models lightrnn-random --variants tie+k300+h190+cooc,tie+k500+h175+cooc"
  "--corpora ptb --models lightrnn-random --variants tie+k1000+h150+cooc,tie+k1500+h130+cooc,tie+k2000+h115+cooc --seeds 0,1,2"
  "--corpora ptb --models lightrnn --variants tie+k1000+h150+cooc"
  "--corpora wikitext-2 --models lightrnn --variants tie+cov0.8+cooc,tie+cov0.7+cooc,tie+k2000+drop0.1+cooc,k2000+cooc,k2000+e100+cooc --pace-as tie+k2000+cooc"
  "--corpora wikitext-2 --models lightrnn --variants tie+k2000+h100+cooc,tie+k2000+h400+cooc"
  "--corpora wikitext-2 --models adaptive --baseline-variants h400"
  "--corpora wikitext-2 --models full --baseline-variants tie+h400"
  "--corpora ptb --models lightrnn-random --variants tie+k1500+cooc,tie+k1500+h400+cooc"
  "--corpora ptb --models adaptive --baseline-variants h400"
  "--corpora ptb --models full --baseline-variants tie+h400"
)
. bench/study_steps.sh
if [ "${1:-}" = fair ]; then  # see bench/quality_gcide.sh fair
  "$PY" bench/quality_retime.py --corpus wikitext-2 --seconds 150 \
    --results bench/results/quality-paced150-cpu.json \
    --cases lightrnn:tie+k2000+cooc,lightrnn:tie+cov0.8+cooc,lightrnn:tie+cov0.7+cooc,lightrnn:tie+k2000+drop0.1+cooc,adaptive:plain,adaptive:h22,full:tie,full:tie+h24
  "$PY" bench/quality_retime.py --corpus wikitext-2 --seconds 150 --repeats 15 --apply \
    --results bench/results/quality-paced150-cpu.json --out bench/results/retime-fair-cpu.json \
    --cases lightrnn:tie+k2000+cooc,adaptive:plain,adaptive:h22
  "${Q[@]}" --corpora wikitext-2 --models adaptive --baseline-variants h22,plain --seeds 0,1,2
  "$PY" bench/quality_retime.py --corpus ptb --seconds 150 \
    --results bench/results/quality-paced150-cpu.json \
    --cases lightrnn-random:tie+k1500+h130+cooc,adaptive:h26,adaptive:h22+d2,full:tie+h36,adaptive:plain
  "$PY" bench/quality_retime.py --corpus ptb --seconds 150 --apply \
    --results bench/results/quality-paced150-cpu.json --out bench/results/retime-fair-cpu.json \
    --cases lightrnn-random:tie+k1500+h130+cooc,adaptive:h26,adaptive:h22+d2
  "${Q[@]}" --corpora ptb --models adaptive --baseline-variants h26,h22+d2 --seeds 0,1,2
elif [ "${1:-}" = fused ]; then  # see bench/quality_gcide.sh fused
  # the adaptive softmaxes of 200, the best baselines at equal time, timed again with the
  # fused Adam against LightRNN's calibration (its rows stay: its step hardly changed) and
  # trained again at the steps that are now fair; the tied full softmaxes keep their rows
  # (their step is their softmax), and so do the baselines at LightRNN's size (their
  # optimizer's share of a step is small)
  "$PY" bench/quality_retime.py --corpus wikitext-2 --seconds 150 --repeats 15 --apply \
    --results bench/results/quality-paced150-cpu.json \
    --out bench/results/retime-paced150-fused-cpu.json \
    --cases lightrnn:tie+k2000+cooc,adaptive:plain
  "$PY" bench/quality_retime.py --corpus ptb --seconds 150 --repeats 15 --apply \
    --results bench/results/quality-paced150-cpu.json \
    --out bench/results/retime-paced150-fused-cpu.json \
    --cases lightrnn:tie+cooc,adaptive:plain
  "${Q[@]}" --corpora wikitext-2,ptb --models adaptive --seeds 0,1,2
else
  run_steps "${1:-1}" "${2:-}"
fi
