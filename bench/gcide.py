"""GCIDE, a real corpus with a large vocabulary, as train/valid/test text files and prepared shards.

    .venv/bin/python bench/gcide.py   # -> .lightrnn/gcide/{train,valid,test}.txt
    .venv/bin/python bench/gcide.py --min-count 3 --prepare .lightrnn/gcide-shards

GCIDE (the GNU Collaborative International Dictionary of English, GPL) ships in Debian as
`dict-gcide`: `/usr/share/dictd/gcide.dict.dz`, gzip text of ~1.2M lines. It is installed with
apt-get when missing (root, as on the development machine and in CI) and never committed.
Empty lines are dropped; the others are split by their position, deterministically: of every
ten non-empty lines the first eight go to train, the ninth to valid, the tenth to test, so the
three splits cover the whole dictionary (A to Z) alike. Lines are kept as bytes: the file holds
some cp1252 bytes, which the pipeline's own `prepare` replaces (`encoding_errors=replace`).

`--prepare DIR` runs that `prepare` (whitespace tokens, `<eos>` per line, `--min-count`) and
writes the vocabulary size and token counts to `--json` (bench/results/gcide.json), the source
of the figures the docs quote.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/gcide.py`: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import common

DICT = Path("/usr/share/dictd/gcide.dict.dz")
PACKAGE = "dict-gcide"
SPLIT_OF_LINE = ("train",) * 8 + ("valid", "test")  # line k (non-empty) -> SPLIT_OF_LINE[k % 10]


def install(dict_path: Path = DICT) -> Path:
    """The dictionary file, installing Debian's `dict-gcide` first when it is missing."""
    if dict_path.exists():
        return dict_path
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise SystemExit(
            f"{dict_path} is missing: install it with 'sudo apt-get install {PACKAGE}' "
            "(Debian/Ubuntu), or pass --dict PATH to a copy of gcide.dict.dz"
        )
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", PACKAGE], check=True, env=env)
    if not dict_path.exists():
        raise SystemExit(f"apt-get installed {PACKAGE} but {dict_path} is still missing")
    return dict_path


def split_lines(dict_path: Path, out_dir: Path) -> dict[str, dict[str, object]]:
    """Write train/valid/test.txt under `out_dir` from the dictionary; their lines and sha256.

    Each file is written under a temporary name and renamed, so a cut run leaves no half file
    that looks finished."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = sorted(set(SPLIT_OF_LINE))
    tmp = {s: out_dir / f".{s}.txt.tmp" for s in names}
    files = {s: tmp[s].open("wb") for s in names}
    lines = dict.fromkeys(names, 0)
    hashes = {s: hashlib.sha256() for s in names}
    try:
        with gzip.open(dict_path, "rb") as src:
            k = 0
            for line in src:
                if not line.strip():
                    continue
                split = SPLIT_OF_LINE[k % len(SPLIT_OF_LINE)]
                k += 1
                line = line.rstrip(b"\r\n") + b"\n"
                files[split].write(line)
                hashes[split].update(line)
                lines[split] += 1
    finally:
        for f in files.values():
            f.close()
    for s in names:
        tmp[s].replace(out_dir / f"{s}.txt")
    return {s: {"lines": lines[s], "sha256": hashes[s].hexdigest()} for s in names}


def prepare_shards(text_dir: Path, shards_dir: Path, min_count: int) -> dict[str, object]:
    """The pipeline's own `prepare` on the three files: vocabulary size and tokens per split."""
    from lightrnn.corpus import CorpusConfig, prepare

    splits = {s: str(text_dir / f"{s}.txt") for s in ("train", "valid", "test")}
    cfg = CorpusConfig(min_count=min_count, encoding_errors="replace")
    corpus = prepare(splits, str(shards_dir), cfg)
    return {
        "min_count": min_count,
        "vocab_size": len(corpus.vocab),
        "tokens": {s: info.tokens for s, info in corpus.splits.items()},
        "unk_tokens": {s: info.unk_tokens for s, info in corpus.splits.items()},
        "digest": corpus.digest,
    }


def facts(saved: dict[str, Any]) -> dict[str, str]:
    """Named figures for the docs (bench/docs_numbers.py): vocab_size, min_count, and per
    split its lines, tokens and <unk> tokens (`train/tokens`, ...)."""
    prepared = saved["prepared"]
    out = {"vocab_size": f"{prepared['vocab_size']:,}", "min_count": str(prepared["min_count"])}
    for split, info in saved["files"].items():
        out[f"{split}/lines"] = f"{info['lines']:,}"
        out[f"{split}/tokens"] = f"{prepared['tokens'][split]:,}"
        out[f"{split}/unk"] = f"{prepared['unk_tokens'][split]:,}"
    return out


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dict", type=Path, default=DICT, help="gcide.dict.dz to read")
    parser.add_argument("--out", type=Path, default=common.ROOT / ".lightrnn" / "gcide")
    parser.add_argument("--prepare", type=Path, default=None, help="prepare shards into DIR")
    parser.add_argument("--min-count", type=int, default=3)
    parser.add_argument("--json", type=Path, default=common.ROOT / "bench/results/gcide.json")
    args = parser.parse_args(argv)
    files = split_lines(install(args.dict), args.out)
    result: dict[str, object] = {"source": str(args.dict), "text_dir": str(args.out)}
    result["files"] = files
    for split, info in files.items():
        print(f"{split:6} {info['lines']:>9,} lines  {args.out / (split + '.txt')}")
    if args.prepare is not None:
        result["prepared"] = prepare_shards(args.out, args.prepare, args.min_count)
        prepared = result["prepared"]
        print(f"vocabulary (min count {args.min_count}): {prepared['vocab_size']:,} words")
        for split, n in prepared["tokens"].items():
            print(f"{split:6} {n:>11,} tokens")
        result["command"] = common.command_line("gcide.py", argv)
        result["git_commit"] = common.git_commit()
        common.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
