"""Benchmark corpus preparation: MB/s, tokens/s and peak RSS, end to end.

    .venv/bin/python bench/prepare.py               # all cases -> bench/results/prepare.json
    .venv/bin/python bench/prepare.py --size-mb 50  # a smaller generated file

Cases: WikiText-2 from ../shared/data (plain text), the bundled xz-compressed copy, WikiText-2
with the `raw` tokenizer, and a generated file of --size-mb MB of Zipf-distributed words (a
200k-word lexicon, exponent 1.1, 2% of the words non-ASCII, ~5% blank lines) written to a
temporary directory. Each case runs --repeat times (default 3), each in a fresh process so that
its peak RSS is its own; the table shows the fastest run and the largest peak RSS:
main = the preparing process (VmHWM), worker = the largest worker process, all = the
largest sum over the process tree at one instant (sampled every 20 ms). MB/s counts
uncompressed text bytes over the whole run (read, tokenize, vocabulary, shards, manifest).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if not __package__:  # run as `python bench/prepare.py`: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import common
from lightrnn.corpus import CorpusConfig, find_splits, prepare
from lightrnn.corpus.inputs import open_text

SHARED = common.ROOT.parent / "shared" / "data" / "wikitext-2"
BUNDLED = common.ROOT / "data" / "wikitext-2"


def lexicon(n_words: int, rng: np.random.Generator) -> pa.StringArray:
    """`n_words` distinct word types, shorter ones first (frequent words are short)."""
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8)
    accents = ["é", "ü", "ñ", "ø", "ç"]
    out = [
        ",",
        ".",
        "the",
        "of",
        "and",
        "<unk>",
        "@-@",
        '"',
        "'s",
    ]  # a list: the order of a set of str varies per process
    words = set(out)
    while len(out) < n_words:
        length = int(rng.integers(1, 4)) + int(rng.poisson(4))
        word = bytes(rng.choice(letters, length)).decode()
        if rng.random() < 0.02:
            word = word[:-1] + accents[int(rng.integers(len(accents)))]
        if word not in words:
            words.add(word)
            out.append(word)
    out[9:] = sorted(out[9:], key=lambda w: (len(w), w))
    return pa.array(out, pa.string())


def generate(path: Path, size_bytes: int, seed: int = 0) -> int:
    """Write about `size_bytes` of Zipf text, one sentence per line; returns the bytes written."""
    rng = np.random.default_rng(seed)
    lex = lexicon(200_000, rng)
    cdf = common.zipf_cdf(len(lex), exponent=1.1)
    written = 0
    with open(path, "wb") as f:
        while written < size_bytes:
            n_lines = 200_000
            lengths = rng.poisson(22, n_lines)
            lengths[rng.random(n_lines) < 0.05] = 0  # blank lines, as between paragraphs
            ids = np.searchsorted(cdf, rng.random(int(lengths.sum())))
            words = lex.take(pa.array(ids))
            offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
            lines = pc.binary_join(pa.ListArray.from_arrays(offsets, words), " ")
            lines = pc.binary_join_element_wise(lines, "", "\n")  # line + "\n"
            end = int(np.frombuffer(lines.buffers()[1], np.int32)[len(lines)])
            data = lines.buffers()[2].to_pybytes()[:end]
            f.write(data[: size_bytes - written] if written + len(data) > size_bytes else data)
            written += min(len(data), size_bytes - written)
    with open(path, "rb+") as f:  # end on a line end, as text files do
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
            f.write(b"\n")
            written += 1
    return written


def text_bytes(splits: dict[str, str]) -> int:
    """Uncompressed size of the inputs."""
    total = 0
    for url in splits.values():
        with open_text(url) as (stream, _):
            while chunk := stream.read(1 << 24):
                total += len(chunk)
    return total


class TreeRss:
    """Peak RSS of this process plus all its descendants (the forkserver and its workers are
    not waited-for children, so RUSAGE_CHILDREN misses them): /proc sampled every 20 ms."""

    def __init__(self) -> None:
        self.peak_total = 0  # bytes, summed over the tree at one instant
        self.peak_other = 0  # bytes, largest VmHWM of any descendant
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def _sample(self) -> None:
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        tree, frontier = {os.getpid()}, [os.getpid()]
        while frontier:
            kids = [pid for pid, ppid in parents.items() if ppid in frontier]
            tree.update(kids)
            frontier = kids
        total = 0
        for pid in tree:
            status = common.proc_kib(f"/proc/{pid}/status")  # {} once the process has gone
            total += status.get("VmRSS", 0) * 1024
            if pid != os.getpid():
                self.peak_other = max(self.peak_other, status.get("VmHWM", 0) * 1024)
        self.peak_total = max(self.peak_total, total)


def run_case(name: str, corpus: str, tokenizer: str, workers: int | None, tmp: str) -> dict:
    """One case in this (fresh) process: time, size, peak RSS."""
    splits = find_splits(corpus)
    size = text_bytes(splits)
    cfg = CorpusConfig(tokenizer=tokenizer, workers=workers, tmp_dir=tmp)
    with tempfile.TemporaryDirectory(dir=tmp) as out, TreeRss() as rss:
        elapsed = common.stopwatch()
        result = prepare(splits, out, cfg)
        seconds = elapsed()
    tokens = sum(info.tokens for info in result.splits.values())
    n_workers = cfg.workers or len(os.sched_getaffinity(0))
    # VmHWM, not ru_maxrss: this process's own peak, not that of the parent that generated
    # the 500 MB file (common.peak_rss_gib)
    main_mb = common.peak_rss_gib() * 1024
    return {
        "case": name,
        "tokenizer": tokenizer,
        "processes": n_workers if rss.peak_other else 1,  # 1: small enough to run in-process
        "text_mb": round(size / 1e6, 1),
        "tokens": tokens,
        "vocab": len(result.vocab),
        "seconds": round(seconds, 2),
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "mtokens_per_s": round(tokens / 1e6 / seconds, 2),
        "peak_rss_main_mb": round(main_mb),
        "peak_rss_worker_mb": round(rss.peak_other / 2**20),
        "peak_rss_total_mb": round(rss.peak_total / 2**20),
    }


def best(runs: list[dict]) -> dict:
    """The fastest run (the machine is shared: slower runs measure the neighbours), with every
    run's time and load, and the largest peak RSS of all runs (memory is not luck)."""
    row = dict(min(runs, key=lambda r: r["seconds"]))
    for key in ("peak_rss_main_mb", "peak_rss_worker_mb", "peak_rss_total_mb"):
        row[key] = max(r[key] for r in runs)
    row["runs_seconds"] = [r["seconds"] for r in runs]
    row["runs_load_before"] = [round(r["load_before"], 2) for r in runs]
    del row["load_before"]
    return row


