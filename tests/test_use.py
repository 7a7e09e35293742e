"""Using what the pipeline trains: load, score, stream, generate, export, report, on the CLI and
in Python, on a model trained by the tiny pipeline; and the errors a user meets."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
import torch
from legacy_model import write_old_final
from pipeline_helpers import LIGHTRNN, REPO, tiny_run, wikitext_slice

import lightrnn
import storage
from lightrnn.errors import CheckpointError, CorpusError
from lightrnn.evaluate import evaluate

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


@pytest.fixture(scope="module")
def trained(prefect_server, tmp_path_factory):
    """(store URL, run id, corpus dir, environment) of one tiny pipeline run."""
    root = tmp_path_factory.mktemp("use")
    corpus = wikitext_slice(root / "corpus", 400, 60)
    url = f"file://{root}/store"
    storage.init_store(url)
    env = prefect_server.env()
    done = subprocess.run(
        tiny_run(corpus, url, "train.max_steps=40"),
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = {n.split("/")[1] for n in storage.open_store(url).names("runs/")}
    return url, run, corpus, env


def cli(trained, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    url, _, _, env = trained
    return subprocess.run(
        [LIGHTRNN, *args, "--store", url],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=300,
    )


def model_ref(trained) -> str:
    return f"runs/{trained[1]}/final"


def test_load_from_a_store_url_an_open_store_or_the_default(trained):
    url, run, _, _ = trained
    by_url = lightrnn.load(f"runs/{run}/final", store=url)
    by_store = lightrnn.load(f"runs/{run}/final@v1", store=storage.open_store(url))
    assert by_url.table == by_store.table and by_url.vocab == by_store.vocab
    assert by_url.tokenizer == {"tokenizer": "whitespace", "lowercase": False}
    ids = torch.from_numpy(by_url.encode("the cat sat\n").astype(np.int64))[None]
    assert torch.equal(by_url.model.log_prob(ids), by_store.model.log_prob(ids))


def test_the_final_model_is_an_export_that_scores_as_the_trained_round_model(trained):
    url, run, corpus, _ = trained
    store = storage.open_store(url)
    final = store.get(f"runs/{run}/final")
    assert sorted(p.name for p in final.iterdir()) == [
        "config.json",
        "model.safetensors",
        "table.arrow",
        "vocab.arrow",
    ]
    assert json.loads((final / "config.json").read_text())["format"] == "lightrnn-export/1"
    best_round = store.resolve(f"runs/{run}/final").meta["best_round"]
    round_model = f"runs/{run}/round-{best_round}/model"
    assert store.resolve(f"runs/{run}/final").parents == (str(store.resolve(round_model).ref),)
    assert (store.get(round_model) / "optimizer.pt").is_file()  # what the next round starts from
    trained_model = lightrnn.load(round_model, store=store)  # the checkpoint layout
    lm = lightrnn.load(model_ref(trained), store=store)
    ids = torch.from_numpy(lm.encode((corpus / "valid.txt").read_text()).astype(np.int64))[None]
    assert torch.equal(lm.model.log_prob(ids), trained_model.model.log_prob(ids))
    assert lm.table == trained_model.table and lm.vocab == trained_model.vocab


def test_a_final_model_stored_the_old_way_still_scores_identically(trained, tmp_path):
    url, run, corpus, _ = trained
    store = storage.open_store(url)
    lm = lightrnn.load(model_ref(trained), store=store)
    old = write_old_final(lm.model, lm.vocab, lm.tokenizer, tmp_path / "old")
    store.put(f"runs/{run}-old/final", old, kind="model")
    text = (corpus / "valid.txt").read_text()
    old_lm = lightrnn.load(f"runs/{run}-old/final", store=url)
    ids = torch.from_numpy(lm.encode(text).astype(np.int64))[None]
    assert torch.equal(old_lm.model.log_prob(ids), lm.model.log_prob(ids))
    lines = ["the album was released", "= = Reception = ="]
    scored = [
        cli(trained, "score", "--model", name, "--jsonl", "-", stdin="\n".join(lines)).stdout
        for name in (model_ref(trained), f"runs/{run}-old/final")
    ]
    assert scored[0] == scored[1] and len(scored[0].splitlines()) == 2


def test_score_equals_evaluate_on_the_same_text(trained):
    lm = lightrnn.load(model_ref(trained), store=trained[0])
    text = (trained[2] / "test.txt").read_text()[:4000]
    (scored,) = lm.score(text)
    reference = evaluate(lm.model, lm.encode(text), batch_size=1)
    assert scored.tokens == reference.tokens
    assert scored.ppl == pytest.approx(reference.ppl, rel=1e-9)
    assert scored.unk == int((lm.encode(text) == lm.vocab.unk_id).sum())
    # batch-1 streaming, fed piece by piece, gives the same per-token log-probabilities
    stream = lm.stream()
    lines = text.splitlines(keepends=True)
    last = len(lines) - 1  # score ends the text with <eos>; so does the last piece here
    fed = [lp for i, line in enumerate(lines) for _, lp in stream.feed(line, ends_line=i == last)]
    assert math.fsum(fed) == pytest.approx(scored.log_prob, rel=1e-5)


def test_score_command_scores_each_line_as_the_library_does(trained):
    lines = ["the album was released", "", "= = Reception = ="]
    done = cli(
        trained, "score", "--model", model_ref(trained), "--jsonl", "-", stdin="\n".join(lines)
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    lm = lightrnn.load(model_ref(trained), store=trained[0])
    expected = lm.score([line + "\n" for line in lines])
    assert [r["tokens"] for r in rows] == [s.tokens for s in expected]
    assert [r["log_prob"] for r in rows] == pytest.approx([s.log_prob for s in expected], rel=1e-9)
    assert "3 lines" in done.stderr and "perplexity" in done.stderr


def test_generation_is_reproducible_and_only_emits_vocabulary_words(trained):
    lm = lightrnn.load(model_ref(trained), store=trained[0])
    a = lm.generate("The album", max_tokens=40, temperature=0.9, top_k=50, seed=7)
    assert a == lm.generate("The album", max_tokens=40, temperature=0.9, top_k=50, seed=7)
    assert a != lm.generate("The album", max_tokens=40, temperature=0.9, top_k=50, seed=8)
    words = a.split()
    assert words and set(words) <= set(lm.vocab.tokens)
    done = cli(
        trained,
        "generate",
        "--model",
        model_ref(trained),
        "--prompt",
        "The album",
        "--tokens",
        "40",
        "--temperature",
        "0.9",
        "--top-k",
        "50",
        "--seed",
        "7",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"The album {a}".strip()


def test_export_then_load_gives_bitwise_identical_log_probabilities(trained, tmp_path):
    out = tmp_path / "exported"
    done = cli(trained, "export", "--model", model_ref(trained), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "model.safetensors",
        "table.arrow",
        "vocab.arrow",
    ]
    assert json.loads((out / "config.json").read_text())["format"] == "lightrnn-export/1"
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert len(set(modes.values())) == 1, modes  # every file as readable as the others
    stored = lightrnn.load(model_ref(trained), store=trained[0])
    exported = lightrnn.load(out)  # no store
    ids = torch.from_numpy(stored.encode((trained[2] / "valid.txt").read_text()).astype(np.int64))
    assert torch.equal(stored.model.log_prob(ids[None]), exported.model.log_prob(ids[None]))
    assert exported.table == stored.table and exported.vocab == stored.vocab
    data = bytearray((out / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (out / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"differs from what config\.json records"):
        lightrnn.load(out)


def test_report_shows_the_round_table_and_its_plot(trained, tmp_path):
    done = cli(trained, "report", "--run", trained[1], "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "round" in done.stdout and "valid" in done.stdout and "stopped:" in done.stdout
    plot = tmp_path / "rounds.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stored = storage.open_store(trained[0]).resolve(f"runs/{trained[1]}/report")
    assert f"  report: {stored.uri}" in done.stdout.splitlines()
    report = storage.open_store(trained[0]).get(f"runs/{trained[1]}/report")
    assert (
        "![validation perplexity and words moved per round](rounds.png)"
        in (report / "report.md").read_text()
    )


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["score", "--model", "runs/nope/final", "-"],
            "a b",
            "no artifact named 'runs/nope/final'",
        ),
        (["score", "--model", "MODEL", "-"], "  \n", "standard input is empty"),
        (["table", "--model", "MODEL", "--word", "qwertyuiop"], None, "'qwertyuiop' is not in the"),
        (
            ["generate", "--model", "MODEL", "--prompt", "qwxz zzqv"],
            None,
            "every word of the prompt",
        ),
        (["score", "--model", "MODEL", "BIN"], None, "is not UTF-8 (byte 3, line 2)"),
        (["export", "--model", "MODEL", "--out", "NONEMPTY"], None, "is not empty"),
    ],
)
def test_bad_input_gets_one_line_naming_the_fix(trained, tmp_path, args, stdin, message):
    (tmp_path / "bin.txt").write_bytes(b"ok\n\xff\xfe")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    swap = {
        "MODEL": model_ref(trained),
        "BIN": str(tmp_path / "bin.txt"),
        "NONEMPTY": str(tmp_path / "full"),
    }
    done = cli(trained, *[swap.get(a, a) for a in args], stdin=stdin)
    assert done.returncode == 2, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last
    assert "Traceback" not in done.stderr


def test_progress_bars_on_a_terminal_only(trained, tmp_path):
    text = trained[2] / "valid.txt"
    piped = cli(trained, "evaluate", "--model", model_ref(trained), "--text", str(text))
    assert piped.returncode == 0 and "evaluating" not in piped.stderr
    url, _, _, env = trained
    command = f"{LIGHTRNN} evaluate --model {model_ref(trained)} --text {text} --store {url}"
    tty = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        env={**env, "COLUMNS": "100"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tty.returncode == 0, tty.stdout[-2000:]
    assert "evaluating" in tty.stdout and "perplexity" in tty.stdout


def test_library_errors_for_empty_texts_and_unknown_prompts(trained):
    lm = lightrnn.load(model_ref(trained), store=trained[0])
    with pytest.raises(CorpusError, match="text 2 is empty"):
        lm.score(["a b", ""])
    with pytest.raises(CorpusError, match="outside the vocabulary"):
        lm.generate("qwxz zzqv", max_tokens=3)
