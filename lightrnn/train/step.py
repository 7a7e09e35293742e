"""One training step, and what the loop keeps between progress reports."""

from __future__ import annotations

import time

import torch

from lightrnn.distributed import World
from lightrnn.recurrent import RecurrentLM, State


def train_step(
    model: RecurrentLM,
    optimizer: torch.optim.Optimizer,
    ids: torch.Tensor,
    state: State | None,
    clip: float,
) -> tuple[torch.Tensor, State]:
    """One window of truncated BPTT: forward, backward, clip (0: none), update.
    Returns the loss (a device tensor, no host sync) and the detached state to carry on."""
    model.train()
    out = model(ids, state)
    optimizer.zero_grad(set_to_none=True)
    out.loss.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return out.loss.detach(), (out.state[0].detach(), out.state[1].detach())


class Diverged(Exception):
    """A non-finite loss, perplexity or parameter: handled by `Trainer._roll_back`."""


class Report:
    """Loss and tokens since the last progress report (the loss stays on the device); in a
    `world`, summed over all processes, so that every process takes the same decisions."""

    def __init__(self, now: float, zero: torch.Tensor, world: World | None = None) -> None:
        self.since, self.loss, self.steps, self.tokens = now, zero, 0, 0
        self.world = world

    def add(self, loss: torch.Tensor, tokens: int) -> None:
        self.loss += loss
        self.steps += 1
        self.tokens += tokens

    def take(self) -> tuple[float, float]:
        """(mean loss, tokens per second) since the last take; then start afresh."""
        now = time.perf_counter()
        total, steps, tokens = float(self.loss), self.steps, self.tokens
        if self.world is not None:
            summed = self.world.sum(torch.tensor([total, steps, tokens], dtype=torch.float64))
            total, steps, tokens = float(summed[0]), int(summed[1]), int(summed[2])
        loss = total / max(steps, 1)
        rate = tokens / max(now - self.since, 1e-9)
        self.loss.zero_()
        self.since, self.steps, self.tokens = now, 0, 0
        return loss, rate


class RngStreams:
    """The trainer's own RNG streams (dropout masks), apart from the process's global one:
    loaded around the steps, saved after, and in every checkpoint."""

    def __init__(self, device: torch.device, seed: int) -> None:
        self.device = device
        self.seed(seed)

    def seed(self, seed: int) -> None:
        self.cpu = torch.Generator().manual_seed(seed).get_state()
        self.cuda: torch.Tensor | None = None
        if self.device.type == "cuda":
            with torch.random.fork_rng(devices=[self.device]):
                torch.cuda.manual_seed(seed)
                self.cuda = torch.cuda.get_rng_state(self.device)

    def load(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)

    def save(self) -> None:
        self.cpu = torch.get_rng_state()
        if self.device.type == "cuda":
            self.cuda = torch.cuda.get_rng_state(self.device)

    def state(self) -> dict[str, torch.Tensor | None]:
        return {
            "rng_cpu": self.cpu.clone(),
            "rng_cuda": None if self.cuda is None else self.cuda.clone(),
        }

    def restore(self, part: dict) -> None:
        self.cpu = part["rng_cpu"].clone()
        if part["rng_cuda"] is not None and self.device.type == "cuda":
            self.cuda = part["rng_cuda"].clone()
