"""A bootstrap round going on from the last: what carries, and the rate after a converged round."""

import pytest
import torch
from test_train import make_trainer

from lightrnn.train import Trainer
from lightrnn.train.carry import handover, take_over


def trainer(**overrides) -> Trainer:
    """Adam at lr 1e-6: no evaluation improves by 1%, so the plateau decays the rate."""
    settings = dict(optimizer="adam", lr=1e-6, max_steps=1000, eval_every=5)
    return make_trainer(**(settings | dict(early_stop_patience=3, min_delta=0.01) | overrides))


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
