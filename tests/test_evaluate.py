import math

import numpy as np
import pytest
import torch

from lightrnn import DataError, Table
from lightrnn.data import Batches, eval_windows
from lightrnn.evaluate import evaluate, token_log_probs
from lightrnn.model import LightRNN, LightRNNConfig

V = 23


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LightRNN(LightRNNConfig(V, 8, 12, 2, dropout=0.2), Table.random(V, 2))


STREAM = np.random.default_rng(1).integers(0, V, size=103).astype(np.int32)


@pytest.mark.parametrize(("batch_size", "bptt"), [(1, 7), (4, 5), (10, 35), (103, 3)])
def test_perplexity_is_exp_of_brute_force_mean_nll(model, batch_size, bptt):
    # Brute force: the stream cut into batch_size contiguous segments (lengths differ by at
    # most one), each scored as a whole from the zero state by log_prob.
    n = len(STREAM)
    lengths = [n // batch_size + (1 if b < n % batch_size else 0) for b in range(batch_size)]
    starts = np.cumsum([0, *lengths[:-1]])
    total = 0.0
    for s, length in zip(starts, lengths, strict=True):
        seg = torch.from_numpy(STREAM[s : s + length].astype(np.int64))[None]
        total += float(model.log_prob(seg).double().sum())
    result = evaluate(model, STREAM, batch_size=batch_size, bptt=bptt)
    assert result.tokens == n
    assert result.ppl == pytest.approx(math.exp(-total / n), rel=1e-6)
    per_token = token_log_probs(model, STREAM, batch_size=batch_size, bptt=bptt)
    assert per_token.shape == (n,)
    assert per_token.sum() == pytest.approx(total, rel=1e-6)


@pytest.mark.parametrize(("batch_size", "bptt"), [(1, 7), (4, 5)])
def test_a_skipped_id_is_read_as_history_but_not_scored(model, batch_size, bptt):
    # The per-token log-probabilities of the full evaluation, less those of the skipped id:
    # the history is the same, only which targets count changes.
    per_token = token_log_probs(model, STREAM, batch_size=batch_size, bptt=bptt)
    kept = STREAM != 3
    result = evaluate(model, STREAM, batch_size=batch_size, bptt=bptt, skip_id=3)
    assert result.tokens == int(kept.sum()) < len(STREAM)
    assert result.nll == pytest.approx(-per_token[kept].mean(), rel=1e-9)
    absent = evaluate(model, STREAM, batch_size=batch_size, bptt=bptt, skip_id=V + 5)
    assert absent.tokens == len(STREAM)
    assert absent.nll == pytest.approx(-per_token.mean(), rel=1e-9)


def test_a_stream_of_nothing_but_the_skipped_id_is_refused(model):
    with pytest.raises(DataError, match=r"every target .* skip_id=4.*pass no skip_id"):
        evaluate(model, np.full(12, 4, dtype=np.int32), skip_id=4)


def test_max_tokens_scores_a_prefix(model):
    assert evaluate(model, STREAM, max_tokens=40).tokens == 40
    assert model.training  # evaluation restores the mode it found


def test_batches_layout_matches_the_diagram():
    stream = np.arange(24, dtype=np.int32)
    batches = Batches(stream, batch_size=4, bptt=4)
    assert len(batches) == 2 and batches.tokens_per_epoch == 24
    assert batches.window(0).tolist() == [
        [0, 1, 2, 3],
        [6, 7, 8, 9],
        [12, 13, 14, 15],
        [18, 19, 20, 21],
    ]
    assert batches.window(1).tolist() == [[4, 5], [10, 11], [16, 17], [22, 23]]


def test_eval_windows_cover_every_id_once():
    stream = np.arange(11, dtype=np.int32)
    seen = []
    for ids, mask in eval_windows(stream, batch_size=3, bptt=2):
        seen += ids[mask].tolist()
    assert sorted(seen) == list(range(11))


def test_empty_stream_is_refused(model):
    with pytest.raises(DataError, match="cannot evaluate an empty token stream"):
        evaluate(model, np.array([], dtype=np.int32))
