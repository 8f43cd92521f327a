#!/usr/bin/env bash
# Install Python's pinned TensorFlow, Keras and MLflow (scripts/keras-requirements.txt, plus
# tensorflow-cpu at package.json's affectlab.tensorflow) into .venv-keras at the repository
# root: `export --format savedmodel` runs it (tfjs-node has no SavedModel writer), and the export
# tests load the exported models with it. Its own venv: TensorFlow pins numpy < 2.1, which
# MLflow's .venv does not. Does nothing when every pin is installed. PYTHON picks the interpreter.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/venv-common.sh"

# TensorFlow is pinned once, in package.json (affectlab.tensorflow)
tensorflow="tensorflow-cpu==$(node -p "require('$root/package.json').affectlab.tensorflow")"
mapfile -t pins < <(requirement_pins "$root/scripts/keras-requirements.txt")
ensure_venv "$root/.venv-keras" keras "$tensorflow" "${pins[@]}"
