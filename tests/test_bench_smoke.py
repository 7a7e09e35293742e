"""The model benchmarks run end to end at toy sizes on the CPU and write the JSON the README quotes.

Every code path the GPU runs of bench/throughput.py and bench/quality.py take (training steps,
peak memory, batch-1 eager and fast inference, reallocation rounds) runs here, small.
"""

import json
import lzma
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench/ is a package of the repository, not an installed one

from bench import quality, throughput  # noqa: E402
from bench.throughput_setting import MODELS, Setting, parameters  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
BUNDLED = ROOT / "data" / "wikitext-2"
TOY = ["--device", "cpu", "--hidden", "16", "--layers", "1", "--batch", "4", "--bptt", "6"]


def test_throughput_measures_every_model_and_size(tmp_path):
    out = tmp_path / "t.json"
    sizes = [300, 1000]
    argv = [*TOY, "--sizes", "300,1000", "--steps", "2", "--warmup", "1", "--repeat", "2"]
    argv += ["--infer-words", "4", "--infer-warmup", "1", "--in-process", "--out", str(out)]
    result = throughput.main([*argv, "--profile"])
    saved = json.loads(out.read_text())
    assert saved["markdown"] == result["markdown"]
    assert saved["command"].startswith("python bench/throughput.py --device cpu")
    assert saved["env"]["device"] == "cpu" and saved["env"]["torch"] and saved["env"]["device_name"]
    assert [(r["vocab_size"], r["model"]) for r in saved["rows"]] == [
        (v, m) for v in sizes for m in MODELS
    ]
    setting = Setting(**saved["setting"])
    for row in saved["rows"]:
        assert "skipped" not in row, row
        assert row["ms_step"] > 0 and row["tokens_per_s"] > 0 and row["peak_mem_gib"] > 0
        assert row["infer_eager_ms"] > 0
        assert len(row["repeats_ms_step"]) == 2 and row["ms_step"] == min(row["repeats_ms_step"])
        assert row["parameters"] == parameters(row["model"], row["vocab_size"], setting)
        assert "Self CPU" in row["profile"]
        if row["model"] == "floor":
            assert row["infer_fast_ms"] is None
        else:
            assert row["infer_fast_ms"] > 0 and row["infer_fast_graph"] is False
    for s in saved["summary"]:
        assert s["lightrnn_vs_floor"] > 0 and s["speedup_vs_full"] > 0
    assert set(saved["targets"]) == set(result["targets"])
    assert saved["targets"]["tokens/s vs full at 793,471"]["met"] is None  # not measured


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_throughput_on_cuda_uses_events_device_memory_and_graphs(tmp_path):
    out = tmp_path / "t.json"
    argv = ["--device", "cuda", "--hidden", "32", "--layers", "2", "--batch", "8", "--bptt", "6"]
    argv += ["--sizes", "3000", "--steps", "3", "--warmup", "1", "--infer-words", "5"]
    throughput.main([*argv, "--infer-warmup", "2", "--profile", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["env"]["device"].startswith("cuda") and saved["complete"]
    for row in saved["rows"]:
        assert "skipped" not in row, row
        assert row["peak_mem_gib"] > 0 and "CUDA" in row["profile"]
        if row["model"] != "floor":
            assert row["infer_fast_graph"] is True
            assert set(row["infer_fast_ms_by_dtype"]) == {"bfloat16", "float32"}


def test_throughput_records_why_a_configuration_was_skipped(tmp_path):
    out = tmp_path / "t.json"
    throughput.main(
        [*TOY, "--sizes", "300", "--max-mem-gib", "0.1", "--repeat", "2", "--out", str(out)]
    )
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == len(MODELS)
    assert all("needs ~" in r["skipped"] and "0 GiB available" in r["skipped"] for r in rows)


def test_throughput_runs_each_configuration_in_its_own_process(tmp_path):
    out = tmp_path / "t.json"
    argv = [*TOY, "--sizes", "300", "--models", "lightrnn", "--steps", "1", "--warmup", "0"]
    throughput.main([*argv, "--infer-words", "2", "--infer-warmup", "0", "--out", str(out)])
    (row,) = json.loads(out.read_text())["rows"]
    assert row["model"] == "lightrnn" and row["ms_step"] > 0 and row["infer_fast_ms"] > 0


def corpus_slice(root: Path, name: str, lines: dict[str, int]) -> None:
    """The first lines of each split of a real corpus (shared copy, else the bundled xz)."""
    (root / name).mkdir(parents=True)
    for split, n in lines.items():
        # the places bench/quality.py looks (the shared copy, then where gpu_suite.sh carries it)
        candidates = (d / f"{split}.txt" for d in quality.CORPORA[name])
        plain = next((p for p in candidates if p.is_file()), None)
        if plain is not None:
            with plain.open(encoding="utf-8") as f:
                text = [next(f) for _ in range(n)]
        elif name == "wikitext-2":
            with lzma.open(BUNDLED / f"{split}.txt.xz", "rt", encoding="utf-8") as f:
                text = [next(f) for _ in range(n)]
        else:
            pytest.skip(f"no {name} corpus at {SHARED}")
        (root / name / f"{split}.txt").write_text("".join(text), encoding="utf-8")


def test_quality_trains_every_model_in_rounds_and_reallocates(tmp_path):
    data = tmp_path / "data"
    corpus_slice(data, "ptb", {"train": 150, "valid": 20, "test": 20})
    corpus_slice(data, "wikitext-2", {"train": 60, "valid": 12, "test": 12})
    out = tmp_path / "q.json"
    argv = [*TOY, "--dropout", "0", "--steps", "6", "--rounds", "3", "--eval-tokens", "200"]
    argv += ["--data-root", str(data), "--work-dir", str(tmp_path), "--out", str(out)]
    result = quality.main(argv)
    saved = json.loads(out.read_text())
    assert saved["markdown"] == result["markdown"]
    assert saved["steps_per_round"] == 2 and saved["complete"] is True
    for name in ("ptb", "wikitext-2"):
        corpus = saved["corpora"][name]
        assert corpus["vocab_size"] > 100 and corpus["tokens"]["train"] > 1000
        assert list(corpus["models"]) == list(quality.MODELS)
        for kind, m in corpus["models"].items():
            assert [r["step"] for r in m["rounds"]] == [2, 4, 6], kind
            assert math.isfinite(m["test_ppl"]) and m["test_ppl"] > 1
            assert m["parameters"] > 0 and m["train_seconds"] > 0
        boot = corpus["models"]["lightrnn"]["rounds"]
        for r in boot[:-1]:  # a reallocation after every round but the last
            assert r["objective_after"] <= r["objective_before"] * (1 + 1e-9)
            assert 0 <= r["moved_fraction"] <= 1 and r["valid_ppl_after_realloc"] > 1
        assert "words_moved" not in boot[-1]
        assert "words_moved" not in corpus["models"]["lightrnn-random"]["rounds"][0]
        # the control and the bootstrap are the same run until the first reallocation
        first = corpus["models"]["lightrnn-random"]["rounds"][0]
        assert first["test_ppl"] == pytest.approx(boot[0]["test_ppl"], rel=1e-9)
    targets = saved["targets"]
    assert targets["lightrnn vs full, WikiText-2 test ppl"]["value"] is not None
    assert set(targets["reallocation vs random table, test ppl"]["value"]) == {"ptb", "wikitext-2"}
    assert "| ptb | lightrnn |" in saved["markdown"]


def test_quality_says_when_a_corpus_is_missing(tmp_path):
    out = tmp_path / "q.json"
    argv = [*TOY, "--corpora", "ptb", "--steps", "2", "--rounds", "1", "--out", str(out)]
    quality.main([*argv, "--data-root", str(tmp_path / "nothing-here")])
    assert "no ptb corpus found" in json.loads(out.read_text())["corpora"]["ptb"]["skipped"]


def test_scaling_trains_one_round_per_process_count(tmp_path):
    from bench import scaling

    out = tmp_path / "scaling.json"
    result = scaling.main(
        [
            "--device",
            "cpu",
            "--processes",
            "1,2",
            "--steps",
            "6",
            "--hidden",
            "16",
            "--batch",
            "4",
            "--out",
            str(out),
        ]
    )
    rows = result["rows"]
    assert [r["processes"] for r in rows] == [1, 2] and [r["global_batch"] for r in rows] == [4, 8]
    assert all(r["steps"] == 6 and r["tokens_per_s"] > 0 for r in rows)
    assert json.loads(out.read_text())["markdown"].startswith("| processes |")
