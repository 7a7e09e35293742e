#!/usr/bin/env bash
# Every GPU figure of the docs in four parts, each under 10 minutes (~20 minutes of device
# time in all, machine start included). Run from the repository root on a CUDA machine:
#
#     bash bench/gpu_suite.sh all     # or some of: tests throughput quality-wt2 quality-ptb
#
# Results go to $OUT (default bench/results): throughput-cuda.json,
# quality-cuda-wikitext-2.json, quality-cuda-ptb.json, and a log per part. Both benchmarks
# rewrite their JSON after every model, so a part stopped by its timeout keeps what it finished
# ("complete": false). Estimated times on an H100 (not yet measured):
#   tests        ~1 min   tests/test_infer.py and tests/test_bench_smoke.py with CUDA present:
#                         the CUDA-graph scorer against the model (float32, and bf16 against
#                         autocast), the throughput benchmark's CUDA path at toy sizes
#   throughput   ~5 min   floor, LightRNN, adaptive, full x |V| in {10k, 33,278, 100k, 793,471};
#                         2 x 1024, batch 128, bptt 35, bf16; batch-1 eager and CUDA-graph
#                         latency; --profile keeps each model's top kernels of a training step
#                         (where LightRNN's time over the floor goes)
#   quality-wt2  ~9 min   2 x 650 LSTM, dropout 0.5, Adam, batch 64, 100 s of training per model
#   quality-ptb  ~9 min   (time:100): LightRNN tie+k2000 in 2 rounds, its random-table control,
#                         full and adaptive softmax
#
# With this workplace's device tool (its machine has torch, numpy, pyarrow, fsspec and numba but
# no lapx: reallocation then uses the sparse auction, as the JSON records). PTB does not travel
# with the repository: copy it into an ignored folder first and carry it:
#     mkdir -p .lightrnn/data && cp -r ../shared/data/ptb .lightrnn/data/
#     run(command="bash bench/gpu_suite.sh tests throughput", carry=[".lightrnn/data"])
#     run(command="bash bench/gpu_suite.sh quality-wt2", carry=[".lightrnn/data"])
#     run(command="bash bench/gpu_suite.sh quality-ptb", carry=[".lightrnn/data"])
# ($OUT is set there and its files come back.) WikiText-2 comes from data/wikitext-2/*.xz.
#
# A dry run of the plumbing on a CPU at toy sizes (the extra flags go after the defaults):
#     DEVICE=cpu OUT=/tmp/suite THROUGHPUT_ARGS="--hidden 16 --batch 4 --sizes 500 --steps 2" \
#       QUALITY_ARGS="--hidden 16 --batch 8 --budgets steps:30 --eval-tokens 2000 \
#       --variants tie+k200+cost20000" bash bench/gpu_suite.sh throughput quality-wt2
set -uo pipefail  # no -e: a part that fails or times out must not stop the next one

cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results}
DEVICE=${DEVICE:-cuda}
PY=${PY:-$(command -v .venv/bin/python || command -v python3)}
read -r -a throughput_args <<<"${THROUGHPUT_ARGS:-}"
read -r -a quality_args <<<"${QUALITY_ARGS:-}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT"
parts=("$@")
if [ ${#parts[@]} -eq 0 ] || [ "${parts[0]}" = all ]; then
  parts=(tests throughput quality-wt2 quality-ptb)
fi

if [ "$DEVICE" = cuda ] && ! "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'
then
  echo "no CUDA GPU visible to $PY: this suite measures GPU figures (DEVICE=cpu: a dry run)" >&2
  exit 1
fi
"$PY" -c 'import torch; print("torch", torch.__version__, torch.cuda.is_available()
  and torch.cuda.get_device_name() or "cpu", "CUDA", torch.version.cuda)'

status=0
for part in "${parts[@]}"; do
  echo "=== $part ($(date +%T))"
  case "$part" in
    tests)
      timeout 300 "$PY" -m pytest -q -p no:cacheprovider tests/test_infer.py \
        tests/test_bench_smoke.py 2>&1 | tee "$OUT/tests-$DEVICE.log" | tail -15 ;;
    throughput)
      timeout 560 "$PY" bench/throughput.py --device "$DEVICE" --profile \
        "${throughput_args[@]}" --out "$OUT/throughput-$DEVICE.json" 2>&1 \
        | tee "$OUT/throughput-$DEVICE.log" ;;
    quality-wt2|quality-ptb)
      corpus=${part#quality-}
      [ "$corpus" = wt2 ] && corpus=wikitext-2
      timeout 560 "$PY" bench/quality.py --device "$DEVICE" --corpora "$corpus" --hidden 650 \
        --layers 2 --dropout 0.5 --batch 64 --lr 2e-3 --budgets time:100 "${quality_args[@]}" \
        --out "$OUT/quality-$DEVICE-$corpus.json" 2>&1 \
        | tee "$OUT/quality-$DEVICE-$corpus.log" | grep -v ': step ' ;;
    *)
      echo "unknown part '$part': choose all, tests, throughput, quality-wt2, quality-ptb" >&2
      exit 2 ;;
  esac
  rc=${PIPESTATUS[0]}
  echo "=== $part: exit $rc ($(date +%T))"
  [ "$rc" -eq 0 ] || status=$rc
done
exit $status
