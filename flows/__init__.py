"""Prefect flows (compositions of tasks) and the `lightrnn` command line.

Prefect reads its settings when first imported: these defaults suit an offline machine and a
slow first start of the ephemeral API; any value the user set wins.
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
# Before anything loads torch, as lightrnn/__init__.py does (see why there); set here too so that
# the store's command line, which lives in flows/, never imports the model library.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
