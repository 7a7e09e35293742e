"""The trainer's optimizer: torch's fused kernel, the same updates as the per-parameter loop."""

from __future__ import annotations

import pytest
import torch

from lightrnn.train.config import TrainConfig, fusable, load_optimizer_state, make_optimizer


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.nn.Parameter(torch.randn(50, 8, generator=g)),
        torch.nn.Parameter(torch.randn(8, generator=g)),
    ]


def _steps(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter], seeds: range) -> None:
    for s in seeds:  # the same gradients for every optimizer under test
        g = torch.Generator().manual_seed(1000 + s)
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_the_fused_optimizer_makes_the_per_parameter_loops_updates(name: str) -> None:
    cfg = TrainConfig(optimizer=name, lr=0.01, weight_decay=0.01)
    fused_params, loop_params = _params(0), _params(0)
    fused = make_optimizer(cfg, fused_params)
    cls = torch.optim.Adam if name == "adam" else torch.optim.SGD
    extra = {} if name == "adam" else {"momentum": cfg.momentum}
    loop = cls(loop_params, lr=0.01, weight_decay=0.01, foreach=False, **extra)
    assert fused.param_groups[0]["fused"] is True
    _steps(fused, fused_params, range(20))
    _steps(loop, loop_params, range(20))
    for a, b in zip(fused_params, loop_params, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_fused_only_where_torch_has_the_kernel() -> None:
    assert fusable(_params(0))
    assert not fusable([torch.zeros(3, dtype=torch.int64)])
    assert not fusable([torch.zeros(3), torch.zeros(3, device="meta")])
    opt = make_optimizer(TrainConfig(optimizer="adam"), [torch.zeros(3, device="meta")])
    assert opt.param_groups[0]["fused"] is None


def test_a_state_written_without_the_fused_kernel_resumes_fused_and_exactly() -> None:
    cfg = TrainConfig(optimizer="adam", lr=0.01)
    whole = _params(0)
    reference = torch.optim.Adam(whole, lr=0.01, foreach=False)
    _steps(reference, whole, range(10))
    halves = _params(0)
    first = torch.optim.Adam(halves, lr=0.01, foreach=False)  # a checkpoint from before
    _steps(first, halves, range(5))
    resumed = make_optimizer(cfg, halves)
    load_optimizer_state(resumed, first.state_dict())
    assert resumed.param_groups[0]["fused"] is True  # the old state did not switch it off
    _steps(resumed, halves, range(5, 10))
    for a, b in zip(halves, whole, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert int(resumed.state[halves[0]]["step"]) == 10
