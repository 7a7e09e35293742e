"""The model benchmarks run end to end at toy sizes on the CPU and write the JSON the README quotes.

Every code path the GPU runs of bench/throughput.py and bench/quality.py take (training steps,
peak memory, batch-1 eager and fast inference, reallocation rounds) runs here, small.
"""

import json
import lzma
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench/ is a package of the repository, not an installed one

from bench import quality, throughput  # noqa: E402
from bench.throughput_setting import MODELS, Setting, parameters  # noqa: E402
from lightrnn.corpus import load_corpus  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
BUNDLED = ROOT / "data" / "wikitext-2"
TOY = ["--device", "cpu", "--hidden", "16", "--layers", "1", "--batch", "4", "--bptt", "6"]


@pytest.mark.slow  # a whole benchmark run (tens of seconds), not a unit
def test_throughput_measures_every_model_and_size(tmp_path):
    out = tmp_path / "t.json"
    sizes = [300, 1000]
    argv = [*TOY, "--sizes", "300,1000", "--steps", "2", "--warmup", "1", "--repeat", "2"]
    argv += [
        "--shortlist",
        "100",
        "--infer-words",
        "4",
        "--infer-warmup",
        "1",
        "--in-process",
        "--out",
        str(out),
    ]
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
        assert s["hybrid_vs_floor"] > 0 and s["hybrid_speedup_vs_adaptive"] > 0
    hybrid = {r["vocab_size"]: r for r in saved["rows"] if r["model"] == "hybrid"}
    assert [hybrid[v]["table"] for v in sizes] == [[15, 14], [30, 30]]  # 200 and 900 words
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


@pytest.mark.slow  # a whole benchmark run (tens of seconds), not a unit
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


@dataclass(frozen=True)
class Study:
    """One small quality study (every budget, model and seed, on two corpora), run once for
    the tests below: what `quality.main` returned, and what it saved."""

    result: dict
    saved: dict
    data: Path  # the corpus slices
    out: Path  # the saved JSON

    @property
    def rows(self) -> list[dict]:
        return self.saved["results"]

    def row(self, **match: object) -> dict:
        """The first row whose fields have these values."""
        return next(r for r in self.rows if all(r[k] == v for k, v in match.items()))


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    tmp_path = tmp_path_factory.mktemp("quality")
    data = tmp_path / "data"
    corpus_slice(data, "ptb", {"train": 150, "valid": 20, "test": 20})
    corpus_slice(data, "wikitext-2", {"train": 60, "valid": 12, "test": 12})
    out = tmp_path / "q.json"
    argv = [*TOY, "--rounds", "2", "--eval-tokens", "200", "--eval-every", "2"]
    argv += ["--budgets", "steps:6,time:0.3,convergence:0.5,params:steps:6", "--seeds", "0,1"]
    argv += ["--variants", "tie+k20", "--data-root", str(data), "--work-dir", str(tmp_path)]
    result = quality.main([*argv, "--out", str(out)])
    return Study(result, json.loads(out.read_text()), data, out)


@pytest.mark.slow  # the study fixture trains 56 small models
def test_quality_saves_what_it_returns_with_every_field(study: Study) -> None:
    assert study.saved["markdown"] == study.result["markdown"] and study.saved["complete"]
    fields = {"corpus", "budget", "model", "variant", "seed", "params", "train_seconds"}
    fields |= {"steps", "valid_ppl", "test_ppl"}
    assert all(fields <= set(r) for r in study.rows)
    for r in study.rows:
        assert math.isfinite(r["test_ppl"]) and r["test_ppl"] > 1 and r["params"] > 0


