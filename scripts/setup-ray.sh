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
. "$root/scripts/venv-common.sh"

ensure_venv "$root/.venv-ray" ray "ray[default]==$RAY_VERSION"
