"""Optional TensorBoard logging of the learner's per-epoch metrics (``pip install 'masimu[tensorboard]'``).

``MAReinforce.fit(..., callbacks=[TensorBoardLogger("runs/tb")])`` writes every number of each epoch's record
(train loss, reward, accuracy, log p_tau, path entropy, validation accuracy/loss, seconds) and the learning rate
as scalars at step = epoch; ``masimu train --tensorboard`` does the same into ``--out/tensorboard``. Then
``tensorboard --logdir runs/tb``.
"""

from __future__ import annotations

import numbers
import os
from typing import Any

import torch.distributed as dist

#: What to install, quoted by every error about the missing package.
INSTALL_HINT = "the tensorboard package: pip install 'masimu[tensorboard]' (or pip install tensorboard)."

#: Record keys that are bookkeeping, not curves.
_SKIP = ("epoch",)


def _group(key: str) -> str:
    """TensorBoard tag: val_* under val/, the time keys under time/, everything else under train/."""
    if key.startswith("val_"):
        return f"val/{key[4:]}"
    if key in ("seconds", "elapsed"):
        return f"time/{key}"
    return f"train/{key[6:] if key.startswith('train_') else key}"


class TensorBoardLogger:
    """An epoch callback for :meth:`agents.MAReinforce.fit` that writes the epoch's record to TensorBoard.

    Under ``torch.distributed`` only rank 0 writes, the record of its own shard, as the CSV/JSON history does. Use
    it as a context manager, or call :meth:`close`, to close the event file.

    Args:
        log_dir: the event-file folder (created if missing).

    Raises:
        ModuleNotFoundError: when the ``tensorboard`` package is not installed, with the install command.
    """

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ModuleNotFoundError:
            raise ModuleNotFoundError(f"TensorBoard logging needs {INSTALL_HINT}") from None
        self.log_dir = os.fspath(log_dir)
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        self._writer = SummaryWriter(self.log_dir) if rank == 0 else None

    def __call__(self, learner: Any, record: dict[str, Any]) -> bool:
        """Write ``record``'s numbers at step ``record['epoch']``; never asks ``fit`` to stop."""
        if self._writer is None:
            return False
        step = int(record["epoch"])
        for key, value in record.items():
            if key in _SKIP or isinstance(value, bool) or not isinstance(value, numbers.Real):
                continue
            self._writer.add_scalar(_group(key), float(value), step)  # a NaN is logged as NaN, not hidden
        if learner.optimizer is not None:
            self._writer.add_scalar("train/lr", float(learner.optimizer.param_groups[0]["lr"]), step)
        self._writer.flush()
        return False

    def close(self) -> None:
        """Flush and close the event file."""
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> "TensorBoardLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["TensorBoardLogger"]
