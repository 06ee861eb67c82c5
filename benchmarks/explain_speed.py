"""Seconds per image of the fast and the reference (lime package) LIME backends.

For 28x28 grey, 32x32 colour and 450x600 colour images it prints, at equal settings
(same num_samples, segmentation, batch_size, seed): seconds per image of lime and of the fast
backend on both of its paths -- incremental (the model's local leading layers run on 2**colours
probe images, see ``unlearning/explain/incremental.py``) and black-box (every perturbed image
through the whole model, as lime does) -- their ratios, the largest coefficient difference to
lime, each path's logit error against the model run in float64, and the model's own cost for
num_samples forward passes (a floor no black-box implementation can go below). It then times the
fast backend on a HAM10000-sized forget set (851 images) at reduced sizes.

    python benchmarks/explain_speed.py                 # full run, 1000 samples (several minutes)
    python benchmarks/explain_speed.py --quick         # fewer images, 300 samples
    MASIMU_REAL_DATA=../shared/data python benchmarks/explain_speed.py   # real HAM10000 jpgs

The classifier is a small CNN defined here (two strided convolutions, pooling, linear; an
``nn.Sequential``, so the incremental path applies), randomly initialised: LIME's cost does not
depend on what the model has learned.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from masimu_env.argtypes import positive_int
from unlearning.explain import ExplainConfig, explain
from unlearning.explain._inputs import perturbation_matrix
from unlearning.explain.incremental import incremental_logits, plan_for
from unlearning.explain.lime_fast import segment_means
from unlearning.explain.segmentation import segment_images


def small_cnn(channels: int, num_classes: int = 7) -> nn.Sequential:
    """(B, C, H, W) float in [0, 1] -> (B, num_classes) logits, any H, W >= 4."""
    return nn.Sequential(
        nn.Conv2d(channels, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(16 * 16, num_classes))


def smooth_images(count: int, channels: int, height: int, width: int, seed: int) -> torch.Tensor:
    """(count, C, H, W) uint8 blobs (upsampled noise), so SLIC/quickshift see structure."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand((count, channels, max(2, height // 8), max(2, width // 8)),
                        generator=generator)
    fine = nn.functional.interpolate(coarse, size=(height, width), mode="bilinear",
                                     align_corners=False)
    return (fine * 255).round().to(torch.uint8)


