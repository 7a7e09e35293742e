#!/usr/bin/env bash
# Schedule the LightRNN pipeline on a local Prefect server, from a fresh clone: every command, in
# order, from the repository root. tests/test_deploy.py runs these same lines against a real server
# and a real process worker (on a free port instead of 4200).
set -euo pipefail

make install                                            # set up .venv only (no training)
source .venv/bin/activate
prefect config set PREFECT_SERVER_ANALYTICS_ENABLED=false   # offline: no telemetry errors
prefect server start &                                  # or in a terminal of its own
export PREFECT_API_URL=http://127.0.0.1:4200/api        # in every terminal that talks to it
prefect server status --wait --timeout 120              # UI and API on http://127.0.0.1:4200
prefect work-pool create local --type process --overwrite   # every pool prefect.yaml names
prefect work-pool create gpu --type process --overwrite
prefect --no-prompt deploy --all
prefect worker start --pool local &                     # or in a terminal of its own
prefect deployment run 'lightrnn-pipeline/train' --param profile=tiny \
    --param overrides='{"train.max_steps": 30}' --watch
