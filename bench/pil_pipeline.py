"""PIL side of `npm run bench:pipeline`: the same work as affectlab's cold pipeline.

Per image: decode the JPEG, crop to the face box grown by --margin per side (floor/ceil, clamped:
affectlab's cropRegion), resize to --size x --size with PIL's BILINEAR filter (the filter
affectlab's sharp pipeline uses: kernel 'linear'), /255 into a float32 NHWC batch of --batch.
With --draft, a JPEG whose crop is at least twice --size on both axes is first decoded at 1/2,
1/4 or 1/8 scale (Image.draft: libjpeg's DCT scaling, PIL's counterpart of sharp's shrink-on-load)
and the crop box, scaled to the drafted image, is resized with BILINEAR (resize(box=...), so the
crop stays sub-pixel exact).

  --mode threads    one process, a thread pool of --workers (PIL releases the GIL in decode/resize)
  --mode processes  --workers processes, each filling whole batches of its own share of the list

Prints one JSON line: {"images", "seconds", "imagesPerSecond"}. --dump FILE writes the uint8
pixels of the first --dump-count images (HWC, concatenated) for the pixel-difference check.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image


def crop_region(box: list[float], margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    x, y, w, h = box
    left = max(0, math.floor(x - margin * w))
    top = max(0, math.floor(y - margin * h))
    right = min(width, math.ceil(x + w * (1 + margin)))
    bottom = min(height, math.ceil(y + h * (1 + margin)))
    return left, top, max(left + 1, right), max(top + 1, bottom)


DRAFT = False


def load_uint8(item: dict[str, Any], size: int, margin: float) -> np.ndarray:
    with Image.open(item["path"]) as image:
        region = crop_region(item["box"], margin, image.width, image.height)
        shrink = min(region[2] - region[0], region[3] - region[1]) / size
        if DRAFT and shrink >= 2 and image.format == "JPEG":
            # DCT-domain scaling by the largest of 1/2, 1/4, 1/8 that keeps the crop >= size
            scale = 8 if shrink >= 8 else 4 if shrink >= 4 else 2
            full = image.size
            image.draft("RGB", (full[0] // scale, full[1] // scale))
            sx, sy = full[0] / image.width, full[1] / image.height
            box = (region[0] / sx, region[1] / sy, region[2] / sx, region[3] / sy)
            resized = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR, box=box)
        else:
            resized = image.convert("RGB").crop(region).resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(resized)


def run_batches(items: list[dict[str, Any]], size: int, margin: float, batch: int, pool) -> int:
    images = 0
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        x = np.empty((len(chunk), size, size, 3), dtype=np.float32)

        def fill(i: int) -> None:
            np.multiply(load_uint8(chunk[i], size, margin), 1 / 255, out=x[i], dtype=np.float32)

        if pool is None:
            for i in range(len(chunk)):
                fill(i)
        else:
            list(pool.map(fill, range(len(chunk))))
        images += x.shape[0]
    return images


def shard_worker(items, size, margin, batch, barrier, results) -> None:
    run_batches(items[:batch], size, margin, batch, None)  # warm-up
    barrier.wait()
    results.put(run_batches(items, size, margin, batch, None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--margin", type=float, default=0.1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=mp.cpu_count())
    parser.add_argument("--mode", choices=["threads", "processes"], default="threads")
    parser.add_argument("--dump")
    parser.add_argument("--dump-count", type=int, default=32)
    parser.add_argument("--draft", action="store_true", help="JPEG draft mode (DCT scaling) when the crop is >= 2x --size")
    args = parser.parse_args()
    global DRAFT
    DRAFT = args.draft
    with open(args.list, encoding="utf8") as handle:
        items = json.load(handle)

    if args.dump:
        with open(args.dump, "wb") as out:
            for item in items[: args.dump_count]:
                out.write(load_uint8(item, args.size, args.margin).tobytes())

    if args.mode == "threads":
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            run_batches(items[: args.batch], args.size, args.margin, args.batch, pool)
            started = time.perf_counter()
            images = run_batches(items, args.size, args.margin, args.batch, pool)
            seconds = time.perf_counter() - started
    else:
        shards = [items[i :: args.workers] for i in range(args.workers)]
        barrier = mp.Barrier(args.workers + 1)
        results: mp.Queue = mp.Queue()
        procs = [
            mp.Process(target=shard_worker, args=(s, args.size, args.margin, args.batch, barrier, results))
            for s in shards
        ]
        for p in procs:
            p.start()
        barrier.wait()
        started = time.perf_counter()
        images = sum(results.get() for _ in procs)
        seconds = time.perf_counter() - started
        for p in procs:
            p.join()
    print(json.dumps({"images": images, "seconds": seconds, "imagesPerSecond": images / seconds}))


if __name__ == "__main__":
    main()