def table(rows: list[dict]) -> str:
    headers = ["case", "tokenizer", "processes", "text MB", "tokens", "vocab", "s", "MB/s"]
    headers += ["Mtokens/s", "peak RSS MB: main / worker / all"]
    body = [
        [
            r["case"],
            r["tokenizer"],
            str(r["processes"]),
            f"{r['text_mb']:,}",
            f"{r['tokens']:,}",
            f"{r['vocab']:,}",
            str(r["seconds"]),
            str(r["mb_per_s"]),
            str(r["mtokens_per_s"]),
            f"{r['peak_rss_main_mb']} / {r['peak_rss_worker_mb']} / {r['peak_rss_total_mb']}",
        ]
        for r in rows
    ]
    return common.markdown_table(headers, body, "--rrrrrrrr")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=500, help="generated file size (MB)")
    parser.add_argument("--workers", type=int, default=None, help="default: all cores")
    parser.add_argument("--out", default=str(common.ROOT / "bench" / "results" / "prepare.json"))
    parser.add_argument("--tmp", default=None, help="scratch directory (default: system temp)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the fastest counts")
    parser.add_argument(
        "--case", nargs=4, metavar=("NAME", "CORPUS", "TOKENIZER", "TMP"), help=argparse.SUPPRESS
    )  # internal: run one case, print its JSON
    args = parser.parse_args(argv)
    if args.case:
        name, corpus, tokenizer, tmp = args.case
        print(json.dumps(run_case(name, corpus, tokenizer, args.workers, tmp)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-prepare-", dir=args.tmp) as tmp:
        gen = Path(tmp) / "generated"
        gen.mkdir()
        elapsed = common.stopwatch()
        size = generate(gen / "train.txt", args.size_mb * 1_000_000)
        generate(gen / "valid.txt", args.size_mb * 5_000, seed=1)
        generate(gen / "test.txt", args.size_mb * 5_000, seed=2)
        print(f"generated {size:,} bytes in {elapsed():.1f} s", flush=True)
        cases = [
            ("wikitext-2", str(SHARED), "whitespace"),
            ("wikitext-2 (.xz)", str(BUNDLED), "whitespace"),
            ("wikitext-2", str(SHARED), "raw"),
            (f"generated {args.size_mb} MB", str(gen), "whitespace"),
        ]
        rows = []
        for name, corpus, tokenizer in cases:
            child_args = ["--case", name, corpus, tokenizer, tmp]
            if args.workers:
                child_args += ["--workers", str(args.workers)]
            runs = []
            for _ in range(args.repeat):
                load = common.load_average()
                runs.append(common.run_child("prepare", child_args) | {"load_before": load})
            rows.append(best(runs))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    report = {
        "command": common.command_line("prepare.py", argv),
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "pyarrow": pa.__version__,
            "load_average_at_end": os.getloadavg(),
        },
        "rows": rows,
    }
    common.write_json(args.out, report)
    print(f"\n{table(rows)}\n")


if __name__ == "__main__":
    main()
