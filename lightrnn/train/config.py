"""How to train one model on one stream (`TrainConfig`), and which device to train on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from lightrnn.errors import ConfigError
from lightrnn.validation import check_fields

OPTIMIZERS = {"sgd": 20.0, "adam": 2e-3}  # name -> default learning rate
ON_DIVERGE = ("stop", "rollback")


@dataclass(frozen=True)
class TrainConfig:
    """Steps are BPTT windows of batch_size x bptt ids."""

    batch_size: int = 20  # rows per process (the global batch is batch_size x processes)
    bptt: int = 35  # words per window (LightRNN reads 2 * bptt LSTM steps)
    optimizer: str = "sgd"  # "sgd" or "adam"
    lr: float = 0.0  # 0 = the optimizer's default (sgd 20, adam 2e-3)
    momentum: float = 0.0  # sgd only
    weight_decay: float = 0.0
    clip: float = 0.25  # max gradient norm; 0 = no clipping
    max_steps: int = 1000
    max_seconds: float = 0.0  # also stop after this much training time in one run(); 0 = never
    eval_every: int = 200  # steps between validation evaluations; 0 = only at the end
    eval_batch_size: int = 10
    eval_tokens: int = 0  # evaluate on the first N validation ids; 0 = all
    lr_decay: float = 0.25  # lr *= lr_decay after lr_patience evaluations without improvement
    lr_patience: int = 0
    min_lr: float = 0.0
    early_stop_patience: int = 3  # stop after this many evaluations without improvement; 0 = never
    min_delta: float = 0.0  # relative improvement of valid ppl that counts as improvement
    restore_best: bool = True  # end on the parameters with the best validation perplexity
    seed: int = 0
    device: str = "auto"  # "auto" (cuda if available), "cpu", "cuda", "cuda:1", ...
    progress_every: int = 20  # steps between progress reports (and divergence checks)
    on_diverge: Literal["stop", "rollback"] = "stop"  # a non-finite loss, ppl or parameter
    diverge_lr_factor: float = 0.5  # rollback: lr *= this after going back
    max_rollbacks: int = 3  # rollback: then stop with an error

    def __post_init__(self) -> None:
        check_fields(self, "train.")
        if self.on_diverge not in ON_DIVERGE:
            raise ConfigError(
                f"on_diverge={self.on_diverge!r}: choose 'stop' (fail with an error) or "
                "'rollback' (go back to the last good checkpoint with a lower learning rate)"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer={self.optimizer!r}: choose one of {list(OPTIMIZERS)}")
        for name in (
            "batch_size",
            "bptt",
            "max_steps",
            "eval_batch_size",
            "progress_every",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be at least 1")
        for name in (
            "lr",
            "momentum",
            "weight_decay",
            "clip",
            "eval_every",
            "eval_tokens",
            "lr_patience",
            "min_lr",
            "early_stop_patience",
            "min_delta",
            "max_rollbacks",
            "max_seconds",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)}: must not be negative")
        for name in ("lr_decay", "diverge_lr_factor"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ConfigError(f"{name}={getattr(self, name)}: must be in (0, 1]")
        if self.device != "auto" and not self.device.startswith(("cpu", "cuda")):
            raise ConfigError(f"device={self.device!r}: use 'auto', 'cpu' or 'cuda[:N]'")

    @property
    def learning_rate(self) -> float:
        return self.lr or OPTIMIZERS[self.optimizer]


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; a clear error for a GPU that is not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} but no CUDA GPU is visible: use device='auto' or 'cpu'")
    return device


def make_optimizer(cfg: TrainConfig, params: Any) -> torch.optim.Optimizer:
    """The optimizer `cfg` names, over `params`, with torch's fused kernel where it applies.

    The fused kernel updates every parameter in one pass: on one CPU thread Adam's step takes
    about a tenth of the per-parameter loop's time (docs/quality.md#how-the-quality-study-measures),
    which decides the step time of the models whose parameters grow with the vocabulary (the
    adaptive and the full softmax)."""
    params = list(params)
    fused = True if fusable(params) else None
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.learning_rate,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            fused=fused,
        )
    return torch.optim.Adam(
        params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=fused
    )


def fusable(params: list[torch.Tensor]) -> bool:
    """Whether torch's fused optimizer kernels take `params`: floating tensors, all on one CPU
    or CUDA device."""
    devices = {p.device for p in params}
    return (
        len(devices) == 1
        and next(iter(devices)).type in ("cpu", "cuda")
        and all(p.is_floating_point() for p in params)
    )


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load `state` into `optimizer` and keep the optimizer's own kernel choice: a state dict
    carries its writer's `fused` flag, and one written before fused kernels were used would
    switch them off for the rest of the run."""
    flags = [group.get("fused") for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, flag in zip(optimizer.param_groups, flags, strict=True):
        group["fused"] = flag
        if not flag:
            continue
        for p in group["params"]:  # the fused kernel keeps its step count beside the parameter
            slot = optimizer.state.get(p, {})
            if torch.is_tensor(slot.get("step")):
                slot["step"] = slot["step"].to(device=p.device, dtype=torch.float32)
