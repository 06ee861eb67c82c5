"""Data-parallel MA-REINFORCE with torch.distributed: torchrun set-up and a local multi-process launcher.

Under torchrun (``WORLD_SIZE`` > 1 in the environment) :func:`init_distributed` joins the process group
(gloo on CPU, nccl on CUDA) and :meth:`agents.MAReinforce.fit` wraps the episode in
DistributedDataParallel: each rank plays its shard of every epoch's rows, gradients are averaged by DDP,
so the parameters stay identical on all ranks. :func:`spawn_fit` runs the same thing in local processes
without torchrun (used by the tests).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from masimu_env.config import check_int


def _env_int(name: str, default: int, minimum: int) -> int:
    """The integer in environment variable ``name`` (``default`` when unset), or a ValueError naming the variable
    (torchrun sets these; 'abc' or '' used to fail in int() unnamed, and WORLD_SIZE=-3 ran silently as one process)."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"environment variable {name}={text!r} is not an integer (torchrun sets it; unset it to "
                         "train in one process).") from None
    if value < minimum:
        raise ValueError(f"environment variable {name}={value} must be >= {minimum}.")
    return value


def init_distributed(backend: str | None = None, device: str = "cpu") -> tuple[int, int]:
    """Join the process group described by torchrun's environment variables, if any.

    Args:
        backend: 'gloo' or 'nccl'; default nccl when ``device`` is a CUDA device, else gloo. The backend
            follows where the gradients live, not whether the machine has a GPU: nccl cannot reduce CPU tensors.
        device: the training device (``AgentConfig.device``).

    Returns:
        (rank, world_size); (0, 1) when not launched by torchrun.
    """
    world = _env_int("WORLD_SIZE", 1, minimum=1)
    if world == 1:
        return 0, 1
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.device(device).type == "cuda" else "gloo")
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def rank_device(device: str) -> str:
    """``device`` for this torchrun rank: a bare 'cuda' becomes 'cuda:LOCAL_RANK' (one GPU per process), which is
    also made the process's current CUDA device (``torch.cuda.set_device``), as nccl expects."""
    if device == "cuda" and _env_int("WORLD_SIZE", 1, minimum=1) > 1:
        local = _env_int("LOCAL_RANK", 0, minimum=0)
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return device


def cleanup_distributed(wait: bool = False) -> None:
    """Leave the process group if this process joined one.

    Args:
        wait: first wait for every rank to get here (a barrier). Pass it when the run ended normally: a rank that
            leaves while another still works (rank 0 evaluating and writing the outputs) could abort in gloo's
            teardown ("terminate called without an active exception"). Not after an error, where the other ranks
            may never arrive (torchrun stops them).
    """
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def _spawn_worker(rank: int, world_size: int, init_file: str, config: dict[str, Any], dataset: str,
                  indices: list[int] | None, epochs: int, out_dir: str) -> None:
    from masimu_env import datasets

    from .learner import MAReinforce

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        torch.set_num_threads(1)
        train = datasets.load(dataset, split="train")
        model = MAReinforce(config, train.num_classes, train.image_shape)
        model.fit(train, epochs=epochs, indices=indices, progress=False)
        torch.save(model.net.state_dict(), Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def spawn_fit(world_size: int, config: dict[str, Any], dataset: str, out_dir: str | os.PathLike,
              epochs: int = 1, indices: list[int] | None = None) -> list[Path]:
    """Train one model data-parallel in ``world_size`` local CPU processes (gloo) and save each rank's weights.

    Args:
        world_size: number of processes.
        config: AgentConfig fields as a dict.
        dataset: a name for :func:`masimu_env.datasets.load` (its train split).
        out_dir: where ``rank{r}.pt`` (the network state dict of rank r after training) is written.
        epochs: epochs to train.
        indices: training rows (default all).

    Returns:
        The ``world_size`` state-dict paths, rank order.
    """
    world_size = check_int(world_size, "world_size", 1)  # 0 returned [] and trained nothing
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    init_file = out / "dist_init"
    if init_file.exists():
        raise FileExistsError(f"'{init_file}' exists from an earlier run; use a fresh out_dir.")
    torch.multiprocessing.spawn(_spawn_worker, nprocs=world_size, join=True,
                                args=(world_size, str(init_file.resolve()), config, dataset, indices, epochs, str(out)))
    return [out / f"rank{r}.pt" for r in range(world_size)]
