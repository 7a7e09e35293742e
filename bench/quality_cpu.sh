#!/usr/bin/env bash
# The CPU quality study quoted in docs/quality.md (bench/results/quality-cpu.json and its plots):
# 1 x 200 LSTM, Adam, batch 32, one torch thread per run, LightRNN = tied, 2,000-word shortlist,
# 2 rounds with one reallocation (`auto`: the sparse auction past 2,000 words), costs from
# 400,000 training tokens. Each step appends its rows, so a study cut short keeps what finished.
# Step 5 is the ablation (PTB, 2,400 steps). About 2 hours on one core;
# `bash bench/quality_cpu.sh 3` starts at step 3.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
Q=("$PY" bench/quality.py --device cpu --threads 1 --variants tie+k2000+cost400000 --append)
steps=(
  "--corpora wikitext-2 --budgets time:300 --models lightrnn,full --seeds 0,1,2"
  "--corpora wikitext-2 --budgets time:300 --models lightrnn-random,adaptive"
  "--corpora ptb --budgets time:300"
  "--corpora ptb,wikitext-2 --budgets params:time:300 --models lightrnn"
  "--corpora ptb --budgets steps:2400 --models lightrnn --variants plain,tie,tie+k2000,tie+k2000+exact,tie+k2000+greedy"
  "--corpora ptb --budgets convergence:900 --models lightrnn,lightrnn-random,full"
)
. bench/study_steps.sh
run_steps "${1:-1}"
