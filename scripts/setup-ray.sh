#!/usr/bin/env bash
# Install the pinned Ray (with its dashboard, which serves the Jobs REST API /api/jobs/) into
# .venv-ray at the repository root, for the ray launcher's integration test
# (test/support/ray-cluster.ts finds .venv-ray/bin/ray) and for local use:
#   .venv-ray/bin/ray start --head --node-ip-address 127.0.0.1 --dashboard-host 127.0.0.1
# Its own venv: Ray's pins would fight MLflow's in .venv. Does nothing when that version is
# already installed. PYTHON picks the interpreter.
set -euo pipefail

RAY_VERSION=2.60.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-ray"
python="${PYTHON:-python3}"

installed_version() {
  "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("ray"))' 2>/dev/null || true
}

if [ -x "$venv/bin/ray" ] && [ "$(installed_version)" = "$RAY_VERSION" ]; then
  echo "ray $RAY_VERSION already installed in $venv"
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi

"$venv/bin/python" -m pip install --disable-pip-version-check --quiet "ray[default]==$RAY_VERSION"
"$venv/bin/ray" --version
