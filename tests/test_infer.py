"""Streaming inference: word by word equals the model on the whole sequence; sampling is valid.

On a machine with CUDA the same tests also run there, through captured CUDA graphs.
"""

import math

import numpy as np
import pytest
import torch

from lightrnn import ConfigError, DataError, Table
from lightrnn.baselines import BaselineConfig, BaselineLM
from lightrnn.infer import (
    BaselineScorer,
    LightRNNScorer,
    StreamConfig,
    generate,
    make_scorer,
    sample,
)
from lightrnn.model import LightRNN, LightRNNConfig

V = 23  # a 5 x 5 table with 2 empty cells
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
ATOL = {"cpu": 1e-5, "cuda": 2e-3}  # cuDNN may use TF32 inside the reference LSTM


def perturbed(model, seed=0):
    """Parameters pushed off their initial values, so that biases and masks matter."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return model.eval()


def lightrnn(num_layers=2, table=None, vocab_size=V, device="cpu"):
    torch.manual_seed(0)
    cfg = LightRNNConfig(vocab_size, embed_dim=6, hidden_dim=7, num_layers=num_layers, amp=False)
    table = table if table is not None else Table.random(vocab_size, seed=1)
    return perturbed(LightRNN(cfg, table)).to(device)


def baseline(softmax, device="cpu"):
    torch.manual_seed(0)
    cfg = BaselineConfig(  # tails of 8 and 4 dimensions: none of zero size
        V, 6, 16, 2, softmax=softmax, cutoffs=(5, 12), div_value=2.0, amp=False
    )
    return perturbed(BaselineLM(cfg)).to(device)


def models(device):
    return {
        "lightrnn": lightrnn(device=device),
        "lightrnn-1-layer": lightrnn(num_layers=1, device=device),
        "full": baseline("full", device),
        "adaptive": baseline("adaptive", device),
    }


def ids_for(batch, length, seed=0):
    return torch.randint(0, V, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["lightrnn", "lightrnn-1-layer", "full", "adaptive"])
@pytest.mark.parametrize("batch", [1, 3])
def test_word_by_word_equals_the_whole_sequence(device, name, batch):
    model = models(device)[name]
    ids = ids_for(batch, 15)
    expected = model.log_prob(ids).cpu()
    scorer = make_scorer(model, StreamConfig(batch_size=batch, dtype="float32"))
    per_word = torch.stack([scorer.step(ids[:, t]) for t in range(ids.shape[1])], 1).cpu()
    torch.testing.assert_close(per_word, expected, atol=ATOL[device], rtol=0)
    scorer.reset()
    torch.testing.assert_close(scorer.score(ids).cpu(), expected, atol=ATOL[device], rtol=0)
    assert scorer.uses_graph == (device == "cuda")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["lightrnn", "adaptive"])
def test_a_stream_continues_from_the_models_state(device, name):
    model = models(device)[name]
    ids = ids_for(2, 12, seed=3)
    expected = model.log_prob(ids)[:, 7:].cpu()
    with torch.no_grad():
        state = model(ids[:, :7].to(device)).state
    scorer = make_scorer(model, StreamConfig(batch_size=2, dtype="float32"))
    scorer.reset(state)
    torch.testing.assert_close(scorer.score(ids[:, 7:]).cpu(), expected, atol=ATOL[device], rtol=0)
    h, c = scorer.state
    with torch.no_grad():
        h_ref, c_ref = model(ids.to(device)).state
    torch.testing.assert_close(h, h_ref, atol=ATOL[device], rtol=0)
    torch.testing.assert_close(c, c_ref, atol=ATOL[device], rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_row_then_column_equals_a_word_step_and_sums_to_one(device):
    model = lightrnn(device=device)
    scorer = make_scorer(model, StreamConfig(dtype="float32"))
    assert isinstance(scorer, LightRNNScorer)
    scorer.score(torch.tensor([[3, 17, 22]]))
    start = scorer.state
    occupied = torch.from_numpy(model.table.occupied())
    total = 0.0
    for row in range(model.config.n_rows):
        scorer.reset(start)
        lp_rows = scorer.row_log_probs()[0].cpu()
        lp_cols = scorer.feed_row([row])[0].cpu()
        assert torch.equal(torch.isinf(lp_cols), ~occupied[row])  # masked exactly to the row
        total += float((lp_rows[row] + lp_cols).exp().sum())
    assert abs(total - 1.0) < 1e-5  # sum over the whole vocabulary, by brute force

    word = 22
    r, c = int(model.table.rows[word]), int(model.table.cols[word])
    scorer.reset(start)
    by_halves = scorer.row_log_probs()[0, r] + scorer.feed_row([r])[0, c]
    scorer.feed_col([c])
    after_halves = scorer.state
    scorer.reset(start)
    by_step = scorer.step([word])[0]
    assert abs(float(by_halves) - float(by_step)) < 1e-6
    torch.testing.assert_close(scorer.state, after_halves, atol=0, rtol=0)


def test_an_empty_row_is_never_offered_nor_accepted():
    cells = np.arange(20)  # rows 0-3 full, row 4 empty
    table = Table.from_cells(np.random.default_rng(0).permutation(cells), 5, 5)
    torch.manual_seed(0)
    cfg = LightRNNConfig(20, embed_dim=6, hidden_dim=7, num_layers=1, n_rows=5, n_cols=5)
    model = perturbed(LightRNN(cfg, table))
    scorer = make_scorer(model)
    assert math.isinf(float(scorer.row_log_probs()[0, 4]))
    with pytest.raises(DataError, match="hold no word"):
        scorer.feed_row([4])
    torch.testing.assert_close(
        make_scorer(model).score(torch.arange(20)[None]), model.log_prob(torch.arange(20)[None])
    )


def test_a_new_table_needs_no_refresh_new_weights_do():
    model = lightrnn()
    ids = ids_for(1, 10)
    scorer = make_scorer(model)
    model.set_table(Table.random(V, seed=7))
    torch.testing.assert_close(scorer.score(ids), model.log_prob(ids), atol=1e-5, rtol=0)
    perturbed(model, seed=5)
    scorer.reset()
    assert not torch.allclose(scorer.score(ids), model.log_prob(ids), atol=1e-3)
    pointers = {name: t.data_ptr() for name, t in scorer.stepper.weights.items()}
    scorer.refresh()
    scorer.reset()
    torch.testing.assert_close(scorer.score(ids), model.log_prob(ids), atol=1e-5, rtol=0)
    # refresh writes into the same tensors, so graphs captured before it stay valid
    assert {name: t.data_ptr() for name, t in scorer.stepper.weights.items()} == pointers


@pytest.mark.parametrize("name", ["lightrnn", "full", "adaptive"])
def test_the_step_that_a_graph_captures_touches_only_static_buffers(name):
    """What a CUDA graph needs, checked eagerly: a step writes in place, only into the buffers
    that `_static()` lists (the capture restores those after its warm-up runs), and reads the
    model's table where it lies."""
    model = models("cpu")[name]
    scorer = make_scorer(model, StreamConfig(batch_size=2))
    scorer.score(ids_for(2, 3))
    tensors = {k: v for k, v in vars(scorer).items() if isinstance(v, torch.Tensor)}
    tensors |= {f"w.{k}": v for k, v in scorer.stepper.weights.items()}
    before = {k: (v.data_ptr(), v.clone()) for k, v in tensors.items()}
    static = {t.data_ptr() for t in scorer._static()}
    steps = [scorer._word_step]
    if isinstance(scorer, LightRNNScorer):  # the halves that generation replays
        steps += [scorer._row_half, scorer._col_half]
    with torch.no_grad():
        for step in steps:
            scorer._words.copy_(torch.tensor([4, 9]))
            step()
    for key, tensor in tensors.items():
        ptr, value = before[key]
        assert tensor.data_ptr() == ptr, f"{key} was reallocated"
        if not torch.equal(tensor, value):
            assert ptr in static, f"{key} changed but the capture would not restore it"
    # ... and the capture's warm-up runs leave the streams as they found them
    expected = [t.clone() for t in scorer._static()]
    with scorer._preserved(), torch.no_grad():
        scorer._word_step()
        scorer._word_step()
    for buffer, value in zip(scorer._static(), expected, strict=True):
        assert torch.equal(buffer, value)


