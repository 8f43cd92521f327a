#!/usr/bin/env bash
# Install the pinned MLflow tracking server into .venv at the repository root, for the MLflow
# integration tests (test/support/mlflow-server.ts finds .venv/bin/mlflow) and for local use:
#   .venv/bin/mlflow server --host 127.0.0.1 --port 5000
# Does nothing when that version is already installed. PYTHON picks the interpreter (>= 3.10).
set -euo pipefail

MLFLOW_VERSION=3.17.2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/venv-common.sh"

# The full package: mlflow-skinny has no tracking server.
ensure_venv "$root/.venv" mlflow "mlflow==$MLFLOW_VERSION"
