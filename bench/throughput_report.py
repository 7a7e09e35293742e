"""What bench/throughput.py concludes from its rows: LightRNN (plain, and the hybrid every
profile trains) against the floor and the baselines per |V|, the issue's targets checked on
whatever ran, and the Markdown tables."""

from __future__ import annotations

from typing import Any

from bench.common import fmt, markdown_table, target, target_lines

# Targets of the issue (H100, 2 x 1024, batch 128, bptt 35): checked on whatever ran.
TARGETS = {
    "lightrnn_vs_floor_max": 1.15,  # at every |V| >= 100k
    "speedup_vs_full_min": 18.0,  # tokens/s at |V| = 793,471
    "speedup_vs_adaptive_min": 4.5,
    "infer_fast_ms_max": 0.3,  # batch-1 per word at |V| = 793,471
}
BIG_V = 793_471


def ratio(a: dict | None, b: dict | None, key: str) -> float | None:
    """a[key] / b[key], or None where either row or value is missing."""
    if a is None or b is None or a.get(key) is None or b.get(key) is None:
        return None
    return a[key] / b[key]


def summarise(rows: list[dict], sizes: list[int]) -> list[dict]:
    """Per |V|: LightRNN against the floor and the baselines (None where one is missing)."""
    out = []
    for v in sizes:
        got = {r["model"]: r for r in rows if r["vocab_size"] == v and "skipped" not in r}
        light, floor = got.get("lightrnn"), got.get("floor")
        full, adaptive, hybrid = got.get("full"), got.get("adaptive"), got.get("hybrid")
        out.append(
            {
                "vocab_size": v,
                "lightrnn_vs_floor": ratio(light, floor, "ms_step"),
                "speedup_vs_full": ratio(light, full, "tokens_per_s"),
                "speedup_vs_adaptive": ratio(light, adaptive, "tokens_per_s"),
                "hybrid_vs_floor": ratio(hybrid, floor, "ms_step"),
                "hybrid_speedup_vs_adaptive": ratio(hybrid, adaptive, "tokens_per_s"),
                "hybrid_speedup_vs_full": ratio(hybrid, full, "tokens_per_s"),
                "infer_fast_ms": light.get("infer_fast_ms") if light else None,
                "infer_fast_vs_full_fast": ratio(light, full, "infer_fast_ms"),
                "infer_fast_vs_full_eager": (
                    None
                    if light is None or full is None
                    else light["infer_fast_ms"] / full["infer_eager_ms"]
                ),
            }
        )
    return out


def check_targets(summary: list[dict]) -> dict[str, dict]:
    """The issue's targets against what was measured: met True/False, or None (not measured)."""

    def at(v: int, key: str) -> float | None:
        return next((s[key] for s in summary if s["vocab_size"] == v), None)

    def worst(key: str, min_vocab: int = 0) -> float | None:
        values = [s[key] for s in summary if s["vocab_size"] >= min_vocab and s[key] is not None]
        return max(values) if values else None

    def bound(value: float | None, limit: float, below: bool) -> dict:
        met = None if value is None else (value <= limit if below else value >= limit)
        return target(value, limit, met)

    t = TARGETS
    return {
        "lightrnn/floor at |V| >= 100k (worst)": bound(
            worst("lightrnn_vs_floor", 100_000), t["lightrnn_vs_floor_max"], True
        ),
        "tokens/s vs full at 793,471": bound(
            at(BIG_V, "speedup_vs_full"), t["speedup_vs_full_min"], False
        ),
        "tokens/s vs adaptive at 793,471": bound(
            at(BIG_V, "speedup_vs_adaptive"), t["speedup_vs_adaptive_min"], False
        ),
        "batch-1 fast ms at 793,471": bound(
            at(BIG_V, "infer_fast_ms"), t["infer_fast_ms_max"], True
        ),
        "batch-1 fast vs full fast (worst |V|)": bound(worst("infer_fast_vs_full_fast"), 1.0, True),
    }


def count(n: int) -> str:
    """12.3k, 20.4M, 1.64B."""
    if n >= 1e9:
        return f"{n / 1e9:.2f}B"
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k"


