"""The `lightrnn` command on a stored model (built here, without a pipeline run)."""

import os
import subprocess
import sys
from pathlib import Path

import torch
from store_backends import new_store
from typer.testing import CliRunner

import storage
from flows.cli import app
from lightrnn import Table, Vocab
from lightrnn.model import LightRNN, LightRNNConfig
from tasks.artifacts import put_model

runner = CliRunner()
LIGHTRNN = str(Path(sys.executable).parent / "lightrnn")


def stored_model(tmp_path, shortlist=0):
    url = new_store(f"file://{tmp_path}/store")
    vocab = Vocab.build({"the": 9, "cat": 5, "sat": 4, "on": 3, "mat": 2})
    vocab_path = tmp_path / "vocab.arrow"
    vocab.save(str(vocab_path))
    torch.manual_seed(0)
    config = LightRNNConfig(len(vocab), 8, 8, 1, shortlist=shortlist)
    model = LightRNN(config, Table.random(len(vocab) - shortlist, seed=0))
    put_model(
        storage.open_store(url),
        "models/m",
        model,
        vocab_path,
        {"tokenizer": "whitespace", "lowercase": False},
        meta={},
        parents=[],
    )
    return url, vocab, model


def test_evaluate_prints_the_perplexity_of_the_models_own_computation(tmp_path):
    url, vocab, model = stored_model(tmp_path)
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat\nthe dog sat\n")
    result = runner.invoke(
        app, ["evaluate", "--model", "models/m", "--text", str(text), "--store", url]
    )
    assert result.exit_code == 0, result.output
    words = ["the", "cat", "sat", "on", "the", "mat", "<eos>", "the", "dog", "sat", "<eos>"]
    ids = torch.tensor([[vocab.id_of(t) for t in words]])
    expected = float(torch.exp(-model.log_prob(ids).double().mean()))
    assert f"perplexity {expected:.2f} over 11 tokens (1 <unk>)" in result.output


def test_table_shows_rows_and_a_words_neighbours(tmp_path):
    url, vocab, model = stored_model(tmp_path)
    result = runner.invoke(app, ["table", "--model", "models/m", "--store", url, "--rows", "2"])
    assert result.exit_code == 0, result.output
    assert f"{len(vocab)} words in 3 x 3 cells" in result.output
    first_row = int(model.table.rows[0])
    assert f"row {first_row:>4}: {vocab.tokens[0]}" in result.output
    result = runner.invoke(app, ["table", "--model", "models/m", "--store", url, "--word", "cat"])
    w = vocab.id_of("cat")
    assert f"row {int(model.table.rows[w]):>4}:" in result.output
    assert f"column {int(model.table.cols[w]):>4}:" in result.output
    assert "cat" in result.output.split()


def test_table_says_a_shortlist_word_has_no_cell(tmp_path):
    url, vocab, model = stored_model(tmp_path, shortlist=2)
    top = vocab.tokens[0]  # predicted directly, outside the table
    result = runner.invoke(app, ["table", "--model", "models/m", "--store", url, "--word", top])
    assert result.exit_code == 2
    assert f"{top!r} is one of the 2 most frequent words" in result.output
    assert "pick a rarer word" in result.output
    rare = vocab.tokens[3]
    result = runner.invoke(app, ["table", "--model", "models/m", "--store", url, "--word", rare])
    assert result.exit_code == 0, result.output
    w = vocab.id_of(rare) - 2
    assert f"row {int(model.table.rows[w]):>4}:" in result.output


def test_prepare_prints_vocabulary_and_token_counts(prefect_api, tmp_path):
    from pipeline_helpers import WIKITEXT

    url = new_store(f"file://{tmp_path}/store")
    result = runner.invoke(app, ["prepare", str(WIKITEXT), "--store", url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "vocabulary 33,278 words" in lines
    assert {"train 2,088,628 tokens", "valid 217,646 tokens", "test 245,569 tokens"} <= set(lines)
    assert [n for n in storage.open_store(url).names() if n.startswith("corpora/")]


def latin1_corpus(tmp_path):
    corpus = tmp_path / "latin1"
    corpus.mkdir()
    (corpus / "train.txt").write_bytes("le café est là\nle chat\n".encode("latin-1"))
    (corpus / "valid.txt").write_text("le chat\n")
    (corpus / "test.txt").write_text("le chat\n")
    return corpus


def test_prepare_on_bad_bytes_names_them_then_replaces_them_when_asked(prefect_server, tmp_path):
    # The installed command, as a user runs it (a second in-process CliRunner call would find
    # Prefect's console handler bound to the first call's closed stream).
    url = new_store(f"file://{tmp_path}/store")
    argv = [LIGHTRNN, "prepare", str(latin1_corpus(tmp_path)), "--store", url]

    def lightrnn(*extra):
        return subprocess.run(
            [*argv, *extra], env=prefect_server.env(), capture_output=True, text=True, timeout=300
        )

    refused = lightrnn()
    assert refused.returncode == 2, refused.stderr
    # Prefect logs the failed flow run with its traceback; the command ends on one line.
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("error: corpus file ")
    assert "train.txt' is not valid UTF-8: byte(s) b'\\xe9' at byte offset 6 (line 1)" in last
    assert "lightrnn prepare --encoding-errors replace" in last
    assert not [n for n in storage.open_store(url).names() if n.startswith("corpora/")]

    result = lightrnn("--encoding-errors", "replace")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # le caf\ufffd est l\ufffd chat <eos> <unk>: 7 entries; train: 4 + 1 + 2 + 1 = 8 ids
    assert "vocabulary 7 words" in lines and "train 8 tokens" in lines


def test_round_table_shows_every_value_whole_in_80_columns(monkeypatch):
    from rich.console import Console

    from flows import cli

    row = {"round": 1, "steps": 1200, "train_ppl": 500.52, "valid_ppl": 466.93}
    row |= {"words_moved": 12804, "moved_pct": 38.48, "seconds": 32.99}
    row |= {"objective_before": 2521940.0, "objective_after": 1917490.0}
    summary = {"run": "16c74473f8e34b63", "rounds": [row], "stop_reason": "max_rounds"}
    summary |= {"best_round": 1, "valid_ppl": 466.93, "test_ppl": 440.0, "parameters": 467965}
    summary |= {"seconds": 60.0, "store": "file:///s", "artifacts": {}, "report": "file:///r"}
    console = Console(width=80, soft_wrap=True)
    monkeypatch.setattr(cli, "console", console)
    with console.capture() as captured:
        cli._print_summary(summary)
    out = captured.get()
    assert "…" not in out
    line = next(ln for ln in out.splitlines() if ln.split()[:1] == ["1"])
    expected = ["1", "1,200", "500.52", "466.93", "12,804", "38.48", "2.522e+06", "1.917e+06"]
    assert line.split() == [*expected, "32.99"]


def test_openmp_threads_wait_passively_unless_the_user_chose():
    """Spinning OpenMP threads made a demo training step 75x slower on a shared 2-core machine:
    the command, a deployment's flow run and the processes they start (all import `flows`
    first) wait passively; the library alone leaves the environment as it is."""
    probe = "import flows, torch, os; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "PASSIVE", out.stderr
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "ACTIVE", out.stderr
    library = "import lightrnn, torch, os; print(os.environ.get('OMP_WAIT_POLICY', 'unset'))"
    out = subprocess.run([sys.executable, "-c", library], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "unset", out.stderr
