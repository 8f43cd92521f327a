"""PyTorch side of `npm run bench:train`: the report's Appendix C net in PyTorch (CPU,
channels_last), as a worker process bench/train.ts drives with the same JSON-lines protocol as
bench/keras_train.py ({"op": "measure"} / {"op": "quit"}; replies prefixed by REPLY_MARKER).

Modes:
  torch-step  one training step (forward, cross-entropy, backward, Adam) on one fixed in-memory
              batch, `--steps` timed steps per repetition
  torch-e2e   the same step fed by a DataLoader reading the JPEGs (PIL decode, crop to the grown
              face box, BILINEAR resize, /255) with one loader process per core
  sgemm       a 4096 x 4096 float32 matrix product (torch.mm): the multiply ceiling of the cores

The net follows Appendix C as bench/keras_train.py builds it in Keras, with Keras' defaults where
PyTorch's differ: 'valid' 3x3 convolutions, batch norm epsilon 1e-3 and momentum 0.01 (Keras
0.99), Adam with learning rate 0.001 and epsilon 1e-7. Threads = cores (torch.set_num_threads).
Each ready reply carries the step's floating-point operations per image, counted by
torch.utils.flop_counter over one forward + backward (matrix products and convolutions, 2 per
multiply-add), so the orchestrator can print GFLOP/s and the share of the sgemm ceiling.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Callable

# the protocol and the crop rule are keras_train's (it imports TensorFlow only where it uses it)
from keras_train import CLASSES, crop_region, read_list, reply, serve

MODE = "torch"


def log(message: str) -> None:
    print(f"[{MODE}] {message}", file=sys.stderr, flush=True)


def build_model(size: int):  # -> torch.nn.Module
    """Appendix C, layer for layer, in the order bench/keras_train.py's build_model has them."""
    from torch import nn

    def bn2d(channels: int) -> nn.Module:
        return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)

    def bn1d(features: int) -> nn.Module:
        return nn.BatchNorm1d(features, eps=1e-3, momentum=0.01)

    side = size
    for _ in range(4):
        side = (side - 2) // 2
    return nn.Sequential(
        nn.Conv2d(3, 64, 3),
        nn.ReLU(),
        bn2d(64),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3),
        nn.Dropout(0.3),
        nn.ReLU(),
        bn2d(128),
        nn.MaxPool2d(2),
        nn.Conv2d(128, 256, 3),
        nn.ReLU(),
        bn2d(256),
        nn.MaxPool2d(2),
        nn.Conv2d(256, 256, 3),
        nn.ReLU(),
        bn2d(256),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(256 * side * side, 128),
        nn.ReLU(),
        bn1d(128),
        nn.Dropout(0.25),
        nn.Linear(128, 64),
        nn.ReLU(),
        bn1d(64),
        nn.Linear(64, CLASSES),
    )


class Trainer:
    """The model, its optimizer and one training step, channels_last."""

    def __init__(self, size: int) -> None:
        import torch

        torch.manual_seed(1)
        self.model = build_model(size).to(memory_format=torch.channels_last)
        self.model.train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.001, eps=1e-7)
        self.loss = torch.nn.CrossEntropyLoss()

    def step(self, x, y) -> float:
        import torch

        x = x.contiguous(memory_format=torch.channels_last)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def flops_per_image(self, x, y) -> float:
        """Floating-point operations of one forward + backward, per image (no optimizer)."""
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            loss = self.loss(self.model(x.contiguous(memory_format=torch.channels_last)), y)
            loss.backward()
        self.optimizer.zero_grad(set_to_none=True)
        return counter.get_total_flops() / x.shape[0]


class TorchStep:
    def __init__(self, args: argparse.Namespace) -> None:
        import torch

        self.steps = args.steps
        self.batch = args.batch
        self.trainer = Trainer(args.size)
        generator = torch.Generator().manual_seed(1)
        self.x = torch.rand((args.batch, 3, args.size, args.size), generator=generator)
        self.y = torch.randint(0, CLASSES, (args.batch,), generator=generator)
        self.flops = self.trainer.flops_per_image(self.x, self.y)
        self.trainer.step(self.x, self.y)

    def measure(self) -> dict[str, Any]:
        started = time.perf_counter()
        loss = float("nan")
        for _ in range(self.steps):
            loss = self.trainer.step(self.x, self.y)
        return {"images": self.steps * self.batch, "seconds": time.perf_counter() - started, "loss": loss}


