#!/usr/bin/env bash
# Install the pinned MLflow tracking server into .venv at the repository root, for the MLflow
# integration tests (test/support/mlflow-server.ts finds .venv/bin/mlflow) and for local use:
#   .venv/bin/mlflow server --host 127.0.0.1 --port 5000
# Does nothing when that version is already installed. PYTHON picks the interpreter (>= 3.10).
set -euo pipefail

MLFLOW_VERSION=3.17.2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"

installed_version() {
  "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow"))' 2>/dev/null || true
}

if [ -x "$venv/bin/mlflow" ] && [ "$(installed_version)" = "$MLFLOW_VERSION" ]; then
  echo "mlflow $MLFLOW_VERSION already installed in $venv"
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi

# The full package: mlflow-skinny has no tracking server.
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet "mlflow==$MLFLOW_VERSION"
"$venv/bin/mlflow" --version
