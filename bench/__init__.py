"""Benchmarks: each script prints a Markdown table and writes JSON under bench/results/. Run them
from the repository root, as `.venv/bin/python bench/<script>.py` or `python -m bench.<script>`:

    throughput.py  training step time, tokens/s, parameters, peak memory and batch-1 latency of
                   LightRNN against full- and adaptive-softmax LSTMs and the floor (floor.py);
                   its parts: throughput_setting.py (the Setting, the models),
                   throughput_measure.py (one model in one process), throughput_report.py
                   (summary, targets, tables)
    quality.py     perplexity on PTB and WikiText-2: LightRNN with bootstrap reallocation against
                   its random table and the two baselines, at the same budget
    reallocate.py  the reallocation solvers on synthetic costs, |V| up to 793,471
    prepare.py     corpus preparation: MB/s, tokens/s and peak RSS, end to end
    gpu_suite.sh   the GPU figures of the docs, in parts that fit a device session

common.py holds what they share: environment and provenance, timing, peak memory, child
processes, the command line, Markdown tables and JSON.
"""
