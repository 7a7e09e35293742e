"""bench/optimizer.py: each implementation of Adam timed on the real models' parameters."""

from __future__ import annotations

import json
from pathlib import Path

from bench import optimizer
from bench.throughput_setting import Setting, parameters


def test_optimizer_times_every_implementation_on_every_model(tmp_path: Path) -> None:
    out = tmp_path / "optimizer.json"
    args = ["--sizes", "500,900", "--models", "hybrid,full", "--hidden", "16", "--steps", "2"]
    result = optimizer.main([*args, "--warmup", "1", "--out", str(out)])
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


def test_optimizer_facts_name_each_row_for_the_docs() -> None:
    row = {"model": "full", "vocab_size": 900, "params": 1_234_567}
    row |= {"loop_ms": 9.0, "foreach_ms": 4.5, "fused_ms": 1.5, "loop_over_fused": 6.0}
    assert optimizer.facts({"rows": [row]}) == {
        "full/900/loop_ms": "9.0",
        "full/900/foreach_ms": "4.5",
        "full/900/fused_ms": "1.5",
        "full/900/params": "1.23M",
        "full/900/loop_over_fused": "6.0x",
    }