def test_bad_input_is_refused_with_a_clear_message():
    model = lightrnn()
    scorer = make_scorer(model, StreamConfig(batch_size=2))
    with pytest.raises(DataError, match=r"\[0, 23\)"):
        scorer.step([1, 23])
    with pytest.raises(DataError, match="one integer word id per stream"):
        scorer.step([1])
    with pytest.raises(DataError, match="do not match"):
        scorer.reset(model.init_state(3))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="needs the model on a CUDA device"):
            make_scorer(model, StreamConfig(graph="on"))
    with pytest.raises(ConfigError, match="graph="):
        StreamConfig(graph="always")
    with pytest.raises(ConfigError, match="no streaming scorer"):
        make_scorer(torch.nn.LSTM(2, 2))  # type: ignore[arg-type]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["lightrnn", "full", "adaptive"])
def test_generated_words_are_valid_and_reproducible(device, name):
    model = models(device)[name]
    words = generate(model, [3, 17], 40, temperature=1.0, seed=11)
    assert len(words) == 40 and all(0 <= w < V for w in words)
    assert generate(model, [3, 17], 40, temperature=1.0, seed=11) == words
    assert generate(model, [3, 17], 40, temperature=1.0, seed=12) != words
    assert len(set(words)) > 5  # sampled, not stuck
    assert generate(model, [], 0) == []


