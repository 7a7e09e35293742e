"""The training loop: truncated BPTT over one token stream, checkpointable to the last bit.

`Trainer.state_dict()` is a plain dict of tensors and numbers (model, optimizer, scheduler, RNG
states, step, data position, carried LSTM state, best-so-far); a Trainer rebuilt from it continues
exactly as if never stopped (bitwise on the CPU). The trainer owns its own RNG state, so nothing
else in the process (evaluation, logging, other models) can perturb a run.

Convergence is early stopping on validation perplexity: after `early_stop_patience` evaluations
without improvement the run stops, and with `restore_best` ends on its best parameters. The
learning rate drops by `lr_decay` when validation stops improving (ReduceLROnPlateau).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from lightrnn.data import Batches, TokenStream
from lightrnn.errors import CheckpointError, ConfigError, TrainingError
from lightrnn.evaluate import evaluate
from lightrnn.lm import RecurrentLM, State

OPTIMIZERS = {"sgd": 20.0, "adam": 2e-3}  # name -> default learning rate


@dataclass(frozen=True)
class TrainConfig:
    """How to train one model on one stream. Steps are BPTT windows of batch_size x bptt ids."""

    batch_size: int = 20
    bptt: int = 35  # words per window (LightRNN reads 2 * bptt LSTM steps)
    optimizer: str = "sgd"  # "sgd" or "adam"
    lr: float = 0.0  # 0 = the optimizer's default (sgd 20, adam 2e-3)
    momentum: float = 0.0  # sgd only
    weight_decay: float = 0.0
    clip: float = 0.25  # max gradient norm; 0 = no clipping
    max_steps: int = 1000
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
    progress_every: int = 20  # steps between progress reports

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer={self.optimizer!r}: choose one of {list(OPTIMIZERS)}")
        for name in ("batch_size", "bptt", "max_steps", "eval_batch_size", "progress_every"):
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
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)}: must not be negative")
        if not 0.0 < self.lr_decay <= 1.0:
            raise ConfigError(f"lr_decay={self.lr_decay}: must be in (0, 1]")
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


@dataclass(frozen=True)
class Progress:
    """What a progress bar or a Prefect progress artifact shows."""

    step: int
    max_steps: int
    epoch: float
    loss: float  # mean training NLL since the last report, nats per token
    lr: float
    tokens_per_s: float
    elapsed_s: float
    valid_ppl: float | None  # latest validation perplexity
    best_valid_ppl: float | None

    @property
    def ppl(self) -> float:
        return math.exp(min(self.loss, 700.0))

    @property
    def eta_s(self) -> float:
        done = self.step / self.max_steps
        return self.elapsed_s * (1 - done) / done if done > 0 else float("nan")


@dataclass
class TrainResult:
    steps: int
    converged: bool  # stopped by early stopping (validation stopped improving)
    stop_reason: str
    valid_ppl: float | None  # of the parameters the run ends with
    best_valid_ppl: float | None
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per evaluation
    tokens_per_s: float = 0.0
    seconds: float = 0.0


ProgressFn = Callable[[Progress], None]
CheckpointFn = Callable[["Trainer"], None]


class Trainer:
    """Trains `model` on `train` windows; evaluates on `valid`; reports and checkpoints by callback.

    checkpoint(trainer) is called every `checkpoint_steps` steps and/or `checkpoint_seconds`
    seconds (whichever comes first; 0 disables either) and when the run ends.
    """

    def __init__(
        self,
        model: RecurrentLM,
        train: TokenStream,
        valid: TokenStream | None,
        config: TrainConfig,
        progress: ProgressFn | None = None,
        checkpoint: CheckpointFn | None = None,
        checkpoint_steps: int = 0,
        checkpoint_seconds: float = 0.0,
    ) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.batches = Batches(train, config.batch_size, config.bptt, vocab_size=model.vocab_size)
        self.valid = valid
        self.progress_fn = progress
        self.checkpoint_fn = checkpoint
        self.checkpoint_steps = checkpoint_steps
        self.checkpoint_seconds = checkpoint_seconds
        self.optimizer = self._make_optimizer()
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer,
            mode="min",
            factor=config.lr_decay,
            patience=config.lr_patience,
            min_lr=config.min_lr,
            threshold=config.min_delta,
            threshold_mode="rel",
        )
        # Progress of the run: everything below goes into the state dict.
        self.step = 0
        self.window = 0  # next window of the current epoch
        self.epoch = 0
        self.hidden: State | None = None
        self.best_ppl = math.inf
        self.best_model: dict[str, torch.Tensor] | None = None
        self.bad_evals = 0
        self.history: list[dict[str, float]] = []
        self.done = False
        self.stop_reason = ""
        self.valid_ppl: float | None = None
        self.last_loss: float | None = None  # mean training NLL of the last progress report
        gen = torch.Generator().manual_seed(config.seed)
        self._rng_cpu = gen.get_state()
        self._rng_cuda = self._seeded_cuda_rng(config.seed)
        self._running = False

    def _make_optimizer(self) -> torch.optim.Optimizer:
        cfg, params = self.config, self.model.parameters()
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=cfg.learning_rate, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
        return torch.optim.Adam(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)

    def _seeded_cuda_rng(self, seed: int) -> torch.Tensor | None:
        if self.device.type != "cuda":
            return None
        with torch.random.fork_rng(devices=[self.device]):
            torch.cuda.manual_seed(seed)
            return torch.cuda.get_rng_state(self.device)

    # -- the loop -----------------------------------------------------------------------------

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def run(self, until_step: int | None = None) -> TrainResult:
        """Train until `config.max_steps`, convergence, or `until_step` (a pause: resumable)."""
        cfg = self.config
        stop_at = min(until_step, cfg.max_steps) if until_step is not None else cfg.max_steps
        devices = [self.device] if self.device.type == "cuda" else []
        start = time.perf_counter()
        last_ckpt = start
        tokens = 0
        report_loss = torch.zeros((), device=self.device)
        report_steps, report_tokens, report_time = 0, 0, start
        with torch.random.fork_rng(devices=devices):
            self._load_rng()
            self._running = True
            try:
                while not self.done and self.step < stop_at:
                    report_loss += self._train_step()
                    n_tokens = self.config.batch_size * self.last_window_len
                    tokens += n_tokens
                    report_tokens += n_tokens
                    report_steps += 1
                    if cfg.eval_every and self.step % cfg.eval_every == 0:
                        self._evaluate()
                    if self.step >= cfg.max_steps and not self.done:
                        self._finish("max_steps")
                    if self.step % cfg.progress_every == 0 or self.done:
                        now = time.perf_counter()
                        self._report(
                            float(report_loss) / report_steps,
                            report_tokens / max(now - report_time, 1e-9),
                            now - start,
                        )
                        report_loss.zero_()
                        report_steps, report_tokens, report_time = 0, 0, now
                    now = time.perf_counter()
                    if self.checkpoint_fn and (
                        self.done
                        or (self.checkpoint_steps and self.step % self.checkpoint_steps == 0)
                        or (self.checkpoint_seconds and now - last_ckpt >= self.checkpoint_seconds)
                    ):
                        self.checkpoint_fn(self)
                        last_ckpt = time.perf_counter()
            finally:
                self._save_rng()
                self._running = False
        seconds = time.perf_counter() - start
        return TrainResult(
            steps=self.step,
            converged=self.stop_reason == "converged",
            stop_reason=self.stop_reason or "paused",
            valid_ppl=self.valid_ppl,
            best_valid_ppl=None if math.isinf(self.best_ppl) else self.best_ppl,
            history=list(self.history),
            tokens_per_s=tokens / max(seconds, 1e-9),
            seconds=seconds,
        )

    def _train_step(self) -> torch.Tensor:
        """One window: forward, backward, clip, update. Returns the loss (a device tensor)."""
        if self.window >= len(self.batches):  # a new epoch reads the stream from the start
            self.window, self.epoch, self.hidden = 0, self.epoch + 1, None
        ids = self.batches.window(self.window).to(self.device, non_blocking=True)
        self.last_window_len = ids.shape[1]
        self.model.train()
        out = self.model(ids, self.hidden)
        loss = out.loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        self.optimizer.step()
        self.hidden = (out.state[0].detach(), out.state[1].detach())  # truncated BPTT
        self.window += 1
        self.step += 1
        return loss.detach()

    def _evaluate(self) -> None:
        if self.valid is None:
            return
        cfg = self.config
        result = evaluate(
            self.model,
            self.valid,
            cfg.eval_batch_size,
            cfg.bptt,
            max_tokens=cfg.eval_tokens or None,
        )
        ppl = result.ppl
        if not math.isfinite(ppl):
            raise TrainingError(
                f"validation perplexity is {ppl} at step {self.step}: training diverged; "
                f"lower the learning rate (lr={self.lr}) or the gradient clip ({cfg.clip})"
            )
        self.valid_ppl = ppl
        self.history.append(
            {"step": self.step, "valid_ppl": ppl, "lr": self.lr, "epoch": self.epoch_float}
        )
        if ppl < self.best_ppl * (1.0 - cfg.min_delta):
            self.best_ppl, self.bad_evals = ppl, 0
            if cfg.restore_best:
                self.best_model = {
                    k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()
                }
        else:
            self.bad_evals += 1
        self.scheduler.step(ppl)
        if cfg.early_stop_patience and self.bad_evals >= cfg.early_stop_patience:
            self._finish("converged")

    def _finish(self, reason: str) -> None:
        """End the run: a last evaluation if needed, then the best parameters if asked."""
        if self.valid is not None and (not self.history or self.history[-1]["step"] != self.step):
            self._evaluate()
            if self.done:  # that evaluation itself detected convergence
                return
        self.done, self.stop_reason = True, reason
        if (
            self.config.restore_best
            and self.best_model is not None
            and self.valid_ppl is not None
            and self.best_ppl < self.valid_ppl
        ):
            self.model.load_state_dict(self.best_model)
            self.valid_ppl = self.best_ppl

    @property
    def epoch_float(self) -> float:
        return self.epoch + self.window / len(self.batches)

    def _report(self, loss: float, tokens_per_s: float, elapsed: float) -> None:
        self.last_loss = loss
        if not math.isfinite(loss):
            raise TrainingError(
                f"training loss is {loss} at step {self.step}: training diverged; lower the "
                f"learning rate (lr={self.lr}) or the gradient clip ({self.config.clip})"
            )
        if self.progress_fn:
            self.progress_fn(
                Progress(
                    step=self.step,
                    max_steps=self.config.max_steps,
                    epoch=self.epoch_float,
                    loss=loss,
                    lr=self.lr,
                    tokens_per_s=tokens_per_s,
                    elapsed_s=elapsed,
                    valid_ppl=self.valid_ppl,
                    best_valid_ppl=None if math.isinf(self.best_ppl) else self.best_ppl,
                )
            )

    # -- state --------------------------------------------------------------------------------

    def _load_rng(self) -> None:
        torch.set_rng_state(self._rng_cpu)
        if self._rng_cuda is not None:
            torch.cuda.set_rng_state(self._rng_cuda, self.device)

    def _save_rng(self) -> None:
        self._rng_cpu = torch.get_rng_state()
        if self.device.type == "cuda":
            self._rng_cuda = torch.cuda.get_rng_state(self.device)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bitwise: plain tensors and numbers, on the CPU."""
        if self._running:
            self._save_rng()

        def cpu(t: torch.Tensor) -> torch.Tensor:
            return t.detach().to("cpu", copy=True)

        return {
            "format": 1,
            "model_spec": self.model.spec(),
            "config": dataclasses.asdict(self.config),
            "model": {k: cpu(v) for k, v in self.model.state_dict().items()},
            "optimizer": copy.deepcopy(_to_cpu(self.optimizer.state_dict())),
            "scheduler": copy.deepcopy(self.scheduler.state_dict()),
            "rng_cpu": self._rng_cpu.clone(),
            "rng_cuda": None if self._rng_cuda is None else self._rng_cuda.clone(),
            "step": self.step,
            "epoch": self.epoch,
            "window": self.window,
            "hidden": None if self.hidden is None else [cpu(t) for t in self.hidden],
            "best_ppl": self.best_ppl,
            "best_model": self.best_model,
            "bad_evals": self.bad_evals,
            "history": [dict(h) for h in self.history],
            "valid_ppl": self.valid_ppl,
            "done": self.done,
            "stop_reason": self.stop_reason,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state_dict()` output (same model sizes, same training stream)."""
        if state.get("format") != 1:
            raise CheckpointError("not a training state written by this version of lightrnn")
        if state["model_spec"] != self.model.spec():
            raise CheckpointError(
                f"the checkpoint is for model {state['model_spec']} but this trainer holds "
                f"{self.model.spec()}: build the model from the checkpoint's model_spec"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self._rng_cpu = state["rng_cpu"].clone()
        if state["rng_cuda"] is not None and self.device.type == "cuda":
            self._rng_cuda = state["rng_cuda"].clone()
        self.step, self.epoch, self.window = state["step"], state["epoch"], state["window"]
        hidden = state["hidden"]
        self.hidden = (
            None if hidden is None else (hidden[0].to(self.device), hidden[1].to(self.device))
        )
        self.best_ppl = state["best_ppl"]
        self.best_model = state["best_model"]
        self.bad_evals = state["bad_evals"]
        self.history = [dict(h) for h in state["history"]]
        self.valid_ppl = state["valid_ppl"]
        self.done, self.stop_reason = state["done"], state["stop_reason"]


def _to_cpu(obj: Any) -> Any:
    """Optimizer state with every tensor moved to the CPU (so checkpoints load anywhere)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj
