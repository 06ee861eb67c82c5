"""Writing files safely and plainly: NumPy scalars as Python numbers (for JSON and ``torch.load(weights_only=True)``),
and atomic writes (a temporary file renamed over the target), shared by every package of masimu."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch


def python_numbers(value: Any) -> Any:
    """``value`` with every NumPy scalar inside dicts, lists and tuples replaced by the Python number it holds.

    ``torch.load(weights_only=True)`` refuses NumPy scalar objects, and they slip into checkpoints easily: a
    learning rate set from a NumPy schedule, a metric computed with ``np.mean``. Tensors and everything else
    pass through unchanged.

    >>> python_numbers({"lr": np.float64(0.5), "steps": [np.int64(3)]})
    {'lr': 0.5, 'steps': [3]}
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: python_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(python_numbers(v) for v in value)
    return value


def _new_temp_file(path: Path) -> Path:
    """Create an empty, uniquely named file next to ``path`` with mode 0o666, which the kernel narrows by the current
    umask and default ACLs as it does for ``open`` (``mkstemp`` makes files owner-only 0o600)."""
    for _ in range(100):
        name = path.parent / f".{path.stem}.{secrets.token_hex(8)}.tmp{path.suffix}"
        try:
            os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return name
    raise FileExistsError(f"could not create a unique temporary file next to '{path}'.")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path next to ``path`` (same suffix, so writers that go by it still work) that replaces ``path``
    when the block ends without an error; after an error it is removed and ``path`` is left as it was, so a crash or
    a full disk never leaves a truncated file in place of a good one. The file gets the permissions a plain ``open``
    would give it (those of the file it replaces, else what the umask leaves of 0o666), not mkstemp's owner-only
    0o600."""
    path = Path(path)
    tmp = _new_temp_file(path)  # a unique name per call (threads of one process too), with the target's suffix
    try:
        yield tmp
        try:
            os.chmod(tmp, path.stat().st_mode & 0o7777)  # a replaced file keeps the mode its owner gave it
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """``Path(path).write_text(text)`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_figure_atomically(fig: Any, path: str | os.PathLike, dpi: int = 110) -> None:
    """``fig.savefig(path)`` (a matplotlib figure) through :func:`atomic_path`, in the format ``path``'s suffix names
    (PNG without one): the temporary name ends in its own suffix, which matplotlib would otherwise go by."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=Path(path).suffix[1:] or "png")


def save_atomically(obj: Any, path: str | os.PathLike, save: Callable[[Any, Path], None] = torch.save) -> None:
    """``save(obj, path)`` (default ``torch.save``) through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        save(obj, tmp)
