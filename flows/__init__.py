"""Prefect flows (compositions of tasks) and the `lightrnn` command line.

Prefect reads its settings when first imported: these defaults suit an offline machine and a
slow first start of the ephemeral API; any value the user set wins.
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

import lightrnn  # noqa: F401 - before anything loads torch: sets OpenMP's wait policy
