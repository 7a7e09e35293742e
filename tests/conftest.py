"""Shared test set-up. Fixtures for the real S3 server live in s3_server.py (a plugin)."""

import torch

pytest_plugins = ["s3_server", "prefect_server"]

# The tests' models are tiny: one thread avoids OpenMP spin-waits that make each op ~50x slower
# on a busy 2-core machine, and keeps CPU results independent of the core count.
torch.set_num_threads(1)
