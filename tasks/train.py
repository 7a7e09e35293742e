"""train-round: train LightRNN on one table until convergence, checkpointing to the store.

In this process, or (launch.nproc x launch.nnodes > 1) on PyTorch's elastic launcher with one
process per GPU (tasks/launch.py). A re-run finds the round's model and returns it, or resumes
from the newest valid checkpoint: the result equals an uninterrupted run's (bitwise on the CPU).
"""

from __future__ import annotations

from prefect import get_run_logger
from prefect.runtime import task_run

from tasks import names
from tasks.launch import launch_round
from tasks.monitor import TrainingMonitor
from tasks.nodes import publish_round
from tasks.refs import ModelInfo, Ref, RoundJob
from tasks.store_task import Output, store_task
from tasks.training import model_info, train_round


def _found(store, ref: Ref) -> ModelInfo:
    return model_info(ref, store.resolve(ref.name, ref.version).meta["summary"])


@store_task(
    "train-round",
    output=lambda p: names.round_model(p["job"].run_key, p["job"].round_index),
    found=_found,
    store_of=lambda p: p["job"].store_url,
    task_run_name=lambda: f"train-round-{task_run.parameters['job'].round_index}",
    tags=["gpu"],
)
def train_round_task(out: Output, job: RoundJob) -> ModelInfo:
    """Train the round's model on its table, warm-starting from the previous round's."""
    logger, cfg, launch = get_run_logger(), job.settings.train, job.settings.launch
    title = f"round {job.round_index} of {job.settings.pipeline.max_rounds}"
    key = f"train-{job.run_key}-round-{job.round_index}"
    with TrainingMonitor(title, key, cfg.max_steps) as monitor:
        if launch.processes == 1:
            info = train_round(job, out.store, logger, monitor)
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
            result = launch_round(job, logger.info, monitor)
            info = _found(out.store, Ref.of(out.store.resolve(result["name"], result["version"])))
        monitor.finish(info.stop_reason, info.steps, info.valid_ppl)
    return info
