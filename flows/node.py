"""lightrnn-node: a machine other than node 0 joining a multi-machine run, round by round."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.failures import one_line_failures
from tasks.training.nodes import follow


@flow(name="lightrnn-node", flow_run_name="node-{node_rank}")
@one_line_failures
def lightrnn_node(
    store: str, rdzv_endpoint: str, node_rank: int, timeout_minutes: float = 60.0
) -> int:
    """Train this node's share of every round node 0 publishes, until it ends the run."""
    return follow(store, rdzv_endpoint, node_rank, get_run_logger().info, timeout_minutes)