@pytest.mark.slow  # the study fixture trains 56 small models
def test_quality_runs_every_budget_model_and_seed(study: Study) -> None:
    key = {(r["corpus"], r["budget"], r["model"], r["variant"], r["seed"]) for r in study.rows}
    light = [("lightrnn", "tie+k20"), ("lightrnn-random", "tie+k20")]
    every = [*light, ("full", "-"), ("adaptive", "-")]
    for corpus in ("ptb", "wikitext-2"):
        for budget, models in (
            ("steps-6", every),
            ("time-0.3s", every),
            ("convergence-0.5s", every),
            ("params-steps-6", light),
        ):
            assert {(m, v, s) for m, v in models for s in (0, 1)} == {
                (m, v, s) for c, b, m, v, s in key if (c, b) == (corpus, budget)
            }, budget


@pytest.mark.slow  # the study fixture trains 56 small models
def test_quality_lightrnn_reallocates_once_between_its_two_rounds(study: Study) -> None:
    for r in study.rows:
        if r["budget"] == "steps-6":
            assert r["steps"] == 6  # LightRNN: two rounds of 3
        if r["model"] == "lightrnn":
            first = r["rounds"][0]
            assert first["objective_gain"] >= -1e-9 and 0 <= first["moved"] <= 1
            assert first["valid_after"] > 1 and "moved" not in r["rounds"][1]
        if r["model"] == "lightrnn-random":  # the control never reallocates
            assert all("moved" not in x for x in r["rounds"])


@pytest.mark.slow  # the study fixture trains 56 small models
def test_quality_params_budget_enlarges_lightrnn_to_the_full_softmax_size(study: Study) -> None:
    full = study.row(model="full", corpus="ptb")
    big = study.row(budget="params-steps-6", corpus="ptb", model="lightrnn")
    small = study.row(budget="steps-6", corpus="ptb", model="lightrnn")
    assert big["hidden"] > small["hidden"] == 16
    assert abs(big["params"] - full["params"]) < full["params"] * 0.05  # within one unit's worth


@pytest.mark.slow  # the study fixture trains 56 small models
def test_quality_seeds_differ(study: Study) -> None:
    a, b = (study.row(budget="steps-6", model="full", corpus="ptb", seed=s) for s in (0, 1))
    assert a["test_ppl"] != b["test_ppl"]


@pytest.mark.slow  # the study fixture trains 56 small models
def test_quality_writes_targets_a_table_and_plots(study: Study) -> None:
    targets = study.saved["targets"]
    assert "ptb, time-0.3s: lightrnn tie+k20 / full" in targets
    assert "ptb, params-steps-6: lightrnn tie+k20 / full" in targets
    assert "ptb, convergence-0.5s: reallocation gain, tie+k20" in targets
    assert "| ptb | steps-6 | full | - | 2 |" in study.saved["markdown"]
    for png in study.result["plots"]:
        assert Path(png).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow  # the study fixture trains 56 small models
def test_quality_append_adds_its_rows_and_keeps_the_rest(study: Study, tmp_path: Path) -> None:
    out = tmp_path / "q.json"
    out.write_text(study.out.read_text())
    argv = [*TOY, "--corpora", "ptb", "--budgets", "steps:2", "--models", "full"]
    quality.main(
        [*argv, "--data-root", str(study.data), "--out", str(out), "--append", "--no-plots"]
    )
    again = json.loads(out.read_text())["results"]
    assert len(again) == len(study.rows) + 1 and again[:-1] == study.rows
    assert (again[-1]["model"], again[-1]["budget"]) == ("full", "steps-2")


@pytest.mark.slow  # the study fixture trains 56 small models
def test_quality_merge_joins_rows_without_training(study: Study, tmp_path: Path) -> None:
    """The rows of a study run in parallel join the output's: a row of the same key replaces
    the one there and goes last, a new one is added last."""
    rows = study.rows
    other = tmp_path / "other.json"
    moved = {**rows[-1], "seed": 7}
    other.write_text(json.dumps({"results": [moved, rows[0]]}))
    merged_out = tmp_path / "merged.json"
    merge = ["--merge", f"{study.out},{other}"]
    quality.main([*TOY, "--budgets", "", "--out", str(merged_out), "--no-plots", *merge])
    assert json.loads(merged_out.read_text())["results"] == [*rows[1:], moved, rows[0]]


