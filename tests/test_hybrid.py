"""The hybrid head (a shortlist of K words outside the table) and weight tying: exact
normalisation, costs over the table's words only, streaming inference and sampling, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightrnn import ConfigError, Table
from lightrnn.checkpoint import LoadedModel
from lightrnn.costs import CostConfig, accumulate_costs
from lightrnn.export import export_dir, import_dir
from lightrnn.infer import StreamConfig, generate, make_scorer
from lightrnn.model import LightRNN, LightRNNConfig
from lightrnn.vocab import Vocab

V = 23
HISTORIES = [[], [4], [3, 17, 22], [0, 0, 5, 9, 21, 2]]


def model_for(shortlist: int, tie: bool, vocab_size: int = V, seed: int = 0) -> LightRNN:
    torch.manual_seed(seed)
    d = 7 if tie else 6
    cfg = LightRNNConfig(vocab_size, d, 7, 2, shortlist=shortlist, tie=tie, amp=False)
    model = LightRNN(cfg, Table.random(cfg.table_words, seed=1))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


@pytest.mark.parametrize("shortlist", [0, 1, 3, 10, 21])
@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("history", HISTORIES)
def test_probabilities_of_all_words_sum_to_one(shortlist, tie, history):
    model = model_for(shortlist, tie)
    ids = torch.tensor([[*history, w] for w in range(V)])
    total = model.log_prob(ids)[:, -1].double().exp().sum()
    assert abs(float(total) - 1.0) < 1e-5


def test_table_shape_tying_and_bad_settings():
    cfg = LightRNNConfig(V, 6, 7, 1, shortlist=3)
    assert cfg.table_words == 20 and (cfg.n_rows, cfg.n_cols) == (5, 4)
    model = model_for(3, True)
    assert model.head_rows.weight is model.embed_rows.weight
    assert model.head_cols.weight is model.embed_cols.weight
    assert model.head_short.weight is model.embed_short.weight
    with pytest.raises(ConfigError, match="tie=True needs embed_dim == hidden_dim"):
        LightRNNConfig(V, 6, 7, 1, tie=True)
    with pytest.raises(ConfigError, match=r"shortlist=22: must be in \[0, 21\]"):
        LightRNNConfig(V, 6, 7, 1, shortlist=22)


@pytest.mark.parametrize("shortlist", [0, 4])
def test_costs_cover_the_table_words_only(shortlist):
    vocab = 25 + shortlist  # a full 5 x 5 table: the unmasked costs are the model's log P
    model = model_for(shortlist, False, vocab_size=vocab)
    stream = np.random.default_rng(0).integers(0, vocab, 300).astype(np.int32)
    costs = accumulate_costs(model, stream, CostConfig(batch_size=1, bptt=300))
    assert costs.rows.shape == (25, 5) and costs.cols.shape == (25, 5) and costs.tokens == 300
    assert np.array_equal(
        costs.counts, np.bincount(stream[stream >= shortlist] - shortlist, minlength=25)
    )
    lp = model.log_prob(torch.from_numpy(stream.astype(np.int64))[None])[0].double().numpy()
    t = model.table
    own = costs.rows[np.arange(25), t.rows] + costs.cols[np.arange(25), t.cols]
    for w in range(25):  # brute force: a word's cost in its own cell is minus its log P
        want = -lp[stream == w + shortlist].sum()
        assert abs(own[w] - want) < 1e-3 * max(1.0, abs(want))


@pytest.mark.parametrize(("shortlist", "tie"), [(3, False), (10, True), (21, False)])
def test_word_by_word_equals_the_model_and_sampling_is_valid(shortlist, tie):
    model = model_for(shortlist, tie)
    ids = torch.tensor([[0, 5, 2, 22, 1, 9, 20, 3, 3, 12]])
    scorer = make_scorer(model, StreamConfig(dtype="float32"))
    assert scorer.row_log_probs().shape == (1, shortlist + model.config.n_rows)
    torch.testing.assert_close(scorer.score(ids), model.log_prob(ids), atol=1e-5, rtol=0)
    words = generate(model, [3, 17], 60, temperature=1.0, seed=4)
    assert words == generate(model, [3, 17], 60, temperature=1.0, seed=4)
    assert all(0 <= w < V for w in words)
    assert any(w < shortlist for w in words) and any(w >= shortlist for w in words)
    scorer.reset()
    scorer.score(torch.tensor([[5]]))
    best = int(scorer.row_log_probs()[0].argmax())  # greedy: the best first entry ...
    greedy = generate(model, [5], 1, temperature=0)[0]
    if best < shortlist:
        assert greedy == best  # ... a shortlist word itself
    else:  # ... or the best word of the best row
        assert greedy >= shortlist and int(model.table.rows[greedy - shortlist]) == best - shortlist


def test_export_keeps_tied_weights_and_probabilities(tmp_path):
    model = model_for(3, True)
    vocab = Vocab.build({f"w{i}": 100 - i for i in range(V - 2)})
    assert len(vocab) == V
    export_dir(
        LoadedModel(model, vocab, {"tokenizer": "whitespace", "lowercase": False}), tmp_path / "out"
    )
    back = import_dir(tmp_path / "out").model
    ids = torch.tensor([[0, 5, 2, 22, 1]])
    assert torch.equal(back.log_prob(ids), model.log_prob(ids))
    assert back.head_rows.weight is back.embed_rows.weight