def ham_images(count: int, side: int) -> torch.Tensor | None:
    """First ``count`` HAM10000 jpgs under $MASIMU_REAL_DATA, resized to side x side, or None."""
    root = os.environ.get("MASIMU_REAL_DATA")
    if not root:
        return None
    paths = sorted(Path(root, "ham10000").glob("HAM10000_images_part_*/*.jpg"))[:count]
    if not paths:
        return None
    from PIL import Image

    arrays = [np.asarray(Image.open(p).convert("RGB").resize((side, side), Image.BILINEAR))
              for p in paths]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def seconds(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def model_floor(model: nn.Module, channels: int, height: int, width: int, num_samples: int,
                batch_size: int) -> float:
    """Seconds for num_samples forward passes in batches of batch_size (one image's worth)."""
    batch = torch.rand((min(batch_size, num_samples), channels, height, width))
    with torch.no_grad():
        model(batch)  # warm-up
        start = time.perf_counter()
        done = 0
        while done < num_samples:
            model(batch[:min(batch_size, num_samples - done)])
            done += batch_size
    return time.perf_counter() - start


class Float64(nn.Module):
    """The model evaluated in float64 on the float32 images LIME feeds it (not an nn.Sequential: black-box path)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).double()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images.double())


def logit_errors(model: nn.Sequential, images: torch.Tensor, config: ExplainConfig) -> tuple[float, float]:
    """Largest logit error of the incremental and the black-box path on the first image's perturbations, against
    the same model run in float64 (the black-box path does lime's float32 arithmetic)."""
    first = images[:1].to(torch.float64) / 255
    segments = segment_images(first.numpy(), config)
    count = int(segments.max()) + 1
    z = torch.from_numpy(perturbation_matrix(config.num_samples, count, config.seed)).bool()
    fill = segment_means(first, torch.from_numpy(segments), count)
    perturbed = torch.where(z[:, torch.from_numpy(segments[0]).reshape(-1)].view(-1, 1, *segments.shape[1:]),
                            first[0], fill[0])
    plan = plan_for(model, segments[0], config.num_samples)
    with torch.no_grad():
        truth = torch.cat([copy.deepcopy(model).double()(chunk) for chunk in perturbed.split(config.batch_size)])
        black_box = torch.cat([model(chunk.float()) for chunk in perturbed.split(config.batch_size)])
        incremental = incremental_logits(plan, first.float(), fill.float(), torch.from_numpy(segments[0]),
                                         z[None], config.batch_size)[0]
    return ((incremental.double() - truth).abs().max().item(), (black_box.double() - truth).abs().max().item())


def compare(name: str, channels: int, height: int, width: int, n_fast: int, n_reference: int,
            config: ExplainConfig, lime_default_batch: bool) -> None:
    torch.manual_seed(0)
    model = small_cnn(channels).eval()
    images = smooth_images(n_fast, channels, height, width, seed=height)
    black_box_config = dataclasses.replace(config, incremental=False)
    for warm in (config, black_box_config):  # the real settings: fewer samples would not plan the same path
        explain(model, images[:1], config=warm)

    fast_time, fast = seconds(lambda: explain(model, images, config=config))
    black_box_time, black_box = seconds(lambda: explain(model, images, config=black_box_config))
    reference_config = dataclasses.replace(config, backend="lime")
    reference_time, reference = seconds(
        lambda: explain(model, images[:n_reference], config=reference_config))
    fast_per_image = fast_time / n_fast
    black_box_per_image = black_box_time / n_fast
    reference_per_image = reference_time / n_reference
    scale = np.abs(reference.segment_coefs).max()
    difference = np.abs(fast.segment_coefs[:n_reference] - reference.segment_coefs).max()
    black_box_difference = np.abs(black_box.segment_coefs[:n_reference] - reference.segment_coefs).max()
    floor = model_floor(model, channels, height, width, config.num_samples, config.batch_size)
    plan = plan_for(model, segment_images(images[:1].to(torch.float64).numpy() / 255, config)[0], config.num_samples)
    incremental_error, black_box_error = logit_errors(model, images, config)
    exact = explain(Float64(model), images[:1], config=black_box_config).segment_coefs[0]
    exact_scale = np.abs(exact).max()
    print(f"{name:>16} | lime {reference_per_image:8.4f} s/img ({n_reference} imgs) | "
          f"fast {fast_per_image:8.4f} s/img ({n_fast} imgs), ratio {reference_per_image / fast_per_image:6.1f}x, "
          f"max |diff| {difference:.2e} (rel {difference / scale:.1e}) | "
          f"fast black-box {black_box_per_image:8.4f} s/img, ratio {reference_per_image / black_box_per_image:6.1f}x, "
          f"max |diff| {black_box_difference:.2e} (rel {black_box_difference / scale:.1e})", flush=True)
    print(f"{'':>16} | {plan.describe() if not isinstance(plan, str) else 'black-box only: ' + plan}", flush=True)
    print(f"{'':>16} | logit error against the model in float64: incremental {incremental_error:.1e}, "
          f"black-box and lime (float32) {black_box_error:.1e}; coefficient error against LIME of the float64 "
          f"model (first image, relative): incremental {np.abs(fast.segment_coefs[0] - exact).max() / exact_scale:.1e}, "
          f"lime {np.abs(reference.segment_coefs[0] - exact).max() / exact_scale:.1e}", flush=True)
    print(f"{'':>16} | black-box model floor {floor:.4f} s/img (num_samples forward passes) | overhead beyond it: "
          f"lime {reference_per_image - floor:.4f}, fast black-box {black_box_per_image - floor:.4f} s/img "
          f"({(reference_per_image - floor) / max(black_box_per_image - floor, 1e-9):.0f}x less) | "
          f"largest possible black-box ratio (lime / floor): {reference_per_image / floor:.1f}x", flush=True)
    if lime_default_batch:
        default_config = dataclasses.replace(reference_config, batch_size=10)
        default_time, _ = seconds(lambda: explain(model, images[:n_reference],
                                                  config=default_config))
        print(f"{'':>16} | lime with its default batch_size=10: "
              f"{default_time / n_reference:.4f} s/img, "
              f"ratio {default_time / n_reference / fast_per_image:.1f}x", flush=True)


def forget_set_timing(sides: list[int], count: int, measured: int, config: ExplainConfig) -> None:
    for side in sides:
        model = small_cnn(3).eval()
        images = ham_images(measured, side)
        source = "HAM10000 jpgs" if images is not None else "synthetic"
        if images is None:
            images = smooth_images(measured, 3, side, side, seed=side)
        distinct = len(images)
        if distinct < measured:  # the sample holds fewer photos than the forget set: cycle through them
            images = images[torch.arange(measured) % distinct]
            source += f", {distinct} distinct cycled"
        elapsed, _ = seconds(lambda: explain(model, images, config=config))
        per_image = elapsed / len(images)
        total = per_image * count
        how = "measured" if len(images) >= count else f"extrapolated from {len(images)} explained"
        print(f"forget set {count} x {side}x{side} ({source}, grid "
              f"{config.grid_for(side, side)}): {per_image:.4f} s/img -> {total:.1f} s total, {how} "
              f"({'<' if total < 600 else '>='} 10 min target)", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-samples", type=positive_int, default=None,
                        help="perturbation samples per image (default 1000; 300 with --quick)")
    parser.add_argument("--batch-size", type=positive_int, default=500)
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer images, 300 samples")
    parser.add_argument("--forget-count", type=positive_int, default=851)
    parser.add_argument("--forget-sides", type=positive_int, nargs="+", default=[64, 128])
    parser.add_argument("--forget-measured", type=positive_int, default=None,
                        help="images actually explained per size (the sample's photos are cycled to reach it); "
                             "the total is extrapolated when this is below --forget-count "
                             "(default: --forget-count, a quarter of it with --quick)")
    args = parser.parse_args(argv)
    if args.quick and args.num_samples is not None:
        parser.error("--quick sets 300 samples; drop --num-samples, or --quick.")
    num_samples = (300 if args.quick else 1000) if args.num_samples is None else args.num_samples
    if num_samples < 2:
        parser.error("--num-samples must be >= 2 (the unperturbed image plus at least one perturbation).")
    if args.forget_measured is not None and args.forget_measured > args.forget_count:
        parser.error(f"--forget-measured {args.forget_measured} is more than --forget-count {args.forget_count}.")
    scale = 4 if args.quick else 1
    measured = args.forget_measured if args.forget_measured is not None else max(1, args.forget_count // scale)
    torch.set_num_threads(args.threads)
    config = ExplainConfig(num_samples=num_samples, batch_size=args.batch_size)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}, num_samples {num_samples}, "
          f"batch_size {args.batch_size}, default grid segmentation", flush=True)
    compare("28x28 grey", 1, 28, 28, 128 // scale, 8 // scale, config, lime_default_batch=True)
    compare("32x32 colour", 3, 32, 32, 128 // scale, 8 // scale, config, lime_default_batch=True)
    compare("450x600 colour", 3, 450, 600, 4 // min(scale, 2), 2 // min(scale, 2),
            dataclasses.replace(config, batch_size=min(args.batch_size, 100)),
            lime_default_batch=False)
    forget_set_timing(args.forget_sides, args.forget_count, measured, config)


if __name__ == "__main__":
    main()