def test_quality_variants_and_budgets_parse_and_name_themselves():
    from bench.quality_run import Budget, Variant, variant_name

    v = Variant.parse("tie+k20+greedy+cost100+h8+r3")
    assert (v.tie, v.shortlist, v.allocate, v.cost_tokens, v.hidden, v.rounds) == (
        True,
        20,
        "greedy",
        100,
        8,
        3,
    )
    assert Variant.parse(variant_name(v)) == v and variant_name(Variant.parse("plain")) == "plain"
    b = Budget.parse("params:convergence:1800")
    assert (b.kind, b.amount, b.match_params, b.name) == (
        "convergence",
        1800.0,
        True,
        "params-convergence-1800s",
    )


def test_quality_baseline_options_parse_and_apply_only_where_they_mean_something():
    from bench.quality_run import Variant, variant_name

    v = Variant.parse("c2000_10000+d2+h64+lr0.001")
    assert (v.cutoffs, v.div, v.hidden, v.lr) == ((2000, 10000), 2.0, 64, 0.001)
    assert Variant.parse(variant_name(v, baseline=True)) == v
    assert variant_name(Variant(), baseline=True) == "-"
    assert v.fits("adaptive") and not v.fits("full") and not v.fits("lightrnn")
    tie = Variant.parse("tie")
    assert tie.fits("full") and tie.fits("lightrnn") and not tie.fits("adaptive")
    assert not Variant.parse("k20").fits("full")
    cooc = Variant.parse("tie+k20+cooc")
    assert cooc.cooc and Variant.parse(variant_name(cooc)) == cooc and not cooc.fits("adaptive")
    keep = Variant.parse("tie+k20+keep0.05+r4")
    assert keep.keep == 0.05 and variant_name(keep) == "tie+k20+keep0.05+r4"
    assert Variant.parse(variant_name(keep)) == keep and not keep.fits("full")
    with pytest.raises(SystemExit, match="keepX"):
        Variant.parse("keep2")


def test_quality_ablation_options_size_the_shortlist_the_vectors_and_the_dropout():
    from bench.quality_run import Size, Variant, build, resolved, variant_name

    cov = Variant.parse("tie+cov0.8+cooc")
    assert cov.coverage == 0.8 and variant_name(cov) == "tie+cov0.8+cooc"
    assert not cov.fits("full") and not cov.fits("adaptive")
    # ids 0..9 carry 10, 9, ..., 1 tokens (55): the first 6 carry 45, the first 5 only 40 (< 44)
    train = np.repeat(np.arange(10), np.arange(10, 0, -1))
    sized = resolved(cov, train, vocab=10)
    assert sized.shortlist == 6 and variant_name(sized) == "tie+cov0.8+cooc"
    assert resolved(Variant.parse("tie+k3"), train, vocab=10).shortlist == 3  # no coverage
    small = Variant.parse("k2+e6+drop0.25")
    assert (small.embed, small.dropout) == (6, 0.25) and Variant.parse(variant_name(small)) == small
    size = Size(16, 1, 0.0, 4, 5, 1e-3, 2, 0, 10, "cpu")
    net = build("lightrnn", small, 12, size, seed=0)
    assert (net.config.embed_dim, net.config.hidden_dim, net.config.dropout) == (6, 16, 0.25)
    assert build("full", Variant.parse("drop0.25"), 12, size, seed=0).config.dropout == 0.25


