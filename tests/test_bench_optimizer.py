"""bench/optimizer.py: each implementation of Adam timed on the real models' parameters."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import optimizer  # noqa: E402
from bench.throughput_setting import Setting, parameters  # noqa: E402


def test_optimizer_times_every_implementation_on_every_model(tmp_path: Path) -> None:
    out = tmp_path / "optimizer.json"
    result = optimizer.main(
        ["--sizes", "500,900", "--models", "hybrid,full", "--hidden", "16", "--steps", "2"]
        + ["--warmup", "1", "--out", str(out)]
    )
    assert json.loads(out.read_text()) == result
    rows = result["rows"]
    assert [(r["model"], r["vocab_size"]) for r in rows] == [
        ("hybrid", 500),
        ("full", 500),
        ("hybrid", 900),
        ("full", 900),
    ]
    s = Setting(hidden=16, layers=1)
    for r in rows:
        assert r["params"] == parameters(r["model"], r["vocab_size"], s)
        assert all(r[f"{k}_ms"] > 0 for k in optimizer.KINDS)
        assert r["loop_over_fused"] == r["loop_ms"] / r["fused_ms"]
    assert result["markdown"].count("\n") == len(rows) + 1
