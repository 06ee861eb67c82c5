"""On-disk cache of LIME explanations, keyed by what determines them.

Key = sha256 over: the model (class name plus every state_dict entry's name, dtype,
shape and bytes, extra state included), the images as passed (dtype, shape, bytes: the dataset content and the
chosen indices), the explicit labels (or "predicted"), and every ``ExplainConfig`` field
except ``batch_size`` and ``incremental`` (which change only float rounding). A changed weight, image,
index, label or setting therefore misses. Only the ``state_dict`` keys the model: a model whose output also depends
on plain attributes must return them from ``get_extra_state`` (the multi-agent adapter returns its learner's
config), or the cache folder must be cleared when they change. A callable segmentation is keyed by its module,
qualified name and a hash of its code, positional and keyword-only defaults; the globals it reads and the helpers it
calls are not covered (a closure or a callable object is keyed by its repr, per process).

Writes are atomic (temporary file in the same folder, then ``os.replace``), so a crashed
or concurrent writer never leaves a half-written entry under the final name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
import zlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from masimu_env.serialization import atomic_path

from .config import ExplainConfig

_FORMAT_VERSION = 2  # 2: entries carry compute_seconds


def _update_with_tensor(digest: "hashlib._Hash", tensor: Tensor) -> None:
    tensor = tensor.detach().cpu().contiguous()
    digest.update(f"{tensor.dtype}|{tuple(tensor.shape)}|".encode())
    # A byte view works for every dtype (bfloat16 and bool included).
    digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())


def model_fingerprint(model: nn.Module) -> str:
    """sha256 hex digest of the model's class and state_dict (parameters and buffers)."""
    digest = hashlib.sha256()
    digest.update(f"{type(model).__module__}.{type(model).__qualname__}|".encode())
    for name, value in sorted(model.state_dict().items()):
        digest.update(f"{name}|".encode())
        if isinstance(value, Tensor):
            _update_with_tensor(digest, value)
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


def images_fingerprint(images: Tensor | np.ndarray) -> str:
    """sha256 hex digest of an image batch exactly as passed (dtype, shape, bytes)."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    digest = hashlib.sha256()
    _update_with_tensor(digest, images)
    return digest.hexdigest()


def _config_description(config: ExplainConfig) -> dict:
    fields = dataclasses.asdict(config)
    fields.pop("batch_size")   # batch size and the evaluation path change float rounding only
    fields.pop("incremental")
    segmentation = config.segmentation
    if callable(segmentation):
        fields["segmentation"] = _callable_identity(segmentation)
    return fields


def _callable_identity(fn: Any) -> str:
    """What a segmentation callable is, the same in every process: its module, qualified name and a hash of its code,
    nested code objects (generator expressions, inner functions) included without their addresses. Its repr held a
    memory address, so no rerun hit the cache. A closure, a bound method or an object with ``__call__`` carries state
    that code alone does not pin down, so those keep their repr (correct, but cached per process only)."""
    code = getattr(fn, "__code__", None)
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"
    if code is None or getattr(fn, "__closure__", None) or hasattr(fn, "__self__"):
        return f"{name}|{fn!r}"
    digest = hashlib.sha256()
    _hash_code(digest, code)
    digest.update(repr(getattr(fn, "__defaults__", None)).encode())
    digest.update(repr(sorted((getattr(fn, "__kwdefaults__", None) or {}).items())).encode())
    return f"{name}|{digest.hexdigest()[:16]}"


def _hash_code(digest: "hashlib._Hash", code: Any) -> None:
    """Feed ``code``'s bytecode, names and constants into ``digest``, recursing into nested code objects."""
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for constant in code.co_consts:
        if hasattr(constant, "co_code"):
            _hash_code(digest, constant)
        else:
            digest.update(repr(constant).encode())


def cache_key(model: nn.Module, images: Tensor | np.ndarray, labels: np.ndarray | None,
              config: ExplainConfig) -> str:
    """sha256 hex key of one explanation request (see the module docstring)."""
    description = {
        "version": _FORMAT_VERSION,
        "model": model_fingerprint(model),
        "images": images_fingerprint(images),
        "labels": "predicted" if labels is None else np.asarray(labels, np.int64).tolist(),
        "config": _config_description(config),
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def load_entry(cache_dir: str | os.PathLike, key: str) -> dict[str, np.ndarray] | None:
    """The arrays stored under ``key``, or None on a miss.

    An unreadable entry (e.g. a disk filled mid-copy by another tool) is reported with a
    warning and treated as a miss; it is overwritten by the next ``store_entry``.
    """
    path = Path(cache_dir) / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:  # .npz entries are zip files
        warnings.warn(f"Ignoring unreadable LIME cache entry {path}: {error}", stacklevel=2)
        return None


def store_entry(cache_dir: str | os.PathLike, key: str, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` under ``key`` atomically; returns the entry's path."""
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{key}.npz"
    with atomic_path(final) as temporary:  # its temp name ends in .npz, so np.savez writes it as given
        np.savez(temporary, **arrays)
    return final