def test_quality_restart_starts_each_round_at_the_configured_rate(tmp_path):
    """`restart`: after a reallocation the rate starts again (the plateau schedule had cut it
    on the old table); without it the round goes on at the rate the last one ended with."""
    from bench.quality_run import Variant, variant_name

    restart = Variant.parse("tie+k20+cooc+restart")
    assert restart.restart and Variant.parse(variant_name(restart)) == restart
    assert not restart.fits("full") and not restart.fits("adaptive")
    data, out = tmp_path / "data", tmp_path / "q.json"
    corpus_slice(data, "ptb", {"train": 40, "valid": 10, "test": 10})
    argv = [*TOY, "--corpora", "ptb", "--budgets", "steps:1600", "--models", "lightrnn"]
    argv += ["--variants", "tie+k20,tie+k20+restart", "--lr", "10"]
    argv += ["--eval-tokens", "60", "--data-root", str(data), "--work-dir", str(tmp_path)]
    rows = quality.main([*argv, "--out", str(out), "--no-plots"])["results"]
    carried, fresh = (r["rounds"] for r in sorted(rows, key=lambda r: "restart" in r["variant"]))
    assert carried[0]["valid_ppl"] == fresh[0]["valid_ppl"]  # the same first round
    assert carried[0]["lr_end"] < 10  # the schedule did cut the rate (an lr of 10 overshoots)
    assert carried[1]["lr_start"] == carried[0]["lr_end"]
    assert fresh[1]["lr_start"] == 10