def test_greedy_generation_takes_the_best_row_then_the_best_column():
    model = lightrnn()
    words = generate(model, [5], 3, temperature=0)
    scorer = make_scorer(model)
    scorer.step([5])
    grid = model.table.cell_to_word()
    for word in words:
        row = int(scorer.row_log_probs()[0].argmax())
        col = int(scorer.feed_row([row])[0].argmax())
        scorer.feed_col([col])
        assert word == grid[row, col]


def test_baseline_greedy_generation_takes_the_most_likely_word():
    model = baseline("adaptive")
    words = generate(model, [], 4, temperature=0)
    scorer = make_scorer(model)
    assert isinstance(scorer, BaselineScorer)
    for word in words:
        assert word == int(scorer.next_log_probs()[0].argmax())
        scorer.step([word])


def test_the_sampler_draws_from_the_tempered_distribution():
    probs = torch.tensor([0.5, 0.3, 0.2, 0.0])
    log_probs = probs.log().expand(40_000, 4)
    gen = torch.Generator().manual_seed(0)
    counts = torch.bincount(sample(log_probs, 1.0, gen), minlength=4) / 40_000
    assert counts[3] == 0
    torch.testing.assert_close(counts, probs, atol=0.01, rtol=0)
    hot = torch.bincount(sample(log_probs, 2.0, gen), minlength=4) / 40_000
    tempered = probs.sqrt() / probs.sqrt().sum()
    torch.testing.assert_close(hot, tempered, atol=0.01, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bfloat16_graphs_on_cuda_stay_close_to_the_model_under_autocast():
    torch.manual_seed(0)
    cfg = LightRNNConfig(V, embed_dim=64, hidden_dim=64, num_layers=2, amp=True)
    model = perturbed(LightRNN(cfg, Table.random(V, seed=1))).cuda()
    ids = ids_for(1, 30)
    scorer = make_scorer(model)  # graph and bfloat16 by default on CUDA
    assert scorer.uses_graph and scorer.dtype == torch.bfloat16
    torch.testing.assert_close(scorer.score(ids), model.log_prob(ids), atol=0.1, rtol=0.05)
