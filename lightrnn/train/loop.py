"""The training loop: truncated BPTT over one token stream, checkpointable to the last bit.

`Trainer.state_dict()` is a plain dict of tensors and numbers (model, optimizer, scheduler, RNG
states and `TrainState`: step, data position, carried LSTM state, best-so-far); a Trainer rebuilt
from it continues exactly as if never stopped (bitwise on the CPU). The trainer owns its own RNG
state, so nothing else in the process (evaluation, logging, other models) can perturb a run.

Convergence is early stopping on validation perplexity: after `early_stop_patience` evaluations
without improvement the run stops, and with `restore_best` ends on its best parameters. The
learning rate drops by `lr_decay` when validation stops improving (ReduceLROnPlateau).

Divergence (a non-finite loss, perplexity or parameter) either stops the run with a clear error
(`on_diverge="stop"`) or rolls back to the last good state with a lower learning rate
(`on_diverge="rollback"`). A state handed to the checkpoint callback is always finite.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from lightrnn.data import Batches, TokenStream
from lightrnn.distributed import World
from lightrnn.errors import CheckpointError, TrainingError
from lightrnn.evaluate import evaluate
from lightrnn.recurrent import RecurrentLM
from lightrnn.train.config import TrainConfig, load_optimizer_state, make_optimizer, resolve_device
from lightrnn.train.state import (
    TrainProgress,
    TrainResult,
    TrainState,
    cpu_copy,
    own_part,
    rescaled_window,
)
from lightrnn.train.step import Diverged, Report, RngStreams, train_step

STATE_FORMAT = 3
RANK_SEED = 1_000_003  # process k draws dropout masks from seed + k * RANK_SEED


TrainProgressFn = Callable[[TrainProgress], None]
EvaluatedFn = Callable[[dict[str, float]], None]  # a history entry: step, valid_ppl, lr, epoch
CheckpointFn = Callable[["Trainer"], None]


class Trainer:
    """Trains `model` on `train` windows; evaluates on `valid`; reports and checkpoints by callback.

    checkpoint(trainer) is called every `checkpoint_steps` steps and/or `checkpoint_seconds`
    seconds (whichever comes first; 0 disables either) and when the run ends, always with
    finite parameters; `trainer.state_dict()` is what to save. evaluated(entry) gets each
    evaluation's history entry, on rank 0 only: learning curves are drawn from it.
    """

    def __init__(
        self,
        model: RecurrentLM,
        train: TokenStream,
        valid: TokenStream | None,
        config: TrainConfig,
        progress: TrainProgressFn | None = None,
        checkpoint: CheckpointFn | None = None,
        checkpoint_steps: int = 0,
        checkpoint_seconds: float = 0.0,
        world: World | None = None,
        evaluated: EvaluatedFn | None = None,
        valid_skip: int | None = None,  # a target id validation does not score (evaluate)
    ) -> None:
        self.config = config
        self.world = world
        self.device = resolve_device(config.device) if world is None else world.device()
        self.model = model.to(self.device)
        part = world.part() if world is not None else (0, 1)
        self.batches = Batches(train, config.batch_size, config.bptt, model.vocab_size, part)
        # The module the steps run: the model itself, or DDP around it (gradients averaged
        # over the processes in backward; the table buffers are the same everywhere).
        self.net: torch.nn.Module = self.model
        if world is not None:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DDP(self.model, device_ids=ids, forward_sync_buffers=False)
        self.valid, self.valid_skip = valid, valid_skip
        self.progress_fn = progress
        self.evaluated_fn = evaluated
        self._start_step = 0  # the step this run() began at (after a resume, the checkpoint's)
        self.checkpoint_fn = checkpoint
        self.checkpoint_steps = checkpoint_steps
        self.checkpoint_seconds = checkpoint_seconds
        self.optimizer = make_optimizer(config, self.model.parameters())
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer,
            mode="min",
            factor=config.lr_decay,
            patience=config.lr_patience,
            min_lr=config.min_lr,
            threshold=config.min_delta,
            threshold_mode="rel",
        )
        self.state = TrainState()
        self.rng = RngStreams(self.device, config.seed + RANK_SEED * (world.rank if world else 0))
        self._running = False
        self._last_good: dict[str, Any] | None = None  # rollback target (on_diverge="rollback")
        self._gathered: dict[str, Any] | None = None  # the state being checkpointed (a world)
        self.last_window_len = 0

    # -- what callers read --------------------------------------------------------------------

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def step(self) -> int:
        return self.state.step

    @property
    def done(self) -> bool:
        return self.state.done

    @property
    def history(self) -> list[dict[str, float]]:
        return self.state.history

    @property
    def valid_ppl(self) -> float | None:
        return self.state.valid_ppl

    @property
    def last_loss(self) -> float | None:
        return self.state.last_loss

    @property
    def epoch_float(self) -> float:
        return self.state.epoch + self.state.window / len(self.batches)

    @property
    def position(self) -> tuple[int, int]:
        """(epoch, next window): where the next step reads; `state.start_at` takes it."""
        return self.state.epoch, self.state.window

    # -- the loop -----------------------------------------------------------------------------

    def run(self, until_step: int | None = None) -> TrainResult:
        """Train until `config.max_steps`, convergence, or `until_step` (a pause: resumable)."""
        cfg, s = self.config, self.state
        stop_at = min(until_step, cfg.max_steps) if until_step is not None else cfg.max_steps
        devices = [self.device] if self.device.type == "cuda" else []
        start = time.perf_counter()
        self._start_step = s.step
        last_ckpt = start
        tokens = 0
        report = Report(start, torch.zeros((), device=self.device), self.world)
        with torch.random.fork_rng(devices=devices):
            self.rng.load()
            self._running = True
            if cfg.on_diverge == "rollback" and self._last_good is None:
                self._last_good = self.state_dict(local=True)
            try:
                while not s.done and s.step < stop_at:
                    try:
                        tokens += self._step_and_check(report, start)
                    except Diverged as exc:
                        self._roll_back(str(exc))
                        s = self.state
                        report.take()
                        continue
                    if self._checkpoint_due(last_ckpt):
                        try:
                            self._checkpoint()
                        except Diverged as exc:
                            self._roll_back(str(exc))
                            s = self.state
                            continue
                        last_ckpt = time.perf_counter()
            finally:
                self.rng.save()
                self._running = False
        seconds = time.perf_counter() - start
        return TrainResult(
            steps=s.step,
            converged=s.stop_reason == "converged",
            stop_reason=s.stop_reason or "paused",
            valid_ppl=s.valid_ppl,
            best_valid_ppl=None if math.isinf(s.best_ppl) else s.best_ppl,
            history=list(s.history),
            tokens_per_s=tokens / max(seconds, 1e-9),
            seconds=seconds,
            train_loss=s.last_loss,
        )

    def _checkpoint_due(self, last: float) -> bool:
        """Time for a checkpoint: every N steps, every N seconds (rank 0's clock decides for
        all processes, so that they all take part), and at the end."""
        s = self.state
        if self.checkpoint_fn is None:
            return False
        due = s.done or bool(self.checkpoint_steps and s.step % self.checkpoint_steps == 0)
        if self.checkpoint_seconds and not due:
            late = time.perf_counter() - last >= self.checkpoint_seconds
            due = self.world.from_main(late) if self.world is not None else late
        return due

    def _step_and_check(self, report: Report, start: float) -> int:
        """One step, then what falls due: evaluation, the end, a progress report. Tokens read."""
        cfg, s = self.config, self.state
        report.add(self._train_step(), cfg.batch_size * self.last_window_len)
        if cfg.eval_every and s.step % cfg.eval_every == 0 and self._validate():
            self._finish("converged")
        if s.step >= cfg.max_steps and not s.done:
            self._finish("max_steps")
        elif cfg.max_seconds and time.perf_counter() - start >= cfg.max_seconds and not s.done:
            self._finish("max_seconds")  # a time budget (benchmarks); not bitwise repeatable
        if s.step % cfg.progress_every == 0 or s.done:
            self._report(report, time.perf_counter() - start)
        return cfg.batch_size * self.last_window_len

    def _train_step(self) -> torch.Tensor:
        """One window: forward, backward, clip, update. Returns the loss (a device tensor)."""
        s = self.state
        if s.window >= len(self.batches):  # a new epoch reads the stream from the start
            s.window, s.epoch, s.hidden = 0, s.epoch + 1, None
        ids = self.batches.window(s.window).to(self.device, non_blocking=True)
        self.last_window_len = ids.shape[1]
        hidden = None if s.hidden is None else (s.hidden[0], s.hidden[1])
        loss, state = train_step(self.net, self.optimizer, ids, hidden, self.config.clip)
        s.hidden = [state[0], state[1]]
        s.window += 1
        s.step += 1
        return loss

    def _validate(self) -> bool:
        """Evaluate on `valid`; track the best; step the lr schedule. True when converged."""
        s, cfg = self.state, self.config
        if self.valid is None:
            return False
        ppl = evaluate(
            self.model,
            self.valid,
            cfg.eval_batch_size,
            cfg.bptt,
            cfg.eval_tokens or None,
            world=self.world,
            skip_id=self.valid_skip,
        ).ppl
        if not math.isfinite(ppl):
            raise Diverged(f"validation perplexity is {ppl}")
        s.valid_ppl = ppl
        entry = {"step": s.step, "valid_ppl": ppl, "lr": self.lr, "epoch": self.epoch_float}
        s.history.append(entry)
        if self.evaluated_fn is not None and (self.world is None or self.world.is_main):
            self.evaluated_fn(dict(entry))
        if ppl < s.best_ppl * (1.0 - cfg.min_delta):
            s.best_ppl, s.bad_evals = ppl, 0
            if cfg.restore_best:
                s.best_model = cpu_copy(self.model.state_dict())
        else:
            s.bad_evals += 1
        self.scheduler.step(ppl)
        return bool(cfg.early_stop_patience and s.bad_evals >= cfg.early_stop_patience)

    def _finish(self, reason: str) -> None:
        """End the run: a last evaluation if none at this step, then the best parameters."""
        s = self.state
        unseen = self.valid is not None and (not s.history or s.history[-1]["step"] != s.step)
        if unseen and self._validate():
            reason = "converged"
        s.done, s.stop_reason = True, reason
        if (
            self.config.restore_best
            and s.best_model is not None
            and s.valid_ppl is not None
            and s.best_ppl < s.valid_ppl
        ):
            self.model.load_state_dict(s.best_model)
            s.valid_ppl = s.best_ppl

    def _report(self, report: Report, elapsed: float) -> None:
        """Check and publish the mean loss since the last report."""
        s = self.state
        loss, tokens_per_s = report.take()
        s.last_loss = loss
        if not math.isfinite(loss):
            raise Diverged(f"training loss is {loss}")
        if self.progress_fn:
            self.progress_fn(
                TrainProgress(
                    step=s.step,
                    max_steps=self.config.max_steps,
                    epoch=self.epoch_float,
                    loss=loss,
                    lr=self.lr,
                    tokens_per_s=tokens_per_s,
                    elapsed_s=elapsed,
                    valid_ppl=s.valid_ppl,
                    best_valid_ppl=None if math.isinf(s.best_ppl) else s.best_ppl,
                    start_step=self._start_step,
                )
            )

    def _checkpoint(self) -> None:
        """Hand a finite state to the checkpoint callback (never a diverged one); in a world,
        every process contributes its part and rank 0 alone calls the callback."""
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise Diverged("the parameters are not finite")
        self._gathered = self.state_dict()  # a collective in a world: every process is here
        try:
            if self.checkpoint_fn is not None and (self.world is None or self.world.is_main):
                self.checkpoint_fn(self)
        finally:
            self._gathered = None
        if self.config.on_diverge == "rollback":
            self._last_good = self.state_dict(local=True)

    def _roll_back(self, what: str) -> None:
        """Stop with a clear error, or go back to the last good state with a lower lr."""
        cfg, s = self.config, self.state
        if cfg.on_diverge == "stop" or self._last_good is None:
            raise TrainingError(
                f"{what} at step {s.step}: training diverged; lower the learning rate "
                f"(lr={self.lr}) or the gradient clip ({cfg.clip}), or set "
                "train.on_diverge=rollback"
            )
        if s.rollbacks >= cfg.max_rollbacks:
            raise TrainingError(
                f"{what} at step {s.step}, after {s.rollbacks} rollbacks: training keeps "
                f"diverging; lower the learning rate (lr={self.lr}) or the gradient clip"
            )
        rollbacks, at = s.rollbacks + 1, s.step
        self.load_state_dict(self._last_good)
        self.rng.load()
        self.state.rollbacks = rollbacks
        for group in self.optimizer.param_groups:
            group["lr"] *= cfg.diverge_lr_factor
        self.state.rollback_log.append({"at_step": at, "to_step": self.state.step, "lr": self.lr})
        self._last_good = self.state_dict(local=True)

    # -- state --------------------------------------------------------------------------------

    def state_dict(self, local: bool = False) -> dict[str, Any]:
        """Everything needed to continue bitwise: plain tensors and numbers, on the CPU. In a
        world this is a collective (each process adds its rows' LSTM state and RNG), unless
        `local` (this process's own part only: what a rollback needs)."""
        if self._gathered is not None and not local:
            return self._gathered
        if self._running:
            self.rng.save()
        mine = {
            "hidden": None if self.state.hidden is None else cpu_copy(self.state.hidden),
            **self.rng.state(),
        }
        parts = self.world.gather(mine) if self.world is not None and not local else [mine]
        return {
            "format": STATE_FORMAT,
            "model_spec": self.model.spec(),
            "config": dataclasses.asdict(self.config),
            "model": cpu_copy(self.model.state_dict()),
            "optimizer": cpu_copy(self.optimizer.state_dict()),
            "scheduler": cpu_copy(self.scheduler.state_dict()),
            "progress": cpu_copy({**dataclasses.asdict(self.state), "hidden": None}),
            "ranks": parts,  # rank order; one entry when `local` or alone
            "local": local,
            "windows_per_epoch": len(self.batches),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state_dict()` output (same model sizes, same training stream), on
        the same number of processes (bitwise) or another: then the data position is kept as
        the same share of the epoch, the LSTM state starts from zero and each process's RNG
        is seeded from the run's seed, its rank and the step (docs/scaling.md)."""
        if state.get("format") != STATE_FORMAT:
            raise CheckpointError(
                f"not a training state written by this version of lightrnn (format "
                f"{state.get('format')!r}, expected {STATE_FORMAT}): start the round again"
            )
        if state["model_spec"] != self.model.spec():
            raise CheckpointError(
                f"the checkpoint is for model {state['model_spec']} but this trainer holds "
                f"{self.model.spec()}: build the model from the checkpoint's model_spec"
            )
        self.model.load_state_dict(state["model"])
        load_optimizer_state(self.optimizer, state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        progress = cpu_copy(state["progress"])
        rank, size = self.world.part() if self.world is not None else (0, 1)
        mine = own_part(state, rank, size)
        if mine is None:  # another number of processes: same share of the epoch, fresh state
            progress["window"] = rescaled_window(state, len(self.batches))
            self.rng.seed(self.config.seed + RANK_SEED * rank + progress["step"])
        else:
            hidden = mine["hidden"]
            progress["hidden"] = None if hidden is None else [t.to(self.device) for t in hidden]
            self.rng.restore(mine)
        self.state = TrainState(**progress)
