"""Python side of `npm run bench:train`: the report's Appendix C model (or, with --architecture, a
Keras Applications backbone) in Keras, and the PIL and
tf.data image pipelines, each as a worker process that bench/train.ts drives.

Protocol (JSON lines): the worker sets up and warms up, prints {"ready": true, ...} on stdout,
then reads commands from stdin: {"op": "measure"} runs one timed repetition and prints its
figures; {"op": "quit"} prints the process's peak RSS and exits. Logs go to stderr.

Modes:
  keras-step  train_on_batch on one fixed in-memory batch (`--steps` timed steps per repetition)
  keras-e2e   model.fit on a tf.data pipeline reading the JPEGs (`--steps` steps per repetition)
  tfdata      the tf.data pipeline alone: `--images` images per repetition
  pil         PIL decode + crop + resize on a thread pool: `--images` images per repetition

The image list (--list) is the JSON file train.ts writes: the affectlab runner's training split,
[{"path", "box": [x, y, width, height], "label"}]. Every pipeline crops to the face box grown by
--margin on each side (floor/ceil, clamped to the image: affectlab's cropRegion), resizes with
an antialiased bilinear filter to the square input size (sharp's kernel 'linear', PIL's BILINEAR,
tf.image.resize bilinear with antialias), and divides by 255, as affectlab's sharp pipeline does.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

# TensorFlow's C++ INFO lines would drown the orchestrator's log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASSES = 6


def log(message: str) -> None:
    print(f"[{MODE}] {message}", file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Replies start with this marker (train-common.ts REPLY_MARKER); other stdout lines are strays.
REPLY_MARKER = "@@bench "


def reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(REPLY_MARKER + json.dumps(payload) + "\n")
    sys.stdout.flush()


def read_list(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf8") as handle:
        items = json.load(handle)
    if not items:
        raise SystemExit(f"{path}: the image list is empty")
    return items


def crop_region(box: list[float], margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """affectlab's cropRegion: the box grown by `margin` per side, clamped; (left, top, right, bottom)."""
    x, y, w, h = box
    left = max(0, math.floor(x - margin * w))
    top = max(0, math.floor(y - margin * h))
    right = min(width, math.ceil(x + w * (1 + margin)))
    bottom = min(height, math.ceil(y + h * (1 + margin)))
    return left, top, max(left + 1, right), max(top + 1, bottom)


# ---- Keras and tf.data -------------------------------------------------------------------------


def build_backbone(size: int, architecture: str):  # -> keras.Model
    """A Keras Applications backbone with affectlab's defaults for it: average pooling, (for
    EfficientNet) dropout 0.2, and a softmax Dense head; random weights, everything trainable."""
    import keras
    from keras import layers

    if architecture == "mobilenet-v2":
        base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg")
        x = base.output
    else:
        base = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg")
        x = layers.Dropout(0.2)(base.output)
    return keras.Model(base.input, layers.Dense(CLASSES, activation="softmax")(x))


