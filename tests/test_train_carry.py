"""A bootstrap round going on from the last: what carries, and the rate after a converged round."""

import numpy as np
import pytest
import torch

from lightrnn import Table
from lightrnn.model import LightRNN, LightRNNConfig
from lightrnn.train import TrainConfig, Trainer
from lightrnn.train.carry import handover, take_over

V = 30
STREAM = np.tile(np.random.default_rng(0).integers(0, V, size=7), 300).astype(np.int32)


def trainer(**overrides) -> Trainer:
    torch.manual_seed(0)
    model = LightRNN(LightRNNConfig(V, 8, 16, 1), Table.random(V, 1))
    cfg = dict(
        batch_size=4,
        bptt=9,
        optimizer="adam",
        lr=1e-6,
        max_steps=1000,
        eval_every=5,
        eval_tokens=200,
        early_stop_patience=3,
        lr_patience=0,
        lr_decay=0.5,
        min_delta=0.01,  # at lr 1e-6 no evaluation improves by 1%: the plateau decays the rate
    )
    cfg.update(overrides)
    return Trainer(model, STREAM, STREAM[::-1].copy(), TrainConfig(**cfg))


def moments(t: Trainer) -> list[torch.Tensor]:
    return [s["exp_avg"].clone() for s in t.optimizer.state.values()]


def test_after_a_converged_round_the_rate_starts_again_and_the_moments_and_place_carry():
    first = trainer()
    result = first.run()
    assert result.stop_reason == "converged" and first.lr == pytest.approx(1e-6 * 0.5**3)
    second = trainer(max_steps=5)
    take_over(second, handover(first), converged=True)
    assert second.lr == 1e-6  # TrainConfig.lr, not the decayed 1.25e-7
    assert (second.state.epoch, second.state.window) == first.position
    for a, b in zip(moments(second), moments(first), strict=True):
        assert torch.equal(a, b)
    again = second.run()
    assert [h["lr"] for h in again.history] == [1e-6]  # a fresh schedule: no decay carried


def test_after_a_round_cut_by_its_steps_the_decayed_rate_and_schedule_carry():
    first = trainer(max_steps=15, early_stop_patience=0)  # evaluations at 5, 10, 15: 2 decays
    result = first.run()
    assert result.stop_reason == "max_steps" and first.lr == pytest.approx(2.5e-7)
    second = trainer(max_steps=5)
    take_over(second, handover(first), converged=False)
    assert second.lr == pytest.approx(2.5e-7)
    assert second.scheduler.state_dict() == first.scheduler.state_dict()
    again = second.run()  # the carried plateau counts this evaluation too
    assert [h["lr"] for h in again.history] == [pytest.approx(2.5e-7)]
    assert second.lr == pytest.approx(1.25e-7)


def test_a_handover_stored_before_the_position_was_kept_reads_from_the_start():
    first = trainer(max_steps=15, early_stop_patience=0)
    first.run()
    old = {k: v for k, v in handover(first).items() if k != "position"}
    second = trainer(max_steps=5)
    take_over(second, old, converged=False)
    assert second.lr == pytest.approx(first.lr)
    assert (second.state.epoch, second.state.window) == (0, 0)
