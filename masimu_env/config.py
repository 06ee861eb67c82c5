"""SimConfig: the one validated configuration of the image-patch navigation environment."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

GRAPHS = ("complete", "ring", "line", "star", "none")
REWARD_LOSSES = ("mse", "ce")
ACTION_MODES = ("dict", "multidiscrete")
RENDER_MODES = (None, "rgb_array", "human")

#: Paper §5 defaults by image size: MNIST-sized images use 3 agents, 5 steps, window 6;
#: RESISC-45 / HAM10000 use 16 agents, 16 steps, window 12. The 8x8 ``digits`` are too small
#: for a 6-pixel window to leave room to move, so they get window 4.
PAPER_DEFAULTS: dict[str, dict[str, int]] = {
    "digits": dict(n_agents=3, n_steps=5, window=4),
    "mnist": dict(n_agents=3, n_steps=5, window=6),
    "cifar10": dict(n_agents=3, n_steps=5, window=6),
    "resisc45": dict(n_agents=16, n_steps=16, window=12),
    "ham10000": dict(n_agents=16, n_steps=16, window=12),
}


def defaults_for(dataset: str | None = None, image_side: int | None = None) -> dict[str, int]:
    """Paper defaults for a dataset name, else by image size (<= 16 px: digits; <= 32 px: MNIST-like; larger:
    high-res)."""
    if dataset in PAPER_DEFAULTS:
        return dict(PAPER_DEFAULTS[dataset])  # type: ignore[index]
    if image_side is not None and image_side <= 16:
        return dict(PAPER_DEFAULTS["digits"])
    if image_side is not None and image_side > 32:
        return dict(PAPER_DEFAULTS["ham10000"])
    return dict(PAPER_DEFAULTS["mnist"])


def _is_int(value: Any) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A real number (Python or NumPy; int or float), not a bool: the type test of every numeric setting."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_seed(value: Any) -> bool:
    """A valid seed: a Python or NumPy integer in [0, 2**63), the range torch.Generator.manual_seed accepts."""
    return _is_int(value) and 0 <= value < 2**63


def check_int(value: Any, name: str, minimum: int = 0, *, below: int | None = None, optional: bool = False,
              why: str = "") -> int | None:
    """``value`` as a Python int; a ValueError naming ``name`` (and ``why`` the bound is what it is, in brackets)
    unless it is an integer (Python or NumPy, not a bool) >= ``minimum`` (and < ``below`` when given), or None when
    ``optional``. Configs store the returned Python int, so a NumPy integer (e.g. from a ``np.arange`` sweep) still
    serialises to JSON and hashes like the same Python int."""
    if value is None and optional:
        return None
    if not _is_int(value) or value < minimum or (below is not None and value >= below):
        kind = f"an int >= {minimum}" if below is None else f"an int in [{minimum}, {_bound(below)})"
        expected = f"None or {kind}" if optional else kind
        reason = f" ({why})" if why else ""
        raise ValueError(f"{name} must be {expected}{reason}; got {value!r}.")
    return int(value)


def _bound(value: int) -> str:
    """``2**63`` rather than 9223372036854775808 in messages."""
    return "2**63" if value == 2**63 else str(value)


def check_seed(value: Any, name: str, *, optional: bool = False) -> int | None:
    """``value`` as a Python int; a ValueError naming ``name`` unless :func:`is_seed` (or None when ``optional``)."""
    return check_int(value, name, 0, below=2**63, optional=optional)


class UnknownSettingError(TypeError, ValueError):
    """A keyword that names no field of a config (a typo): a TypeError like Python's for an unexpected keyword
    argument, and a ValueError as the configs raised before, so either ``except`` catches it."""


class IndexDtypeError(TypeError, ValueError):
    """Row indices that are not integers (floats would truncate 1.7 to row 1; a boolean mask would read as rows 0
    and 1). Both a TypeError and a ValueError, so either ``except`` catches it."""


class IndexRangeError(IndexError, ValueError):
    """Row indices outside [0, n). Both an IndexError and a ValueError (as numpy's ``AxisError``)."""


def check_indices(values: Any, n: int | None, name: str, *, size_name: str = "", flat: bool = True) -> np.ndarray:
    """``values`` (a sequence, array or tensor of row numbers) as an int64 NumPy array of indices into ``n`` rows.

    The one check of indices into a dataset or a split: :class:`IndexDtypeError` unless the values are integers (bools
    and floats are refused, never cast), :class:`IndexRangeError` unless each lies in [0, n) (>= 0 when ``n`` is None:
    indices into a dataset this code does not see), and, unless ``flat``
    (which flattens), a ValueError unless the array is 1-D. Every message names ``name``; ``size_name`` says what
    ``n`` is (e.g. "the dataset's size"). Empty input is returned empty; callers that need rows check the size.
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if flat:
        array = array.reshape(-1)
    elif array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of indices; got shape {array.shape}.")
    if array.size and (array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer)):
        hint = " (for a boolean mask pass np.flatnonzero(mask))" if array.dtype == np.bool_ else ""
        raise IndexDtypeError(f"{name} must be integers; got dtype {array.dtype}{hint}.")
    if array.size and (array.min() < 0 or (n is not None and array.max() >= n)):
        what = f" ({size_name})" if size_name else ""
        bound = f"lie in [0, {n}){what}" if n is not None else "be >= 0"
        raise IndexRangeError(f"{name} must {bound}; got range [{array.min()}, {array.max()}].")
    return array.astype(np.int64)


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> the string written under it in ``cls``'s source (its attribute docstring); {} without source."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):  # no source (e.g. a frozen application): no field docs, nothing else lost
        return {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    out: dict[str, str] = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            out[node.target.id] = " ".join(str(nxt.value.value).split())  # type: ignore[attr-defined]
    return out


def document_fields(cls: type) -> type:
    """Class decorator: append an ``Attributes:`` section built from the attribute docstrings, which Python itself
    discards, so ``help(SimConfig)`` and IDEs show what each field means."""
    import inspect

    docs = field_docs(cls)
    if docs:
        lines = "\n".join(f"    {name}: {text}" for name, text in docs.items())
        cls.__doc__ = f"{inspect.cleandoc(cls.__doc__ or '')}\n\nAttributes:\n{lines}\n"
    return cls


@document_fields
@dataclass(frozen=True)
class SimConfig:
    """Configuration of the environment and of its batched core."""

    n_agents: int = 3
    """N, agents sharing one image."""
    n_steps: int = 5
    """T, moves per episode; the reward comes after the T-th step."""
    window: int = 6
    """f, side of each agent's square view in pixels."""
    stride: int = 1
    """Pixels moved per up/down/left/right action (the paper moves one pixel)."""
    message_dim: int = 8
    """Length of the message vector each agent sends per step."""
    graph: Any = "complete"
    """Communication graph: a name in GRAPHS or an (N, N) 0/1 adjacency matrix (any array-like of numbers or bools),
    A[i, j] = 1 when i sends to j; a matrix is stored as a tuple of tuples of ints, so the config stays hashable."""
    reward_loss: Literal["mse", "ce"] = "mse"
    """L in r = -L(p_bar - e_i): 'mse' is -||p_bar - e_i||^2 (paper Eq. 3), 'ce' is log p_bar[i], floored at
    log(1e-12) = -27.63 so that a unanimous wrong vote gives a finite reward (its gradient is 0 below the floor)."""
    action_mode: Literal["dict", "multidiscrete"] = "dict"
    """'dict': move + message + class logits per agent; 'multidiscrete': MultiDiscrete([4, K]) move + class vote."""
    seed: int | None = None
    """Seed of the episode sampler (image choice and start positions); reset(seed=) overrides it."""
    render_mode: str | None = None
    """None, 'rgb_array' or 'human'."""
    device: str = "cpu"
    """Torch device of the core's tensors."""
    max_cycles: int | None = field(default=None)
    """Upper bound on env steps (PettingZoo convention). Below n_steps, an episode that reaches it is truncated:
    every agent gets ``truncations=True`` and reward 0, since the reward comes only after the n_steps-th step.
    None (the default) or >= n_steps: episodes always run their n_steps and terminate."""

    def __post_init__(self) -> None:
        for name, minimum in (("n_agents", 1), ("n_steps", 1), ("window", 1), ("stride", 1), ("message_dim", 0)):
            object.__setattr__(self, name, check_int(getattr(self, name), f"SimConfig.{name}", minimum))
        if self.reward_loss not in REWARD_LOSSES:
            raise ValueError(f"SimConfig.reward_loss must be one of {REWARD_LOSSES}; got {self.reward_loss!r}.")
        if self.action_mode not in ACTION_MODES:
            raise ValueError(f"SimConfig.action_mode must be one of {ACTION_MODES}; got {self.action_mode!r}.")
        if self.render_mode not in RENDER_MODES:
            raise ValueError(f"SimConfig.render_mode must be one of {RENDER_MODES}; got {self.render_mode!r}.")
        object.__setattr__(self, "seed", check_seed(self.seed, "SimConfig.seed", optional=True))
        object.__setattr__(self, "max_cycles", check_int(self.max_cycles, "SimConfig.max_cycles", 1,
                                                         optional=True))
        # a config may name a GPU this machine lacks (a checkpoint trained elsewhere, loaded with another device)
        check_device(self.device, "SimConfig.device", here=False)
        if not isinstance(self.graph, str):
            # stored as a tuple of tuples of ints: an array or list kept as given made the frozen config unhashable,
            # == ambiguous, and editable after validation (the simulator kept the old matrix)
            entries = np.asarray(self.graph, dtype=object)
            if entries.size and not all(isinstance(v, (int, float, np.number, np.bool_)) for v in entries.reshape(-1)):
                raise ValueError(f"SimConfig.graph must be one of {GRAPHS} or an (N, N) matrix of 0/1 numbers (or bools); "
                                 f"got {self.graph!r}.")
        self.adjacency()  # validates the graph
        if not isinstance(self.graph, str):
            matrix = self.adjacency().to(torch.int64).tolist()
            object.__setattr__(self, "graph", tuple(tuple(row) for row in matrix))

    def adjacency(self) -> torch.Tensor:
        """(N, N) float adjacency, A[i, j] = 1 when agent i sends to agent j; no self-loops."""
        n = self.n_agents
        graph = self.graph
        if isinstance(graph, str):
            a = torch.zeros(n, n)
            if graph == "complete":
                a = torch.ones(n, n)
            elif graph == "ring":
                for i in range(n):
                    a[i, (i + 1) % n] = a[(i + 1) % n, i] = 1
            elif graph == "line":
                for i in range(n - 1):
                    a[i, i + 1] = a[i + 1, i] = 1
            elif graph == "star":
                a[0, 1:] = a[1:, 0] = 1
            elif graph != "none":
                raise ValueError(f"SimConfig.graph {graph!r} is unknown; use one of {GRAPHS} or an (N, N) 0/1 matrix.")
            a.fill_diagonal_(0)
            return a
        try:
            a = torch.as_tensor(np.asarray(graph, dtype=np.float32))
        except (TypeError, ValueError) as err:
            raise ValueError(f"SimConfig.graph must be one of {GRAPHS} or an (N, N) 0/1 matrix; "
                             f"got {graph!r} ({err}).") from None
        if a.shape != (n, n):
            raise ValueError(f"SimConfig.graph must be ({n}, {n}) for n_agents={n}; got shape {tuple(a.shape)}.")
        if not bool(((a == 0) | (a == 1)).all()):
            raise ValueError("SimConfig.graph adjacency entries must be 0 or 1.")
        if bool(a.diagonal().any()):
            raise ValueError("SimConfig.graph adjacency must have a zero diagonal (agents do not message themselves).")
        return a

    @property
    def episode_length(self) -> int:
        return self.n_steps

    def replace(self, **changes: Any) -> "SimConfig":
        """A copy with ``changes`` applied (validated again)."""
        return replace(self, **changes)

    @classmethod
    def for_dataset(cls, dataset: str | None = None, image_side: int | None = None, **overrides: Any) -> "SimConfig":
        """Paper defaults for ``dataset`` (or an image side), with ``overrides`` on top."""
        return cls(**{**defaults_for(dataset, image_side), **overrides})


def check_device(device: Any, what: str = "device", here: bool = True) -> None:
    """Raise ValueError naming ``what`` unless ``device`` is a str or torch.device naming a torch device, and, with
    ``here``, one of cpu/cuda/mps that this machine has."""
    if not isinstance(device, (str, torch.device)):  # torch.device(123) would read an int as 'cuda:123'
        raise ValueError(f"{what} must be a str or torch.device, e.g. 'cpu' or 'cuda:0'; got {device!r}.")
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{what} {device!r} is not a torch device: {err}") from None
    if not here:
        return
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{what} {device!r}: CUDA is not available on this machine.")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ValueError(f"{what} {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                         f"cuda:0 .. cuda:{torch.cuda.device_count() - 1}.")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{what} {device!r}: MPS is not available on this machine.")
    if parsed.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{what} {device!r}: use cpu or cuda.")


def check_fits(config: SimConfig, image_shape: Sequence[int]) -> None:
    """Raise ValueError when the window does not fit the (C, H, W) images."""
    _, h, w = image_shape
    if config.window > min(h, w):
        raise ValueError(f"SimConfig.window={config.window} is larger than the images ({h}x{w}); "
                         f"use window <= {min(h, w)} or a larger image_size.")