@pytest.mark.slow  # two small studies (nine models and three calibrations)
def test_quality_paced_budget_gives_identical_computations_identical_steps(tmp_path):
    """The step time is measured once per computation: LightRNN, its random-table control and
    every seed share it, and a study continued with --append reuses it."""
    data, out = tmp_path / "data", tmp_path / "q.json"
    corpus_slice(data, "ptb", {"train": 150, "valid": 20, "test": 20})
    argv = [*TOY, "--corpora", "ptb", "--budgets", "paced:0.4", "--seeds", "0,1"]
    argv += ["--models", "lightrnn,lightrnn-random,full", "--variants", "tie+k20"]
    argv += ["--baseline-variants", "plain,tie", "--eval-every", "20", "--eval-tokens", "200"]
    argv += ["--data-root", str(data), "--work-dir", str(tmp_path), "--no-plots"]
    quality.main([*argv, "--out", str(out)])
    saved = json.loads(out.read_text())
    rows, calibration = saved["results"], saved["calibration"]
    assert len(rows) == 8 and len(calibration) == 3  # lightrnn, full, tied full
    assert all("+h" not in key.split("/")[2] for key in calibration)  # size: one place
    light = [r for r in rows if r["model"].startswith("lightrnn")]
    assert len({r["steps"] for r in light}) == 1 and light[0]["steps"] % 20 == 0
    assert {r["provenance"]["step_key"] for r in light} == {
        k for k in calibration if "/lightrnn/" in k
    }
    full = {r["variant"]: r for r in rows if r["model"] == "full" and r["seed"] == 0}
    assert full["tie"]["params"] < full["-"]["params"]
    for r in rows:
        key = r["provenance"]["step_key"]
        step = calibration[key]["step_seconds"]
        rounds = 2 if r["model"].startswith("lightrnn") else 1
        assert r["steps"] == max(10 * rounds, int(0.4 / step) // (10 * rounds) * (10 * rounds))
        assert r["peak_mib"] > 0 and r["provenance"]["torch"] == torch.__version__
        assert r["provenance"]["command"].startswith("python bench/quality.py")
        assert {"commit", "threads", "cpu", "load_average_1m", "finished"} <= set(r["provenance"])
        steps = [c["step"] for c in r["curve"]]
        assert steps == sorted(steps) and all(c["valid_ppl"] > 1 for c in r["curve"])
    auto = ["auto" if a == "cpu" else a for a in argv]  # `--device auto`: the same steps
    quality.main([*auto, "--out", str(out), "--append", "--seeds", "2", "--models", "full"])
    again = json.loads(out.read_text())
    assert again["calibration"] == calibration  # reused, not measured again
    new = {r["variant"]: r["steps"] for r in again["results"] if r["seed"] == 2}
    assert new == {v: r["steps"] for v, r in full.items()}
    # a file whose keys name the device as given (`auto`), as files written before did
    legacy = {k.replace("/cpu", "/auto"): v for k, v in calibration.items()}
    out.write_text(json.dumps(again | {"calibration": legacy}))
    quality.main([*argv, "--out", str(out), "--append", "--seeds", "3", "--models", "full"])
    third = json.loads(out.read_text())
    copied = {k: v for k, v in calibration.items() if "/full/" in k}  # the models this run ran
    assert third["calibration"] == legacy | copied  # found under the old key, not measured
    new = {r["variant"]: r["steps"] for r in third["results"] if r["seed"] == 3}
    assert new == {v: r["steps"] for v, r in full.items()}
    # an ablation at the base's steps: no calibration of its own, the base's step count
    ablation = [*argv, "--out", str(out), "--append", "--seeds", "0", "--models", "lightrnn"]
    quality.main([*ablation, "--variants", "tie+k20+drop0.1", "--pace-as", "tie+k20"])
    fourth = json.loads(out.read_text())
    (drop,) = [r for r in fourth["results"] if r["variant"] == "tie+k20+drop0.1"]
    assert drop["steps"] == light[0]["steps"] and drop["provenance"]["paced_as"] == "tie+k20"
    assert not any("drop0.1" in k for k in fourth["calibration"])
    with pytest.raises(SystemExit, match="--pace-as tie\\+k30: no calibration"):
        quality.main([*ablation, "--variants", "tie+k20+drop0.1", "--pace-as", "tie+k30"])


def test_quality_rejects_a_bad_budget_and_says_when_a_corpus_is_missing(tmp_path):
    with pytest.raises(SystemExit, match="budget 'hours:3'"):
        quality.main([*TOY, "--budgets", "hours:3"])
    with pytest.raises(SystemExit, match="unknown variant part 'k'"):
        quality.main([*TOY, "--variants", "tie+k"])
    out = tmp_path / "q.json"
    argv = [*TOY, "--corpora", "ptb", "--budgets", "steps:2", "--out", str(out), "--no-plots"]
    quality.main([*argv, "--data-root", str(tmp_path / "nothing-here")])
    assert "no ptb corpus found" in json.loads(out.read_text())["skipped"]["ptb"]


def test_quality_gcide_corpora_cut_the_same_text_at_their_min_counts(tmp_path):
    # words seen 4, 3, 2 and 1 times in train: gcide keeps 2 of them, gcide-2 3, gcide-1 all
    text = tmp_path / "text"
    text.mkdir()
    (text / "train.txt").write_text("a a b c\na b c d\na b e\n", encoding="utf-8")
    for split in ("valid", "test"):
        (text / f"{split}.txt").write_text("a c d\n", encoding="utf-8")
    sizes = {}
    for name in ("gcide", "gcide-2", "gcide-1"):
        assert quality.CORPORA[name] == quality.CORPORA["gcide"]  # one text
        sizes[name] = quality.load(quality.tokenize(name, text, tmp_path / "work")[0])["vocab"]
    specials = sizes["gcide-1"] - 5  # <unk>, <eos>: whatever the vocabulary always holds
    assert {n: v - specials for n, v in sizes.items()} == {"gcide": 2, "gcide-2": 3, "gcide-1": 5}


def test_quality_gcide1_scores_only_the_targets_a_model_can_have_learned(tmp_path):
    # gcide-1 keeps every training word, so <unk> (here: "z", unseen in train) never occurs in
    # training; its rows leave <unk> targets out of perplexity and say so, gcide's do not
    data = tmp_path / "data"
    for name in ("gcide", "gcide-1"):
        (data / name).mkdir(parents=True)
        (data / name / "train.txt").write_text("a b c a b c d\n" * 30, encoding="utf-8")
        for split in ("valid", "test"):
            (data / name / f"{split}.txt").write_text("a b z c z\n" * 4, encoding="utf-8")
    root = quality.tokenize("gcide-1", data / "gcide-1", tmp_path / "work")[0]
    loaded = quality.load(root, "gcide-1" in quality.IN_VOCAB)
    assert loaded["skip"] == load_corpus(root).vocab.unk_id
    assert quality.load(root)["skip"] is None and "gcide" not in quality.IN_VOCAB
    out = tmp_path / "q.json"
    argv = [*TOY, "--corpora", "gcide,gcide-1", "--budgets", "steps:4", "--models", "adaptive"]
    argv += ["--eval-every", "2", "--data-root", str(data), "--work-dir", str(tmp_path)]
    quality.main([*argv, "--no-plots", "--out", str(out)])
    rows = {r["corpus"]: r for r in json.loads(out.read_text())["results"]}
    assert rows["gcide-1"]["scored"] == "in-vocabulary" and "scored" not in rows["gcide"]
    # every train word is seen 30 times: one vocabulary, one model; only the scoring differs,
    # and the never-trained <unk> targets are the ones gcide-1 leaves out
    assert rows["gcide-1"]["params"] == rows["gcide"]["params"]
    assert rows["gcide-1"]["test_ppl"] < rows["gcide"]["test_ppl"]


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


def test_a_calibration_keyed_the_older_ways_is_found_so_steps_stay_the_same():
    from dataclasses import replace

    from bench.quality_pace import known_key, step_key
    from bench.quality_run import Size, Variant

    size = Size(200, 1, 0.0, 32, 35, 3e-3, 2, 0, 0, "cpu")
    tie = replace(Variant.parse("tie"), hidden=200)  # as the study sizes it before keying
    now = step_key("c", "full", tie, size, 1)
    assert now == "c/full/tie/h200x1/dropout0/batch32x35/threads1/cpu"
    first = "c/full/tie+h200/h200x1/dropout0/batch32x35/threads1/auto"  # how keys were written
    assert known_key({first: {}}, "c", "full", tie, size, 1) == first
    assert known_key({first: {}, now: {}}, "c", "full", tie, size, 1) == now  # today's first
    assert known_key({first.replace("h200x1", "h100x1"): {}}, "c", "full", tie, size, 1) is None


@pytest.mark.slow  # a tiny paced study, then its computations timed again
def test_retime_sets_each_calibration_beside_a_fresh_interleaved_timing(tmp_path):
    from bench import quality_retime

    data, out, again = tmp_path / "data", tmp_path / "q.json", tmp_path / "retime.json"
    corpus_slice(data, "ptb", {"train": 150, "valid": 20, "test": 20})
    argv = [*TOY, "--corpora", "ptb", "--budgets", "paced:0.4", "--models", "lightrnn,full"]
    argv += ["--variants", "tie+k20+cooc", "--eval-every", "20", "--eval-tokens", "200"]
    argv += ["--data-root", str(data), "--work-dir", str(tmp_path), "--no-plots"]
    quality.main([*argv, "--out", str(out)])
    study = json.loads(out.read_text())
    retime = ["--corpus", "ptb", "--results", str(out), "--seconds", "0.4", "--block", "3"]
    retime += ["--repeats", "2", "--data-root", str(data), "--work-dir", str(tmp_path)]
    retime += ["--out", str(again)]
    saved = quality_retime.main([*retime, "--cases", "lightrnn:tie+k20+cooc,full:plain"])
    assert json.loads(again.read_text())["runs"] == saved["runs"]
    cases = saved["runs"]["ptb"]["cases"]
    rows = {r["model"]: r for r in study["results"]}
    for case in cases:
        row = rows[case["model"]]
        assert case["step_key"] == row["provenance"]["step_key"]
        assert case["stored_s"] == study["calibration"][case["step_key"]]["step_seconds"]
        assert case["steps_stored"] == row["steps"]  # the steps the study gave it
        assert 0 < case["min_s"] <= case["median_s"]
        assert case["stored_over_min"] == pytest.approx(case["stored_s"] / case["min_s"])
    light_case, full_case = cases
    assert light_case["steps_fair"] == light_case["steps_stored"]  # the anchor is fair to itself
    fair_s = light_case["stored_s"] * full_case["min_s"] / light_case["min_s"]
    assert full_case["steps_fair"] == max(10, int(0.4 / fair_s) // 10 * 10)
    facts = quality_retime.facts(saved)
    assert facts["ptb/lightrnn/tie+k20+cooc/to_first"] == "1.00"
    assert facts["ptb/lightrnn/tie+k20+cooc/fair_share"] == "100%"
    assert facts["ptb/full/-/steps_stored"] == f"{rows['full']['steps']:,}"
    with pytest.raises(SystemExit, match="MODEL:VARIANT"):
        quality_retime.parse_cases("tie+k20")
    # --apply: the full softmax's calibration anchored at LightRNN's; a rerun takes its steps
    copy = tmp_path / "copy.json"
    copy.write_text(out.read_text())
    retime[retime.index(str(out))] = str(copy)
    applied = quality_retime.main(
        [*retime, "--cases", "lightrnn:tie+k20+cooc,full:plain,lightrnn:k20+cooc", "--apply"]
    )
    light, full, untied = applied["runs"]["ptb"]["cases"]
    calibration = json.loads(copy.read_text())["calibration"]
    assert calibration[light["step_key"]] == study["calibration"][light["step_key"]]  # the anchor
    fair = calibration[full["step_key"]]
    assert fair["step_seconds"] == pytest.approx(light["stored_s"] * full["min_s"] / light["min_s"])
    assert fair["retimed"]["from"] == study["calibration"][full["step_key"]]["step_seconds"]
    quality.main([*argv, "--out", str(copy), "--append", "--models", "full", "--seeds", "1"])
    (rerun,) = [r for r in json.loads(copy.read_text())["results"] if r["seed"] == 1]
    assert rerun["steps"] == max(10, int(0.4 / fair["step_seconds"]) // 10 * 10)
    # a computation the study never timed gets its first calibration, under the study's key
    assert not untied["calibrated"] and untied["stored_s"] is None
    first = json.loads(copy.read_text())["calibration"][untied["step_key"]]
    assert first["retimed"]["from"] is None
    assert first["step_seconds"] == pytest.approx(quality_retime.fair_seconds(light, untied))
    again = [*argv, "--out", str(copy), "--append", "--models", "lightrnn", "--variants"]
    quality.main([*again, "k20+cooc", "--seeds", "0"])
    (ours,) = [r for r in json.loads(copy.read_text())["results"] if r["variant"] == "k20+cooc"]
    assert ours["provenance"]["step_key"] == untied["step_key"]
    assert ours["steps"] == max(20, int(0.4 / first["step_seconds"]) // 20 * 20)
    # merged into the study, the retimed calibration wins over the study's first timing
    quality.main(["--budgets", "", "--append", "--out", str(out), "--merge", str(copy)])
    assert json.loads(out.read_text())["calibration"][full["step_key"]] == fair
    # a new study, never timed: each case's fastest block is its first calibration
    fresh = tmp_path / "fresh.json"
    quality.main([*TOY, "--budgets", "", "--out", str(fresh), "--eval-tokens", "200"])
    retime[retime.index(str(copy))] = str(fresh)
    new = quality_retime.main([*retime, "--cases", "lightrnn:tie+k20+cooc,full:plain", "--apply"])
    cases = new["runs"]["ptb"]["cases"]
    calibration = json.loads(fresh.read_text())["calibration"]
    assert {c["step_key"]: calibration[c["step_key"]]["step_seconds"] for c in cases} == {
        c["step_key"]: pytest.approx(c["min_s"]) for c in cases
    }
    assert [c["steps_fair"] for c in cases] == [c["steps_min"] for c in cases]
