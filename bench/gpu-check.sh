#!/usr/bin/env bash
# GPU check for a GPU owner: trains experiments/vgg6-weighted.yaml (VGG-type, 256 px, batch 64)
# for N steps on synthetic AffectNet data, once per execution engine, and prints one line per
# engine with throughput and peak GPU memory (nvidia-smi, sampled every 0.5 s).
#
#   npm run build && bash bench/gpu-check.sh [--steps 50] [--engines "eager graph"]
#                            [--backend tensorflow-gpu] [--size 256] [--data DIR]
# (--size/--backend tensorflow exist to try the script on a CPU box: at 256 px batch 64 the
# eager CPU step needs more than 23 GB of RAM.)
#
# Output (one line per engine, then the raw logs under .cache/affectlab/gpu-check/):
#   gpu-check backend=tensorflow-gpu engine=eager size=256 steps=50 status=ok device=GPU img_s=<img/s> gpu_mem_peak_mib=<MiB> seconds=<s>
#   gpu-check backend=tensorflow-gpu engine=graph size=256 steps=50 status=failed rc=1 reason="..."
# device is where the run's log says TensorFlow put it (CPU: the GPU package found no GPU device;
# `affectlab doctor` says why). img_s is the console reporter's last img/s figure of the epoch
# (it includes the first, slower steps). An engine that cannot run (e.g. the graph addon not
# built) or a crash is reported as status=failed with the CLI's last line, not fatal.
# Needs the GPU backend: npx affectlab setup gpu.
set -u
cd "$(dirname "$0")/.."

steps=50
engines="eager graph"
backend=tensorflow-gpu
size=256
data=
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --engines) engines=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    -h|--help) sed -n 2,18p "$0"; exit 0 ;;
    *) echo "gpu-check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$steps$size" in ''|*[!0-9]*) echo "gpu-check: --steps and --size need positive integers" >&2; exit 2 ;; esac
data=${data:-.cache/affectlab/gpu-check-synth-$size}

cli=(node bin/affectlab.js)
logs=.cache/affectlab/gpu-check
mkdir -p "$logs"

# enough rows for `steps` batches of 64 plus a 100-per-class validation split
if [ ! -f "$data/training.csv" ]; then
  count=$(( steps * 64 + 1200 ))
  "${cli[@]}" synth --out "$data" --size "$size" --count "$count" --classes report6 >"$logs/synth.log" 2>&1 \
    || { echo "gpu-check: synth failed, see $logs/synth.log" >&2; exit 1; }
fi

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu-check gpu: /'
else
  echo "gpu-check gpu: nvidia-smi not found (no NVIDIA driver?); GPU memory is not measured"
fi

for engine in $engines; do
  log="$logs/$engine.log"
  mem="$logs/$engine.mem"
  : >"$mem"
  sampler=
  if command -v nvidia-smi >/dev/null 2>&1; then
    (while :; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits >>"$mem" 2>/dev/null; sleep 0.5; done) &
    sampler=$!
  fi
  start=$(date +%s)
  TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2} "${cli[@]}" run experiments/vgg6-weighted.yaml \
    --set "dataset.root=$data" --set "dataset.imageSize=$size" --set "training.backend=$backend" --set "training.execution=$engine" \
    --set training.epochs=1 --set "training.stepsPerEpoch=$steps" --set training.validationSteps=1 --set dataset.split.validationPerClass=100 \
    >"$log" 2>&1 &
  wait $! # as a background job so bash does not print its own "Killed" line
  rc=$?
  seconds=$(( $(date +%s) - start ))
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null && wait "$sampler" 2>/dev/null
  peak=$(sort -n "$mem" | tail -1)
  if [ "$rc" -eq 0 ]; then
    img_s=$(grep -o '[0-9.]* img/s' "$log" | tail -1 | cut -d' ' -f1)
    device=$(grep -o 'backend: [^ ]* on /device:[A-Z]*' "$log" | head -1 | sed 's|.*/device:||')
    echo "gpu-check backend=$backend engine=$engine size=$size steps=$steps status=ok device=${device:-?} img_s=${img_s:-?} gpu_mem_peak_mib=${peak:-n/a} seconds=$seconds"
  else
    if [ "$rc" -ge 128 ]; then
      reason="killed by signal $((rc - 128)) (137: out of memory?)"
    else
      reason=$(grep -v '^\s*$' "$log" | tail -1 | tr '"' "'" | cut -c1-200)
    fi
    echo "gpu-check backend=$backend engine=$engine size=$size steps=$steps status=failed rc=$rc reason=\"$reason\" log=$log"
  fi
done
