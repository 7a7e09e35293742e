"""Prefect flows (compositions of tasks) and the `lightrnn` command line.

The process environment is set here, once, for every way a run starts: the command line, a
deployment's flow run (its entrypoint imports this package first) and the training processes
they launch (which inherit it). Any value the user set wins.
"""

import os

# Prefect reads its settings when first imported: these suit an offline machine and a slow
# first start of the ephemeral API.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
# OpenMP threads that spin while they wait make every op of a small model up to ~75x slower
# when another process shares the cores (measured on the 2-core development machine: a training
# step of the demo model took 3.5 s with spinning threads, 0.047 s with passive ones); waiting
# passively costs next to nothing on an idle machine. OpenMP reads the variable once, when torch
# loads: nothing here imports torch, so this runs first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
