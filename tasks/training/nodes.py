"""Training on several machines: node 0 runs the pipeline; every other node follows it.

Node 0's training task publishes each round's job under `nodes/<endpoint>/job` (a new version
per round) before it launches its own share of the processes; a follower (`lightrnn node`)
waits for each new job, launches its share with its own node rank, and stops when node 0
publishes the end. The job carries everything a round needs (store, run, corpus, table,
settings), so the followers compute nothing on their own and never race node 0's commits.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import TypeAdapter

import storage
from tasks.refs import RoundJob
from tasks.training.launch import launch_round

JOB = "job.json"
POLL_SECONDS = 2.0


def channel(endpoint: str) -> str:
    """The store name node 0 publishes its rounds under, from the rendezvous endpoint."""
    return "nodes/" + re.sub(r"[^A-Za-z0-9._-]+", "-", endpoint).strip("-") + "/job"


def publish_round(store: storage.Store, job: RoundJob) -> None:
    data = TypeAdapter(RoundJob).dump_json(job)
    meta = {"run": job.run_key, "round": job.round_index, "done": False}
    store.put_bytes(channel(job.settings.launch.rdzv_endpoint), JOB, data, meta=meta)


@task(name="release-nodes", cache_policy=NO_CACHE)
def release_nodes_task(store_url: str, endpoint: str, run_key: str) -> None:
    """Tell the other nodes the run is over (they stop following)."""
    meta = {"run": run_key, "round": 0, "done": True}
    storage.open_store(store_url).put_bytes(channel(endpoint), JOB, b"{}", meta=meta)


def follow(
    store_url: str,
    endpoint: str,
    node_rank: int,
    log: Callable[[str], None],
    timeout_minutes: float = 60.0,
) -> int:
    """Join node 0's rounds until it publishes the end; the number of rounds trained."""
    store, name = storage.open_store(store_url), channel(endpoint)
    seen = max((v.number for v in store.versions(name)), default=0) if store.exists(name) else 0
    rounds, deadline = 0, time.monotonic() + 60 * timeout_minutes
    while True:
        newer = [v for v in store.versions(name) if v.number > seen] if store.exists(name) else []
        if not newer:
            if time.monotonic() > deadline:
                log(f"no round from node 0 at {endpoint} for {timeout_minutes:g} minutes: stopping")
                return rounds
            time.sleep(POLL_SECONDS)
            continue
        version = newer[0]
        seen = version.number
        if version.meta.get("done"):
            log(f"node 0 finished run {version.meta['run']}: {rounds} round(s) trained here")
            return rounds
        job = TypeAdapter(RoundJob).validate_json(store.read_bytes(name, version.number, JOB))
        launch = dataclasses.replace(job.settings.launch, node_rank=node_rank)
        job = dataclasses.replace(job, settings=dataclasses.replace(job.settings, launch=launch))
        log(f"joining round {job.round_index} of run {job.run_key} as node {node_rank}")
        launch_round(job, log)
        rounds += 1
        deadline = time.monotonic() + 60 * timeout_minutes
