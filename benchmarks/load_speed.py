"""Images per second for loading the JPEG datasets (resisc45, ham10000): decoded lazily vs. cached.

For each dataset and image size it reads every image present (files are read once beforehand, so
"cold" means decoding JPEG bytes from the OS page cache, not a cold disk):
  per-item     ds[i] one at a time, decoding each JPEG on the calling thread (first 200 images)
  batched      ds.get_batch(...) in batches, decoding JPEGs on a thread pool
  cache-build  first load(..., cache_dir=fresh folder): decode everything once into a .npy
  cached       a batched pass over the memory-mapped cache of a second load(..., cache_dir=same folder)
  load-s       seconds the second (cached) load() call took (file listing, CSV, split; no decoding)

Usage:
    python benchmarks/load_speed.py [--root DATA] [--sizes native 64] [--batch-size 64]
DATA holds resisc45/ and ham10000/ sub-folders (default: $MASIMU_REAL_DATA, then $MASIMU_DATA).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from masimu_env.datasets import load

DATASETS = {"resisc45": {}, "ham10000": {"missing": "skip"}}


def _pass(ds, batch_size: int) -> None:
    for start in range(0, len(ds), batch_size):
        ds.get_batch(np.arange(start, min(len(ds), start + batch_size)))


def bench(name: str, root: Path, image_size: int | None, batch_size: int) -> dict[str, float]:
    kw = DATASETS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ham10000 sample: "skipped N rows whose image file is missing"
        lazy = load(name, root=root, split="all", image_size=image_size, **kw)
        n = len(lazy)
        for path in lazy.sources:  # warm the page cache so every column decodes from memory
            Path(path).read_bytes()
        per_item_n = min(n, 200)
        t = time.perf_counter()
        for i in range(per_item_n):
            lazy[i]
        per_item = per_item_n / (time.perf_counter() - t)
        t = time.perf_counter()
        _pass(lazy, batch_size)
        batched = n / (time.perf_counter() - t)
        with tempfile.TemporaryDirectory(prefix="masimu-bench-") as cache:
            t = time.perf_counter()
            load(name, root=root, split="all", image_size=image_size, cache_dir=cache, **kw)
            build = n / (time.perf_counter() - t)
            t = time.perf_counter()
            cached_ds = load(name, root=root, split="all", image_size=image_size, cache_dir=cache, **kw)
            load_s = time.perf_counter() - t
            t = time.perf_counter()
            _pass(cached_ds, batch_size)
            cached = n / (time.perf_counter() - t)
            cache_mb = sum(f.stat().st_size for f in Path(cache).glob("*.npy")) / 2**20
    return {"n": n, "per_item": per_item, "batched": batched, "build": build, "cached": cached, "load_s": load_s,
            "shape": "x".join(map(str, lazy.image_shape)), "cache_mb": cache_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None, help="folder holding resisc45/ and ham10000/")
    parser.add_argument("--sizes", nargs="+", default=["native", "64"], help="'native' and/or ints")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args()
    root = args.root or os.environ.get("MASIMU_REAL_DATA") or os.environ.get("MASIMU_DATA")
    if root is None:
        parser.error("pass --root or set MASIMU_REAL_DATA / MASIMU_DATA to the folder holding resisc45/ and ham10000/")
    root = Path(root)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1; got {args.batch_size}.")
    bad = [s for s in args.sizes if s != "native" and not (s.isdigit() and int(s) > 0)]
    if bad:
        parser.error(f"--sizes takes 'native' and/or positive ints; got {bad}.")
    sizes = [None if s == "native" else int(s) for s in args.sizes]
    print(f"# masimu dataset load speed, images/s ({platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, batch {args.batch_size})")
    print(f"{'dataset':10} {'size':>8} {'n':>6} {'shape':>11} {'per-item':>10} {'batched':>10} "
          f"{'cache-build':>11} {'cached':>10} {'load-s':>7} {'cache MB':>9}")
    for name in args.datasets:
        for size in sizes:
            r = bench(name, root / name, size, args.batch_size)
            print(f"{name:10} {str(size or 'native'):>8} {r['n']:>6} {r['shape']:>11} {r['per_item']:10.1f} "
                  f"{r['batched']:10.1f} {r['build']:11.1f} {r['cached']:10.1f} "
                  f"{r['load_s']:7.3f} {r['cache_mb']:9.1f}")


if __name__ == "__main__":
    main()
