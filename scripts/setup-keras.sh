#!/usr/bin/env bash
# Install Python's pinned TensorFlow, Keras and MLflow (scripts/keras-requirements.txt) into
# .venv-keras at the repository root: `export --format savedmodel` runs it (tfjs-node has no
# SavedModel writer), and the export tests load the exported models with it. Its own venv:
# TensorFlow pins numpy < 2.1, which MLflow's .venv does not. Does nothing when every pin is
# installed. PYTHON picks the interpreter.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-keras"
requirements="$root/scripts/keras-requirements.txt"
python="${PYTHON:-python3}"
# TensorFlow is pinned once, in package.json (affectlab.tensorflow)
tensorflow="tensorflow-cpu==$(node -p "require('$root/package.json').affectlab.tensorflow")"

pins_installed() {
  "$venv/bin/python" - "$requirements" "$tensorflow" <<'PY' 2>/dev/null
import importlib.metadata as m, sys
lines = [line.split("#")[0].strip() for line in open(sys.argv[1])] + [sys.argv[2]]
for line in filter(None, lines):
    name, version = line.split("==")
    if m.version(name) != version:
        sys.exit(1)
PY
}

if [ -x "$venv/bin/python" ] && pins_installed; then
  echo "keras venv already matches $requirements: $venv"
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi

"$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements" "$tensorflow"
"$venv/bin/python" -c 'import importlib.metadata as m; print("keras venv:", *(f"{p} {m.version(p)}" for p in ("tensorflow-cpu", "keras", "mlflow")))'
