"""Cost accumulation against a brute-force loop over positions."""

import numpy as np
import pytest
import torch

from lightrnn import DataError, Table
from lightrnn.costs import CostConfig, Costs, accumulate_costs
from lightrnn.model import LightRNN, LightRNNConfig

V = 23


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LightRNN(LightRNNConfig(V, 8, 12, 2, dropout=0.3), Table.random(V, 4)).eval()


STREAM = np.random.default_rng(2).integers(0, V, size=61).astype(np.int32)


def brute_force(model, stream):
    """For each position t, the row and column distributions from the prefix alone."""
    R, C = model.config.n_rows, model.config.n_cols
    l_r, l_c = np.zeros((V, R)), np.zeros((V, C))
    ids = torch.from_numpy(stream.astype(np.int64))[None]
    for t in range(len(stream)):
        with torch.no_grad():
            lp_rows, lp_cols, _ = model.factor_log_probs(ids[:, : t + 1])
        w = stream[t]
        l_r[w] -= lp_rows[0, t].double().numpy()
        l_c[w] -= lp_cols[0, t].double().numpy()
    return l_r, l_c


@pytest.fixture(scope="module")
def reference(model):
    return brute_force(model, STREAM)


@pytest.mark.parametrize(("block_tokens", "master_bytes"), [(1, 0), (10, 1 << 30), (1 << 20, 0)])
def test_costs_equal_brute_force_over_positions(model, reference, block_tokens, master_bytes):
    cfg = CostConfig(batch_size=1, bptt=11, block_tokens=block_tokens, master_bytes=master_bytes)
    costs = accumulate_costs(model, STREAM, cfg)
    l_r, l_c = reference
    assert costs.rows.dtype == (np.float64 if master_bytes else np.float32)
    np.testing.assert_allclose(costs.rows, l_r, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(costs.cols, l_c, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(costs.counts, np.bincount(STREAM, minlength=V))
    assert costs.tokens == len(STREAM)


def test_current_cells_cost_equals_the_models_nll(model):
    # Sum of l_r(w, r(w)) + l_c(w, c(w)) over words = NLL of the stream, minus the column
    # masking (unmasked softmax here): equal when the table has no empty cells.
    torch.manual_seed(1)
    full = LightRNN(LightRNNConfig(25, 8, 12, 1), Table.random(25, 0)).eval()
    stream = np.random.default_rng(3).integers(0, 25, size=90).astype(np.int32)
    costs = accumulate_costs(full, stream, CostConfig(batch_size=3, bptt=7))
    t = full.table
    objective = costs.rows[np.arange(25), t.rows].sum() + costs.cols[np.arange(25), t.cols].sum()
    from lightrnn.evaluate import evaluate

    nll = evaluate(full, stream, batch_size=3, bptt=7).nll * len(stream)
    assert objective == pytest.approx(nll, rel=1e-5)


def test_round_trip_and_empty_stream(model):
    costs = accumulate_costs(model, STREAM[:30], CostConfig(batch_size=2, bptt=5))
    back = Costs.from_bytes(costs.to_bytes())
    np.testing.assert_array_equal(back.rows, costs.rows)
    assert back.tokens == 30
    with pytest.raises(DataError, match="empty token stream"):
        accumulate_costs(model, np.array([], dtype=np.int32))