def markdown(rows: list[dict], summary: list[dict], targets: dict[str, dict]) -> str:
    """Every row, then LightRNN's ratios per |V|, then the targets."""
    floors = {r["vocab_size"]: r.get("ms_step") for r in rows if r["model"] == "floor"}
    body = []
    for r in rows:
        v = f"{r['vocab_size']:,}"
        if "skipped" in r:
            body.append([v, r["model"], "-", f"skipped: {r['skipped'][:80]}", *["-"] * 5])
            continue
        floor = floors.get(r["vocab_size"])
        body.append(
            [
                v,
                r["model"],
                count(r["parameters"]),
                f"{r['ms_step']:,.1f}",
                f"{r['tokens_per_s']:,.0f}",
                f"{r['peak_mem_gib']:.2f}",
                fmt(r["ms_step"] / floor if floor else None, ".2f"),
                fmt(r.get("infer_eager_ms"), ".3f"),
                fmt(r.get("infer_fast_ms"), ".3f"),
            ]
        )
    headers = ["\\|V\\|", "model", "params", "ms/step", "tokens/s", "peak GiB", "x floor"]
    headers += ["batch-1 eager ms/word", "batch-1 fast ms/word"]
    main = markdown_table(headers, body, "rlrrrrrrr")
    side = markdown_table(
        [
            "\\|V\\|",
            "LightRNN / floor",
            "LightRNN tokens/s vs full",
            "vs adaptive",
            "LightRNN fast batch-1 vs full fast",
            "hybrid / floor",
            "hybrid tokens/s vs adaptive",
            "vs full",
        ],
        [
            [
                f"{s['vocab_size']:,}",
                fmt(s["lightrnn_vs_floor"], ".2f"),
                fmt(s["speedup_vs_full"], ".1f"),
                fmt(s["speedup_vs_adaptive"], ".1f"),
                fmt(s["infer_fast_vs_full_fast"], ".2f"),
                fmt(s["hybrid_vs_floor"], ".2f"),
                fmt(s["hybrid_speedup_vs_adaptive"], ".1f"),
                fmt(s["hybrid_speedup_vs_full"], ".1f"),
            ]
            for s in summary
        ],
        "rrrrrrrr",
    )
    checks = target_lines(targets, lambda value: fmt(value, ".3g"))
    return f"{main}\n\n{side}\n\n{checks}"


def best(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """The repeat with the fastest training step (the least disturbed), with every repeat's
    ms/step recorded beside it."""
    measured = [r for r in repeats if "skipped" not in r]
    if not measured:
        return repeats[0]
    row = dict(min(measured, key=lambda r: r["ms_step"]))
    row["repeats_ms_step"] = [r["ms_step"] for r in measured]
    return row


def facts(saved: dict[str, Any]) -> dict[str, str]:
    """Named figures for the docs (bench/docs_numbers.py): `V/MODEL/{ms_step,tokens_s,params,
    peak_gib,infer_fast_ms}` per measured row, and per |V| the ratios of the summary
    (`V/lightrnn_vs_floor`, `V/speedup_vs_full`, ..., `V/infer_fast_speedup_vs_full`) and
    `V/MODEL/fewer_params_than/OTHER`."""
    out: dict[str, str] = {}
    rows = [r for r in saved["rows"] if "skipped" not in r]
    for r in rows:
        key = f"{r['vocab_size']}/{r['model']}"
        out[f"{key}/ms_step"] = f"{r['ms_step']:,.1f}"
        out[f"{key}/tokens_s"] = f"{r['tokens_per_s']:,.0f}"
        out[f"{key}/params"] = count(r["parameters"])
        out[f"{key}/peak_gib"] = f"{r['peak_mem_gib']:.2f}"
        out[f"{key}/infer_fast_ms"] = fmt(r.get("infer_fast_ms"), ".3f")
        for other in rows:
            if other["vocab_size"] == r["vocab_size"] and other is not r:
                share = other["parameters"] / r["parameters"]
                out[f"{key}/fewer_params_than/{other['model']}"] = f"{share:.0f}x"
    for s in saved["summary"]:
        for name, value in s.items():
            if name != "vocab_size":
                spec = ".3f" if name.endswith("_ms") else ".1f"
                spec = ".2f" if name.endswith(("floor", "fast", "eager")) else spec
                out[f"{s['vocab_size']}/{name}"] = fmt(value, spec)
        fast = s.get("infer_fast_vs_full_fast")
        out[f"{s['vocab_size']}/infer_fast_speedup_vs_full"] = fmt(fast and 1 / fast, ".0f", "x")
    return out
