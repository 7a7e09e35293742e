"""The training loop: learning, bitwise resume, convergence, learning-rate decay, bad input."""

import io
import math

import numpy as np
import pytest
import torch

from lightrnn import CheckpointError, ConfigError, DataError, Table
from lightrnn.baselines import BaselineConfig, BaselineLM
from lightrnn.errors import TrainingError
from lightrnn.evaluate import evaluate
from lightrnn.model import LightRNN, LightRNNConfig
from lightrnn.train import TrainConfig, Trainer, state_is_finite

V = 30
PATTERN = np.random.default_rng(0).integers(0, V, size=7)
REPETITIVE = np.tile(PATTERN, 300).astype(np.int32)


def test_tiny_repetitive_corpus_is_learned_to_perplexity_near_one():
    torch.manual_seed(0)
    model = LightRNN(LightRNNConfig(V, 16, 32, 1), Table.random(V, 1))
    cfg = TrainConfig(
        batch_size=4,
        bptt=10,
        optimizer="adam",
        lr=0.01,
        max_steps=200,
        eval_every=50,
        early_stop_patience=0,
    )
    result = Trainer(model, REPETITIVE, REPETITIVE[:500], cfg).run()
    assert result.stop_reason == "max_steps" and result.steps == 200
    assert result.valid_ppl < 1.2
    assert [h["step"] for h in result.history] == [50, 100, 150, 200]


def make_trainer(model_kind="lightrnn", optimizer="sgd", **overrides):
    torch.manual_seed(0)
    if model_kind == "lightrnn":
        model = LightRNN(LightRNNConfig(V, 8, 16, 2, dropout=0.3), Table.random(V, 1))
    else:
        model = BaselineLM(BaselineConfig(V, 8, 16, 2, dropout=0.3, softmax=model_kind))
    cfg = dict(
        batch_size=4,
        bptt=9,
        optimizer=optimizer,
        lr=1.0 if optimizer == "sgd" else 0.01,
        momentum=0.9 if optimizer == "sgd" else 0.0,
        max_steps=70,
        eval_every=20,
        eval_tokens=200,
        early_stop_patience=0,
        lr_patience=0,
        lr_decay=0.5,
    )
    cfg.update(overrides)
    return Trainer(model, REPETITIVE, REPETITIVE[::-1].copy(), TrainConfig(**cfg))


def save_and_load(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)  # plain data only: nothing unpickled


@pytest.mark.parametrize(
    ("model_kind", "optimizer"), [("lightrnn", "sgd"), ("lightrnn", "adam"), ("adaptive", "adam")]
)
def test_resumed_run_equals_uninterrupted_run_bitwise(model_kind, optimizer):
    whole = make_trainer(model_kind, optimizer)
    whole.run()
    first = make_trainer(model_kind, optimizer)
    first.run(until_step=33)  # mid-epoch, between evaluations, LSTM state carried
    state = save_and_load(first.state_dict())
    torch.manual_seed(12345)  # the global RNG must not matter
    torch.rand(100)
    resumed = make_trainer(model_kind, optimizer)
    resumed.load_state_dict(state)
    resumed.run()
    for (name, a), (_, b) in zip(
        whole.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert whole.history == resumed.history
    assert whole.lr == resumed.lr


def test_checkpoint_callback_every_n_steps_and_at_the_end():
    seen = []
    trainer = make_trainer()
    trainer.checkpoint_fn = lambda t: seen.append(t.step)
    trainer.checkpoint_steps = 25
    trainer.run()
    assert seen == [25, 50, 70]


def test_progress_reports_tokens_per_second_and_eta():
    reports = []
    trainer = make_trainer(progress_every=10)
    trainer.progress_fn = reports.append
    trainer.run()
    assert [p.step for p in reports] == [10, 20, 30, 40, 50, 60, 70]
    assert all(p.tokens_per_s > 0 and math.isfinite(p.loss) for p in reports)
    assert reports[-1].eta_s == 0.0 and reports[1].valid_ppl is not None


def test_learning_rate_decays_on_plateau_and_early_stopping_converges():
    # lr so small that validation never improves by the 1% that counts as improvement.
    trainer = make_trainer(
        lr=1e-6, momentum=0.0, max_steps=1000, eval_every=5, early_stop_patience=3, min_delta=0.01
    )
    result = trainer.run()
    assert result.converged and result.stop_reason == "converged"
    assert result.steps == 20  # evaluations at 5 (best), 10, 15, 20 (3 without improvement)
    assert [h["lr"] for h in result.history] == [1e-6, 1e-6, 5e-7, 2.5e-7]
    assert trainer.lr == pytest.approx(1e-6 * 0.5**3)


def test_restore_best_ends_on_best_validation_parameters():
    trainer = make_trainer(max_steps=60, eval_every=10, lr=30.0, momentum=0.9)
    result = trainer.run()
    assert result.valid_ppl == pytest.approx(min(h["valid_ppl"] for h in result.history))


def test_state_of_another_model_is_refused():
    state = make_trainer().state_dict()
    other = make_trainer("full")
    with pytest.raises(CheckpointError, match="build the model from the checkpoint's model_spec"):
        other.load_state_dict(state)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"optimizer": "rmsprop"}, r"optimizer='rmsprop': choose one of \['sgd', 'adam'\]"),
        ({"bptt": 0}, "bptt=0: must be at least 1"),
        ({"clip": -1.0}, "clip=-1.0: must not be negative"),
        ({"lr_decay": 0.0}, r"lr_decay=0.0: must be in \(0, 1\]"),
        ({"device": "tpu"}, "device='tpu'"),
    ],
)
def test_bad_training_config_is_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**overrides)


