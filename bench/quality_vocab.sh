#!/usr/bin/env bash
# Whether LightRNN's speed pays at larger vocabularies: the same GCIDE text, equal CPU time
# (600 s each, paced), quoted in docs/quality.md "Larger vocabularies". `gcide-2` keeps every
# word seen twice (bench/results/quality-gcide2-cpu.json), `gcide-1` every word, scoring the
# targets in the vocabulary (quality-gcide1-cpu.json); `gcide` (min count 3) is
# bench/quality_gcide.sh's study. Each corpus is calibrated before any row trains: an empty
# study, then one interleaved timing of its computations (bench/quality_retime.py --apply), so
# each gets the steps fair against the others'. `bash bench/quality_vocab.sh gcide-2` runs every
# step; `... gcide-2 3` starts at step 3 (`... gcide-2 2 3`: steps 2 to 3). About 13 minutes per
# row on one core (gcide-1's LightRNN rows, 30).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
corpus=${1:?which corpus: gcide-2 or gcide-1}
shift
case $corpus in
  gcide-2)
    cases=lightrnn:tie+k2000+cooc,adaptive:h100,adaptive:h100+d2,full:tie,adaptive:h50+d2
    steps=(
      "--models lightrnn --variants tie+k2000+cooc --seeds 0,1,2"
      "--models adaptive --baseline-variants h100 --seeds 0,1,2"
      "--models adaptive --baseline-variants h100+d2 --seeds 0,1,2"
      "--models full --baseline-variants tie"
      "--models adaptive --baseline-variants h50+d2 --seeds 0"
      # narrower LightRNNs, calibrated first against the base by bench/quality_retime.py --apply
      # --cases lightrnn:tie+k2000+cooc,lightrnn:tie+k2000+h150+cooc,lightrnn:tie+k2000+h100+cooc
      "--models lightrnn --variants tie+k2000+h150+cooc,tie+k2000+h100+cooc --seeds 0"
    ) ;;
  gcide-1)
    # with every training word in the vocabulary, <unk> never occurs in training, so no model
    # can learn it: validation and test score the other targets (quality.IN_VOCAB; 8% of the
    # test tokens are <unk>). The tied full softmax is left out: at 151,715 words it was the
    # worst by far, and its step grows with |V|. (The earlier row that scored <unk> too is
    # quality-gcide1-unk-cpu.json.)
    cases=lightrnn:tie+k2000+cooc,adaptive:h100,adaptive:h100+d2,adaptive:h50+d2
    steps=(
      "--models lightrnn --variants tie+k2000+cooc --seeds 0,1,2"
      "--models adaptive --baseline-variants h100+d2 --seeds 0,1,2"
      "--models adaptive --baseline-variants h100 --seeds 0,1,2"
      "--models adaptive --baseline-variants h50+d2 --seeds 0"
    ) ;;
  *) echo "corpus $corpus: gcide-2 or gcide-1" >&2; exit 2 ;;
esac
out=bench/results/quality-${corpus/-/}-cpu.json
"$PY" bench/gcide.py --min-count "${corpus#gcide-}" --prepare ".lightrnn/shards-$corpus" \
  --json "bench/results/$corpus.json"  # the text when missing; |V| and tokens
if [ ! -f "$out" ]; then
  "$PY" bench/quality.py --threads 1 --corpora "$corpus" --budgets '' --out "$out" --no-plots
  "$PY" bench/quality_retime.py --corpus "$corpus" --seconds 600 --block 10 --repeats 8 --apply \
    --results "$out" --out "bench/results/retime-${corpus/-/}-cpu.json" --cases "$cases"
fi
Q=("$PY" bench/quality.py --threads 1 --corpora "$corpus" --budgets paced:600 --append
  --out "$out")
. bench/study_steps.sh
run_steps "${1:-1}" "${2:-}"
