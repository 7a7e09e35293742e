"""Learning curves and what happened, where the user looks: TensorBoard event files of each
round (in the run's directory and in the store), the curves' picture in the progress artifact,
an ETA after a resume from this process's own rate, the resume line in the top-level run's log.
"""

from __future__ import annotations

import base64
import math

import pytest
from pipeline_helpers import wikitext_slice
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import storage
from lightrnn.progress import eta_seconds
from lightrnn.train import TrainProgress
from tasks import curves
from tasks.training.monitor import describe

SCALARS = {curves.TRAIN_LOSS, curves.LEARNING_RATE, curves.TOKENS_PER_S, curves.VALID_PPL}
MOVED = {curves.WORDS_MOVED, curves.MOVED_PCT}
PNG = b"\x89PNG\r\n\x1a\n"


def test_eta_after_a_resume_counts_this_process_steps_only():
    # Resumed at step 1,400 of 2,400; 10 steps in 10 s here: 990 steps left at 1 step/s.
    assert eta_seconds(1410, 2400, 1400, 10.0) == 990.0
    p = TrainProgress(1410, 2400, 1.0, 5.0, 0.01, 1000.0, 10.0, None, None, start_step=1400)
    assert p.eta_s == 990.0 and "ETA 990 s" in describe(p)
    assert eta_seconds(1400, 2400, 1400, 0.0) != eta_seconds(1400, 2400, 1400, 0.0)  # NaN
    assert eta_seconds(2400, 2400, 1400, 50.0) == 0.0
    assert eta_seconds(100, 400, 0, 20.0) == 60.0  # a fresh run: unchanged


def scalars(directory) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(directory))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def report_steps(steps: int, every: int = 20) -> list[int]:
    return sorted(set(range(every, steps + 1, every)) | {steps})


def top_level_logs(flow_run_id) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return [log.message for log in logs]


@pytest.mark.prefect
@pytest.mark.slow
def test_rounds_write_learning_curves_and_resumes_say_so_on_top(prefect_api, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.pipeline import lightrnn_pipeline

    monkeypatch.setenv(curves.RUNS_DIR_ENV, str(tmp_path / "runs"))
    corpus = wikitext_slice(tmp_path / "wt2-slice", train_lines=600, eval_lines=60)
    url = f"file://{tmp_path}/store"
    storage.init_store(url)
    state = lightrnn_pipeline(corpus=str(corpus), store=url, profile="tiny", return_state=True)
    summary = state.result()
    run, rows = summary["run"], summary["rounds"]
    store = storage.open_store(url)

    # Each round: the exact tags, at the trainer's report and evaluation steps, with the
    # values its model's stored history holds; words moved after round 1's reallocation.
    for row in rows:
        k = row["round"]
        model = store.resolve(f"runs/{run}/round-{k}/model", "latest")
        history, steps = model.meta["history"], model.meta["summary"]["steps"]
        local = scalars(curves.round_dir(run, k))
        stored = scalars(store.get(curves.curves_name(run, k)))
        assert local == stored
        moved = k < len(rows)
        assert set(local) == SCALARS | (MOVED if moved else set())
        assert [s for s, _ in local[curves.VALID_PPL]] == [h["step"] for h in history]
        assert [v for _, v in local[curves.VALID_PPL]] == pytest.approx(
            [h["valid_ppl"] for h in history], rel=1e-6
        )
        for tag in (curves.TRAIN_LOSS, curves.LEARNING_RATE, curves.TOKENS_PER_S):
            assert [s for s, _ in local[tag]] == report_steps(steps), tag
        if moved:
            assert local[curves.WORDS_MOVED] == [(k, row["words_moved"])]
            assert local[curves.MOVED_PCT] == [(k, pytest.approx(row["moved_pct"], rel=1e-6))]

    # The progress artifact shows the curves: a PNG inline.
    with get_client(sync_client=True) as client:
        (progress, *_) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"train-{run}-round-1"]))
        )
    assert progress.type == "progress" and progress.data == 100.0
    encoded = progress.description.split("data:image/png;base64,", 1)[1].split(")", 1)[0]
    assert base64.b64decode(encoded).startswith(PNG)
    top = top_level_logs(state.state_details.flow_run_id)
    assert any(m.startswith("learning curves of round 1 in ") for m in top)

    # Round 1's model withdrawn: a re-run resumes it from its last checkpoint (step 40), says
    # so in the run the user started, and the curves continue where the checkpoint was.
    before = scalars(curves.round_dir(run, 1))
    store.retract(f"runs/{run}/round-1/model", "latest", "test: train round 1 again")
    checkpoint = store.resolve(f"runs/{run}/round-1/checkpoint", "latest")
    state = lightrnn_pipeline(
        corpus=str(corpus),
        store=url,
        profile="tiny",
        overrides={"pipeline.max_rounds": 1},
        return_state=True,
    )
    assert state.result()["rounds"][0]["steps"] == rows[0]["steps"]
    top = top_level_logs(state.state_details.flow_run_id)
    step = checkpoint.meta["step"]
    resumed = f"resuming round 1 from {checkpoint.ref}"
    assert [m for m in top if m.startswith("resuming round")] == [f"{resumed} at step {step}"]
    after = scalars(curves.round_dir(run, 1))
    kept = {curves.VALID_PPL, curves.TRAIN_LOSS, curves.LEARNING_RATE, curves.WORDS_MOVED}
    for tag in kept:  # bitwise resume: the same points, none twice
        got, want = [s for s, _ in after[tag]], [s for s, _ in before[tag]]
        assert got == want, tag
    assert [v for _, v in after[curves.VALID_PPL]] == [v for _, v in before[curves.VALID_PPL]]
    assert all(math.isfinite(v) for _, v in after[curves.TRAIN_LOSS])