def test_empty_or_out_of_range_streams_are_refused():
    torch.manual_seed(0)
    model = LightRNN(LightRNNConfig(V, 8, 8, 1))
    with pytest.raises(DataError, match="fewer than batch_size=4"):
        Trainer(model, np.array([], dtype=np.int32), None, TrainConfig(batch_size=4))
    bad = np.array([1, 2, 3, 99] * 10, dtype=np.int32)
    trainer = Trainer(model, bad, None, TrainConfig(batch_size=2, bptt=5, max_steps=3))
    with pytest.raises(DataError, match=r"id 99 .* outside the vocabulary \[0, 30\)"):
        trainer.run()


def inject_nan(trainer, at_step: int, times: int = 1):
    """Make the model's forward produce NaN log-probabilities at training step `at_step`."""
    model = trainer.model
    forward = model.forward
    seen = {"n": 0, "left": times}

    def poisoned(ids, state=None):
        out = forward(ids, state)
        if model.training:
            seen["n"] += 1
            if seen["n"] >= at_step and seen["left"] > 0:
                seen["left"] -= 1
                out.log_probs = out.log_probs * float("nan")
        return out

    model.forward = poisoned
    return seen


def test_divergence_stops_with_a_clear_error_and_never_checkpoints_nan():
    saved = []
    trainer = make_trainer(progress_every=5)
    trainer.checkpoint_fn = lambda t: saved.append(t.state_dict())
    trainer.checkpoint_steps = 5
    inject_nan(trainer, at_step=12)
    with pytest.raises(
        TrainingError, match=r"training loss is nan at step 15.*on_diverge=rollback"
    ):
        trainer.run()
    assert [s["progress"]["step"] for s in saved] == [5, 10]
    assert all(state_is_finite(s) for s in saved)


def test_divergence_rolls_back_to_the_last_good_checkpoint_with_a_lower_lr():
    saved = []
    trainer = make_trainer(progress_every=5, on_diverge="rollback", diverge_lr_factor=0.5)
    trainer.checkpoint_fn = lambda t: saved.append(t.step)
    trainer.checkpoint_steps = 5
    lr = trainer.lr
    inject_nan(trainer, at_step=12)
    result = trainer.run()
    assert result.stop_reason == "max_steps" and result.steps == 70
    assert trainer.state.rollbacks == 1
    assert trainer.state.rollback_log == [{"at_step": 15, "to_step": 10, "lr": lr * 0.5}]
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert saved[:2] == [5, 10] and saved[2] == 15  # training went on from step 10
    assert math.isfinite(result.valid_ppl)


def test_divergence_before_any_checkpoint_rolls_back_to_the_start():
    trainer = make_trainer(progress_every=5, on_diverge="rollback", max_rollbacks=1)
    inject_nan(trainer, at_step=3, times=5)  # the run keeps diverging: give up after one
    with pytest.raises(TrainingError, match="after 1 rollbacks"):
        trainer.run()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lr": float("nan")}, r"train.lr=nan: must be a finite number"),
        ({"clip": float("nan")}, r"train.clip=nan: must be a finite number"),
        ({"max_steps": 2.5}, r"train.max_steps=2.5: must be an integer"),
        ({"batch_size": True}, r"train.batch_size=True: must be an integer"),
        ({"on_diverge": "retry"}, r"on_diverge='retry': choose 'stop'"),
    ],
)
def test_non_finite_and_mistyped_values_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**overrides)


def test_a_trainer_started_at_another_ones_position_reads_on_from_there():
    first = make_trainer(max_steps=40)
    first.run()
    second = make_trainer(max_steps=40)
    second.state.start_at(first.position)
    second.run()
    whole = make_trainer(max_steps=80)
    whole.run()
    assert second.position == whole.position  # across an epoch's end: windows per epoch < 80
    assert whole.position[0] == 1 and len(whole.batches) < 80
    assert make_trainer(max_steps=40).position == (0, 0)
    with pytest.raises(TrainingError, match="not stepped yet"):
        first.state.start_at((0, 0))


def test_validation_leaves_out_the_skipped_target_when_asked():
    # The same model and steps, validated with and without a skipped id: the perplexity the
    # schedule reads is evaluate()'s with that id left out, on the model it validated.
    valid = REPETITIVE[::-1].copy()
    cfg = TrainConfig(batch_size=4, bptt=9, max_steps=5, eval_every=0, restore_best=False)
    torch.manual_seed(0)
    model = LightRNN(LightRNNConfig(V, 8, 16, 2), Table.random(V, 1))
    result = Trainer(model, REPETITIVE, valid, cfg, valid_skip=int(PATTERN[0])).run()
    skipped = evaluate(model, valid, cfg.eval_batch_size, cfg.bptt, skip_id=int(PATTERN[0]))
    everything = evaluate(model, valid, cfg.eval_batch_size, cfg.bptt)
    assert result.valid_ppl == pytest.approx(skipped.ppl, rel=1e-12)
    assert skipped.tokens < everything.tokens and skipped.ppl != everything.ppl
