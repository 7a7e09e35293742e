"""train-round: train LightRNN on one table until convergence, checkpointing to the store.

In this process, or (launch.nproc x launch.nnodes > 1) on PyTorch's elastic launcher with one
process per GPU (tasks/training/launch.py). A re-run finds the round's model and returns it, or
resumes from the newest valid checkpoint: the result equals an uninterrupted run's (bitwise on
the CPU).
"""

from __future__ import annotations

from prefect import Task, get_run_logger
from prefect.client.schemas.objects import TaskRun
from prefect.runtime import task_run
from prefect.states import State

from tasks import names
from tasks.refs import ModelInfo, Ref, RoundJob
from tasks.runlog import is_notable, tell
from tasks.store_task import Output, store_task
from tasks.training.launch import launch_round
from tasks.training.monitor import TrainingMonitor
from tasks.training.nodes import publish_round
from tasks.training.round import model_info, train_round

SKIPPED = "round %s: trained model found in the store, skipping training: %s (%s steps)"
CACHED = "round %s: trained model found in the store (Prefect's cache), skipping training"


def _found(store, ref: Ref) -> ModelInfo:
    return model_info(ref, store.resolve(ref.name, ref.version).meta["summary"])


def _skipped(store, ref: Ref) -> ModelInfo:
    """The store holds the round's model: said in the run the user started, too."""
    info = _found(store, ref)
    k = store.resolve(ref.name, ref.version).meta.get("round")
    tell(get_run_logger(), SKIPPED, k, ref, info.steps)
    return info


def _cached(_task: Task, run: TaskRun, state: State) -> None:
    """Prefect's cache answered (the store holds the model): the task body never ran."""
    if state.name == "Cached":
        k = run.name.rpartition("-")[2]
        tell(get_run_logger(), CACHED, k)


@store_task(
    "train-round",
    output=lambda p: names.round_model(p["job"].run_key, p["job"].round_index),
    found=_skipped,
    on_completion=[_cached],
    store_of=lambda p: p["job"].store_url,
    task_run_name=lambda: f"train-round-{task_run.parameters['job'].round_index}",
    tags=["gpu"],
)
def train_round_task(out: Output, job: RoundJob) -> ModelInfo:
    """Train the round's model on its table, warm-starting from the previous round's."""
    logger, cfg, launch = get_run_logger(), job.settings.train, job.settings.launch
    title = f"round {job.round_index} of {job.settings.pipeline.max_rounds}"
    key = f"train-{job.run_key}-round-{job.round_index}"

    def forward(line: str) -> None:  # a training process's line: what happened goes on top
        if is_notable(line):
            tell(logger, "%s", line)
        else:
            logger.info("%s", line)

    with TrainingMonitor(title, key, cfg.max_steps) as monitor:
        if launch.processes == 1:
            info = train_round(job, out.store, logger, monitor, evaluated=monitor.evaluated)
            assert info is not None
        else:
            logger.info(
                "%s on %d process(es) x %d node(s): global batch %d x %d = %d rows",
                title,
                launch.nproc,
                launch.nnodes,
                cfg.batch_size,
                launch.processes,
                cfg.batch_size * launch.processes,
            )
            if launch.nnodes > 1:  # the other nodes (`lightrnn node`) take their jobs from here
                publish_round(out.store, job)
            result = launch_round(job, forward, monitor, monitor.evaluated)
            info = _found(out.store, Ref.of(out.store.resolve(result["name"], result["version"])))
        monitor.finish(info.stop_reason, info.steps, info.valid_ppl)
    return info
