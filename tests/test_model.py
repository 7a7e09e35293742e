"""LightRNN and the baselines: exact normalisation, the factorisation, the table swap."""

import math

import numpy as np
import pytest
import torch
from messages import assert_names

from lightrnn import ConfigError, DataError, Table, TableError
from lightrnn.baselines import BaselineConfig, BaselineLM
from lightrnn.checkpoint import LoadedModel, build_model, count_parameters
from lightrnn.export import export_dir, import_dir
from lightrnn.model import LightRNN, LightRNNConfig
from lightrnn.vocab import Vocab

V = 23  # not a perfect square: a 5 x 5 table with 2 empty cells


def tiny_lightrnn(num_layers=2, seed=0, table_seed=1):
    torch.manual_seed(seed)
    model = LightRNN(
        LightRNNConfig(V, embed_dim=6, hidden_dim=7, num_layers=num_layers),
        Table.random(V, seed=table_seed),
    )
    with torch.no_grad():  # make the biases matter too
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


@torch.no_grad()
def reference_log_prob(model: LightRNN, history: list[int], word: int) -> tuple[float, float]:
    """log P_r and log P_c of `word` after `history`, written from the equations with plain
    tensor arithmetic: an LSTM cell by hand over the interleaved row/column steps."""
    table = model.table
    lstm = model.lstm
    L, H = lstm.num_layers, lstm.hidden_size
    h = [torch.zeros(H, dtype=torch.float64) for _ in range(L)]
    c = [torch.zeros(H, dtype=torch.float64) for _ in range(L)]

    def step(x):
        for layer in range(L):
            w_ih = getattr(lstm, f"weight_ih_l{layer}").double()
            w_hh = getattr(lstm, f"weight_hh_l{layer}").double()
            b = (getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")).double()
            gates = w_ih @ x + w_hh @ h[layer] + b
            i, f, g, o = gates.chunk(4)
            c[layer] = torch.sigmoid(f) * c[layer] + torch.sigmoid(i) * torch.tanh(g)
            h[layer] = torch.sigmoid(o) * torch.tanh(c[layer])
            x = h[layer]
        return x

    xr = model.embed_rows.weight.double()
    xc = model.embed_cols.weight.double()
    top = torch.zeros(H, dtype=torch.float64)
    for w in history:
        step(xr[table.rows[w]])
        top = step(xc[table.cols[w]])
    row_logits = model.head_rows.weight.double() @ top + model.head_rows.bias.double()
    log_p_row = torch.log_softmax(row_logits, 0)[table.rows[word]]
    after_row = step(xr[table.rows[word]])
    col_logits = model.head_cols.weight.double() @ after_row + model.head_cols.bias.double()
    grid = table.cell_to_word()
    occupied = torch.from_numpy(grid[table.rows[word]] >= 0)
    col_logits = torch.where(occupied, col_logits, torch.tensor(-math.inf, dtype=torch.float64))
    log_p_col = torch.log_softmax(col_logits, 0)[table.cols[word]]
    return float(log_p_row), float(log_p_col)


HISTORIES = [[], [4], [3, 17, 22], [0, 0, 5, 9, 21, 2]]


@pytest.mark.parametrize("history", HISTORIES)
def test_probabilities_sum_to_one_over_the_vocabulary(history):
    model = tiny_lightrnn()
    ids = torch.tensor([[*history, w] for w in range(V)])
    total = model.log_prob(ids)[:, -1].double().exp().sum()
    assert abs(float(total) - 1.0) < 1e-5


@pytest.mark.parametrize("history", HISTORIES)
@pytest.mark.parametrize("num_layers", [1, 2])
def test_log_prob_equals_row_plus_column_from_the_equations(history, num_layers):
    model = tiny_lightrnn(num_layers=num_layers)
    for word in (0, 11, 22):
        got = float(model.log_prob(torch.tensor([[*history, word]]))[0, -1])
        lp_row, lp_col = reference_log_prob(model, history, word)
        assert got == pytest.approx(lp_row + lp_col, abs=1e-5)


def test_every_position_is_conditioned_on_its_prefix():
    model = tiny_lightrnn()
    seq = [5, 1, 19, 7, 7, 13]
    full = model.log_prob(torch.tensor([seq]))[0]
    for t in range(len(seq)):
        alone = model.log_prob(torch.tensor([seq[: t + 1]]))[0, -1]
        assert float(full[t]) == pytest.approx(float(alone), abs=1e-6)


def test_state_carries_across_windows():
    model = tiny_lightrnn()
    seq = torch.tensor([[5, 1, 19, 7, 7, 13, 2, 8]])
    whole = model.log_prob(seq)
    with torch.no_grad():
        first = model(seq[:, :3])
        second = model(seq[:, 3:], first.state)
    torch.testing.assert_close(torch.cat([first.log_probs, second.log_probs], 1), whole)


def test_set_table_swaps_allocation_without_touching_parameters():
    model = tiny_lightrnn()
    params = {k: v.clone() for k, v in model.state_dict().items()}
    seq = torch.tensor([[1, 2, 3, 4]])
    before = model.log_prob(seq)
    model.set_table(Table.random(V, seed=99))
    assert all(torch.equal(params[k], v) for k, v in model.state_dict().items())
    assert not torch.allclose(before, model.log_prob(seq))
    ids = torch.tensor([[3, w] for w in range(V)])
    assert float(model.log_prob(ids)[:, -1].double().exp().sum()) == pytest.approx(1, abs=1e-5)
    assert "word_rows" not in model.state_dict()  # the table is data, not parameters


def test_wrong_table_and_bad_ids_are_refused():
    model = tiny_lightrnn()
    with pytest.raises(TableError, match=r"expects 23 words in 5 x 5"):
        model.set_table(Table.random(24, seed=0))
    with pytest.raises(TableError, match=r"expects 23 words in 5 x 5"):
        LightRNN(LightRNNConfig(V), Table.random(30, seed=0))
    with pytest.raises(DataError, match=r"token id 23 is outside the vocabulary \[0, 23\)"):
        model.log_prob(torch.tensor([[1, 23]]))
    with pytest.raises(DataError, match=r"integer tensor \[batch, time\]"):
        model.log_prob(torch.tensor([1, 2]))


def test_factor_log_probs_are_the_two_softmaxes():
    model = tiny_lightrnn()
    seq = torch.tensor([[4, 9, 15]])
    with torch.no_grad():
        lp_rows, lp_cols, _ = model.factor_log_probs(seq)
    assert lp_rows.shape == (1, 3, 5) and lp_cols.shape == (1, 3, 5)
    torch.testing.assert_close(lp_rows.exp().sum(-1), torch.ones(1, 3))
    lp_row, _ = reference_log_prob(model, [4, 9], 15)
    assert float(lp_rows[0, 2, model.table.rows[15]]) == pytest.approx(lp_row, abs=1e-5)


def test_embedding_parameters_scale_with_sqrt_vocabulary():
    cfg = LightRNNConfig(793_471, embed_dim=1024, hidden_dim=1024, num_layers=2)
    assert (cfg.n_rows, cfg.n_cols) == (891, 891)
    model = LightRNN(LightRNNConfig(10_000, embed_dim=32, hidden_dim=32, num_layers=1))
    assert model.embed_rows.weight.shape == (100, 32)
    assert model.head_cols.weight.shape == (100, 32)


@pytest.mark.parametrize("softmax", ["full", "adaptive"])
def test_baselines_normalise_and_match_their_full_distribution(softmax):
    torch.manual_seed(0)
    model = BaselineLM(BaselineConfig(V, 6, 16, 2, softmax=softmax, cutoffs=(5, 12))).eval()
    history = [3, 17, 22]
    ids = torch.tensor([[*history, w] for w in range(V)])
    lp = model.log_prob(ids)[:, -1].double()
    assert abs(float(lp.exp().sum()) - 1.0) < 1e-5
    with torch.no_grad():
        full, _ = model.full_log_probs(torch.tensor([[*history, 0]]))
    torch.testing.assert_close(full[0, -1].double(), lp, atol=1e-5, rtol=0)


def test_a_tied_full_softmax_shares_one_matrix_and_keeps_it_through_an_export(tmp_path):
    torch.manual_seed(0)
    untied = BaselineLM(BaselineConfig(V, 8, 8, 1))
    tied = BaselineLM(BaselineConfig(V, 8, 8, 1, tie=True)).eval()
    assert tied.head.weight is tied.embed.weight
    assert untied.num_parameters() - tied.num_parameters() == V * 8
    assert count_parameters(tied.spec()) == tied.num_parameters()
    history = [3, 17, 22]
    lp = tied.log_prob(torch.tensor([[*history, w] for w in range(V)]))[:, -1].double()
    assert abs(float(lp.exp().sum()) - 1.0) < 1e-5
    vocab = Vocab(("<unk>", "<eos>", *[f"w{i}" for i in range(V - 2)]), tuple(range(V, 0, -1)))
    again = import_dir(export_dir(LoadedModel(tied, vocab, {}), tmp_path / "tied")).model
    assert again.head.weight is again.embed.weight
    seq = torch.tensor([[1, 2, 3, 4]])
    torch.testing.assert_close(again.log_prob(seq), tied.log_prob(seq))


@pytest.mark.parametrize(
    ("softmax", "embed", "hidden"), [("adaptive", 8, 8), ("full", 6, 8)], ids=["adaptive", "sizes"]
)
def test_tying_needs_the_full_softmax_and_equal_sizes(softmax, embed, hidden):
    with pytest.raises(ConfigError) as err:
        BaselineConfig(V, embed, hidden, 1, softmax=softmax, tie=True)
    assert_names(err.value, "tie=True", "embed_dim == hidden_dim", "tie=False")


def test_build_model_round_trips_spec():
    model = tiny_lightrnn()
    again = build_model(model.spec(), model.table)
    again.load_state_dict(model.state_dict())
    seq = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(again.eval().log_prob(seq), model.log_prob(seq))
    base = BaselineLM(BaselineConfig(V, softmax="adaptive"))
    assert build_model(base.spec()).spec() == base.spec()


def test_log_prob_runs_in_eval_mode_and_restores_training_mode():
    torch.manual_seed(0)
    model = LightRNN(LightRNNConfig(V, 6, 7, 2, dropout=0.5))
    model.train()
    seq = torch.from_numpy(np.arange(10)[None] % V)
    torch.testing.assert_close(model.log_prob(seq), model.log_prob(seq))
    assert model.training


def test_public_names_as_documented():
    import lightrnn

    table = lightrnn.Table.random(V, seed=0)
    assert (table.n_rows, table.n_cols) == (5, 5) and table.rows.shape == table.cols.shape == (V,)
    config = lightrnn.LightRNNConfig(vocab_size=V, embed_dim=6, hidden_dim=7, num_layers=1)
    model = lightrnn.LightRNN(config, table)
    assert type(model) is LightRNN and type(config) is LightRNNConfig
    ids = torch.randint(0, V, (2, 4))
    assert model.log_prob(ids).shape == (2, 4)
    model.set_table(lightrnn.Table.random(V, seed=1))
    assert np.array_equal(model.table.rows, lightrnn.Table.random(V, seed=1).rows)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        lightrnn.Nope  # noqa: B018
