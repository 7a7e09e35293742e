"""The `lightrnn` command on a stored model (built here, without a pipeline run)."""

import torch
from typer.testing import CliRunner

import storage
from flows.cli import app
from lightrnn import Table, Vocab
from lightrnn.model import LightRNN, LightRNNConfig
from tasks.artifacts import put_model

runner = CliRunner()


def stored_model(tmp_path):
    url = f"file://{tmp_path}/store"
    vocab = Vocab.build({"the": 9, "cat": 5, "sat": 4, "on": 3, "mat": 2})
    vocab_path = tmp_path / "vocab.arrow"
    vocab.save(str(vocab_path))
    torch.manual_seed(0)
    model = LightRNN(LightRNNConfig(len(vocab), 8, 8, 1), Table.random(len(vocab), seed=0))
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


def test_prepare_prints_vocabulary_and_token_counts(prefect_api, tmp_path):
    from pipeline_helpers import WIKITEXT

    url = f"file://{tmp_path}/store"
    result = runner.invoke(app, ["prepare", str(WIKITEXT), "--store", url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "vocabulary 33,278 words" in lines
    assert {"train 2,088,628 tokens", "valid 217,646 tokens", "test 245,569 tokens"} <= set(lines)
    assert [n for n in storage.open_store(url).names() if n.startswith("corpora/")]
