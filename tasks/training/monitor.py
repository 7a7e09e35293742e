"""Training progress where users look: a Prefect progress artifact (with the learning curves'
picture, redrawn at each evaluation), the run log, the terminal."""

from __future__ import annotations

import base64
import math
import sys
import time
from types import TracebackType

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from lightrnn.train import TrainProgress
from tasks.faults import reach
from tasks.plots import curves_png

MAX_POINTS = 2000  # training-loss points kept for the picture (thinned by half beyond)


def image_markdown(png: bytes, alt: str = "learning curves") -> str:
    """A PNG inline in markdown (a data: URI): the Prefect UI shows it in the artifact."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def describe(p: TrainProgress) -> str:
    """One line: step, throughput, loss, validation, ETA."""
    valid = f" · valid ppl {p.valid_ppl:.1f}" if p.valid_ppl is not None else ""
    eta = f" · ETA {p.eta_s:.0f} s" if math.isfinite(p.eta_s) else ""
    return (
        f"step {p.step:,}/{p.max_steps:,} · {p.tokens_per_s:,.0f} tokens/s · "
        f"loss {p.loss:.3f} (ppl {p.ppl:.1f}){valid} · lr {p.lr:.3g}{eta}"
    )


class TrainingMonitor:
    """Callable passed to the Trainer as its progress callback; use as a context manager."""

    def __init__(
        self,
        title: str,
        key: str,
        max_steps: int,
        artifact_every_s: float = 2.0,
        log_every_s: float = 30.0,
    ) -> None:
        self.title, self.max_steps = title, max_steps
        self.artifact_every_s, self.log_every_s = artifact_every_s, log_every_s
        self.logger = get_run_logger()
        self.artifact_id = create_progress_artifact(
            progress=0.0, key=key, description=f"{title}: starting"
        )
        self._last_artifact = self._last_log = 0.0
        self.train: list[tuple[int, float]] = []  # (step, training loss) at each report
        self.valid: list[tuple[int, float]] = []  # (step, validation perplexity)
        self.image = ""  # the curves as markdown, once there is an evaluation
        self._bar: Progress | None = None
        self._bar_task = None
        if sys.stderr.isatty():
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar_task = self._bar.add_task(title, total=max_steps, info="")

    def __enter__(self) -> TrainingMonitor:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def describe(self, text: str) -> str:
        """The artifact's description: the line, then the curves' picture."""
        return f"{self.title}: {text}" + (f"\n\n{self.image}" if self.image else "")

    def evaluated(self, entry: dict[str, float]) -> None:
        """The trainer's evaluation callback: redraw the curves and show them now."""
        self.valid.append((int(entry["step"]), float(entry["valid_ppl"])))
        self.image = image_markdown(curves_png(self.train, self.valid, self.title))
        self._last_artifact = 0.0  # the next report shows the new picture

    def __call__(self, p: TrainProgress) -> None:
        reach("train")
        now = time.monotonic()
        line = describe(p)
        if math.isfinite(p.loss):
            self.train.append((p.step, p.loss))
            if len(self.train) > MAX_POINTS:
                self.train = self.train[::2]
        if self._bar is not None:
            self._bar.update(
                self._bar_task,
                completed=p.step,
                info=f"{p.tokens_per_s:,.0f} tok/s · ppl {p.ppl:.1f}",
            )
        if now - self._last_artifact >= self.artifact_every_s or p.step >= self.max_steps:
            update_progress_artifact(
                self.artifact_id,
                100.0 * p.step / self.max_steps,
                description=self.describe(line),
            )
            self._last_artifact = now
        if now - self._last_log >= self.log_every_s:
            self.logger.info("%s: %s", self.title, line)
            self._last_log = now

    def finish(self, stop_reason: str, steps: int, valid_ppl: float | None) -> None:
        shown = valid_ppl is not None and math.isfinite(valid_ppl)
        valid = f", valid ppl {valid_ppl:.2f}" if shown else ""
        summary = f"{stop_reason} after {steps:,} steps{valid}"
        update_progress_artifact(self.artifact_id, 100.0, description=self.describe(summary))
        self.logger.info("%s: %s", self.title, summary)
