"""Shared test set-up. Fixtures for the real S3 server live in s3_server.py (a plugin)."""

from pathlib import Path

import pytest
import torch
from store_backends import STORE_BACKENDS, url_for

pytest_plugins = ["s3_server", "prefect_server"]

# The tests' models are tiny: one thread avoids OpenMP spin-waits that make each op ~50x slower
# on a busy 2-core machine, and keeps CPU results independent of the core count.
torch.set_num_threads(1)


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store on each backend: memory://, file:// and a real S3 (SeaweedFS,
    marked `s3`). Every store test that should hold on all of them takes this fixture."""
    return url_for(request, request.param, tmp_path)