def build_model(size: int, run_eagerly: bool = False, architecture: str = "vgg-type"):  # -> keras.Model
    """Appendix C of the report, layer for layer (channels-last), or a backbone (build_backbone)."""
    import keras
    from keras import layers

    model = build_backbone(size, architecture) if architecture != "vgg-type" else keras.Sequential(
        [
            keras.Input((size, size, 3)),
            layers.Conv2D(64, (3, 3)),
            layers.Activation("relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(128, (3, 3)),
            layers.Dropout(0.3),
            layers.Activation("relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(256, (3, 3)),
            layers.Activation("relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(256, (3, 3)),
            layers.Activation("relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dense(128),
            layers.Activation("relu"),
            layers.BatchNormalization(),
            layers.Dropout(0.25),
            layers.Dense(64),
            layers.Activation("relu"),
            layers.BatchNormalization(),
            layers.Dense(CLASSES),
            layers.Activation("softmax"),
        ]
    )
    # affectlab's runner compiles the same way: Adam 0.001 (epsilon 1e-7), cross-entropy, accuracy.
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.001),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        # the Keras-eager column: the same step op by op, as tfjs-layers runs it
        run_eagerly=run_eagerly,
    )
    return model


def tf_dataset(items: list[dict[str, Any]], size: int, margin: float, batch: int, repeat: bool):
    """read_file -> decode_jpeg -> crop to the grown face box -> bilinear resize -> /255 -> batch."""
    import tensorflow as tf

    paths = tf.constant([item["path"] for item in items])
    boxes = tf.constant([item["box"] for item in items], dtype=tf.float32)
    labels = tf.one_hot([item["label"] for item in items], CLASSES)

    def load(path, box, label):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        height = tf.cast(tf.shape(image)[0], tf.float32)
        width = tf.cast(tf.shape(image)[1], tf.float32)
        x, y, w, h = box[0], box[1], box[2], box[3]
        left = tf.maximum(0.0, tf.floor(x - margin * w))
        top = tf.maximum(0.0, tf.floor(y - margin * h))
        right = tf.maximum(left + 1, tf.minimum(width, tf.math.ceil(x + w * (1 + margin))))
        bottom = tf.maximum(top + 1, tf.minimum(height, tf.math.ceil(y + h * (1 + margin))))
        crop = image[
            tf.cast(top, tf.int32) : tf.cast(bottom, tf.int32),
            tf.cast(left, tf.int32) : tf.cast(right, tf.int32),
        ]
        resized = tf.image.resize(crop, [size, size], method="bilinear", antialias=True)
        return tf.clip_by_value(resized / 255.0, 0.0, 1.0), label

    dataset = tf.data.Dataset.from_tensor_slices((paths, boxes, labels))
    if repeat:
        dataset = dataset.repeat()
    return (
        dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch)
        .prefetch(tf.data.AUTOTUNE)
    )


class KerasStep:
    """train_on_batch on one fixed batch already in memory: the model step alone."""

    def __init__(self, args: argparse.Namespace) -> None:
        import numpy as np
        import tensorflow as tf

        self.steps = args.steps
        self.batch = args.batch
        self.model = build_model(
            args.size, run_eagerly=getattr(args, "run_eagerly", False), architecture=args.architecture
        )
        rng = np.random.default_rng(1)
        self.x = tf.constant(rng.random((args.batch, args.size, args.size, 3), dtype=np.float32))
        self.y = tf.one_hot(rng.integers(0, CLASSES, args.batch), CLASSES)
        self.measure(warm_up=True)

    def measure(self, warm_up: bool = False) -> dict[str, Any]:
        steps = 1 if warm_up else self.steps
        started = time.perf_counter()
        loss = float("nan")
        for _ in range(steps):
            loss = float(self.model.train_on_batch(self.x, self.y)[0])
        return {"images": steps * self.batch, "seconds": time.perf_counter() - started, "loss": loss}


class KerasFit:
    """model.fit on the tf.data pipeline: JPEG files to weights, one repetition = one fit call."""

    def __init__(self, args: argparse.Namespace) -> None:
        import random

        items = read_list(args.list)
        # the runner shuffles too; a fixed seed keeps the repetitions alike
        random.Random(1).shuffle(items)
        self.steps = args.steps
        self.batch = args.batch
        self.model = build_model(args.size)
        self.dataset = tf_dataset(items, args.size, args.margin, args.batch, repeat=True)
        # The first fit traces the train function; later fits reuse it.
        self.measure()

    def measure(self) -> dict[str, Any]:
        started = time.perf_counter()
        history = self.model.fit(self.dataset, steps_per_epoch=self.steps, epochs=1, verbose=0)
        seconds = time.perf_counter() - started
        return {
            "images": self.steps * self.batch,
            "seconds": seconds,
            "loss": float(history.history["loss"][-1]),
        }


class TfDataPipeline:
    """The tf.data pipeline alone: decode + crop + resize + normalise `--images` images."""

    def __init__(self, args: argparse.Namespace) -> None:
        items = read_list(args.list)[: args.images]
        self.dataset = tf_dataset(items, args.size, args.margin, args.batch, repeat=False)
        self.warm_up = tf_dataset(items[: args.batch], args.size, args.margin, args.batch, repeat=False)
        for _ in self.warm_up:
            pass

    def measure(self) -> dict[str, Any]:
        started = time.perf_counter()
        images = 0
        for x, _ in self.dataset:
            images += int(x.shape[0])
        return {"images": images, "seconds": time.perf_counter() - started}


class PilPipeline:
    """PIL decode + crop + bilinear resize + /255 into float32 batches, on a pool of `--threads`."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.items = read_list(args.list)[: args.images]
        self.size = args.size
        self.margin = args.margin
        self.batch = args.batch
        self.pool = ThreadPoolExecutor(max_workers=args.threads)
        self.threads = args.threads
        self.run(self.items[: args.batch])

    def load(self, item: dict[str, Any]):
        import numpy as np
        from PIL import Image

        with Image.open(item["path"]) as image:
            image = image.convert("RGB")
            region = crop_region(item["box"], self.margin, image.width, image.height)
            resized = image.crop(region).resize((self.size, self.size), Image.Resampling.BILINEAR)
            return np.asarray(resized, dtype=np.float32) / 255.0

    def run(self, items: list[dict[str, Any]]) -> int:
        import numpy as np

        images = 0
        for start in range(0, len(items), self.batch):
            batch = np.stack(list(self.pool.map(self.load, items[start : start + self.batch])))
            images += batch.shape[0]
        return images

    def measure(self) -> dict[str, Any]:
        started = time.perf_counter()
        images = self.run(self.items)
        return {"images": images, "seconds": time.perf_counter() - started}


WORKERS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "keras-step": KerasStep,
    "keras-e2e": KerasFit,
    "tfdata": TfDataPipeline,
    "pil": PilPipeline,
}

MODE = "keras"


def versions(mode: str) -> dict[str, str]:
    import numpy
    import platform

    found = {"python": platform.python_version(), "numpy": numpy.__version__}
    if mode == "pil":
        import PIL

        found["pillow"] = PIL.__version__
    else:
        import keras
        import tensorflow as tf

        found["tensorflow"] = tf.__version__
        found["keras"] = keras.__version__
    return found


def main() -> None:
    global MODE
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=sorted(WORKERS))
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--images", type=int, default=640)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--margin", type=float, default=0.1)
    parser.add_argument("--run-eagerly", action="store_true", help="keras-step: compile with run_eagerly=True")
    parser.add_argument(
        "--architecture",
        choices=["vgg-type", "mobilenet-v2", "efficientnet-b0"],
        default="vgg-type",
        help="keras-step: the model (vgg-type: Appendix C; the others: Keras Applications backbones)",
    )
    parser.add_argument("--list", help="image list JSON written by bench/train.ts")
    args = parser.parse_args()
    MODE = args.mode
    if args.mode != "keras-step" and not args.list:
        parser.error(f"{args.mode} needs --list")

    started = time.perf_counter()
    worker = WORKERS[args.mode](args)
    warm_up = time.perf_counter() - started
    log(f"ready after {warm_up:.1f} s")
    reply({"ready": True, "warmUpSeconds": warm_up, "versions": versions(args.mode)})
    serve(worker)


def serve(worker: Any) -> None:
    """Answer the orchestrator's commands on stdin until quit (bench/torch_train.py's too)."""
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("op") == "measure":
            result = worker.measure()
            reply({**result, "peakRssMiB": peak_rss_mib()})
        elif command.get("op") == "quit":
            break
        else:
            raise SystemExit(f"unknown command {line.strip()}")
    reply({"done": True, "peakRssMiB": peak_rss_mib()})


if __name__ == "__main__":
    main()