class FaceImages:
    """The listed JPEGs as a map-style dataset: (float32 CHW in [0,1], label)."""

    def __init__(self, items: list[dict[str, Any]], size: int, margin: float) -> None:
        self.items = items
        self.size = size
        self.margin = margin

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        import numpy as np
        import torch
        from PIL import Image

        item = self.items[index]
        with Image.open(item["path"]) as image:
            image = image.convert("RGB")
            region = crop_region(item["box"], self.margin, image.width, image.height)
            resized = image.crop(region).resize((self.size, self.size), Image.Resampling.BILINEAR)
        pixels = torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy())
        return pixels.permute(2, 0, 1).float().div_(255.0), int(item["label"])


class TorchFit:
    """The step fed by a DataLoader (shuffled, one worker per core, prefetching): files to weights."""

    def __init__(self, args: argparse.Namespace) -> None:
        import torch
        from torch.utils.data import DataLoader

        items = read_list(args.list)
        self.steps = args.steps
        self.batch = args.batch
        self.trainer = Trainer(args.size)
        loader = DataLoader(
            FaceImages(items, args.size, args.margin),
            batch_size=args.batch,
            shuffle=True,
            drop_last=True,
            num_workers=args.threads,
            persistent_workers=True,
            generator=torch.Generator().manual_seed(1),
        )
        self.batches = self.forever(loader)
        x, y = next(self.batches)
        self.trainer.step(x, y)

    @staticmethod
    def forever(loader):
        while True:
            yield from loader

    def measure(self) -> dict[str, Any]:
        started = time.perf_counter()
        loss = float("nan")
        for _ in range(self.steps):
            x, y = next(self.batches)
            loss = self.trainer.step(x, y)
        return {"images": self.steps * self.batch, "seconds": time.perf_counter() - started, "loss": loss}


class Sgemm:
    """C = A @ B for 4096 x 4096 float32: the cores' multiply ceiling as PyTorch's BLAS reaches it."""

    N = 4096

    def __init__(self, args: argparse.Namespace) -> None:
        import torch

        generator = torch.Generator().manual_seed(1)
        self.a = torch.rand((self.N, self.N), generator=generator)
        self.b = torch.rand((self.N, self.N), generator=generator)
        self.repeats = max(1, args.steps)
        torch.mm(self.a, self.b)

    def measure(self) -> dict[str, Any]:
        import torch

        started = time.perf_counter()
        for _ in range(self.repeats):
            torch.mm(self.a, self.b)
        seconds = time.perf_counter() - started
        flops = 2 * self.N**3 * self.repeats
        return {"images": self.repeats, "seconds": seconds, "gflops": flops / seconds / 1e9}


WORKERS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "torch-step": TorchStep,
    "torch-e2e": TorchFit,
    "sgemm": Sgemm,
}


def main() -> None:
    global MODE
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=sorted(WORKERS))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--margin", type=float, default=0.1)
    parser.add_argument("--list", help="image list JSON written by bench/train.ts (torch-e2e)")
    args = parser.parse_args()
    MODE = args.mode
    if args.mode == "torch-e2e" and not args.list:
        parser.error("torch-e2e needs --list")

    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    worker = WORKERS[args.mode](args)
    warm_up = time.perf_counter() - started
    log(f"ready after {warm_up:.1f} s")
    ready: dict[str, Any] = {
        "ready": True,
        "warmUpSeconds": warm_up,
        "versions": {"torch": torch.__version__, "torchThreads": str(torch.get_num_threads())},
    }
    if isinstance(worker, TorchStep):
        ready["flopsPerImage"] = worker.flops
    reply(ready)
    serve(worker)


if __name__ == "__main__":
    main()
