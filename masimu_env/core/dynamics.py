"""Pure batched transition functions of the environment; every rule of the game lives here.

Must never import gymnasium, pettingzoo or anything from ``masimu_env.api``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

#: Action ids of the four moves, as (d_row, d_col) per id: up, down, left, right.
MOVES = torch.tensor([[-1, 0], [1, 0], [0, -1], [0, 1]], dtype=torch.long)
MOVE_NAMES = ("up", "down", "left", "right")


def sample_corners(batch_size: int, n_agents: int, height: int, width: int, window: int,
                   generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> Tensor:
    """Uniform random top-left corners at which the whole window fits in the image.

    Returns:
        (B, N, 2) long, (row, col) in [0, H - f] x [0, W - f].
    """
    rows = torch.randint(0, height - window + 1, (batch_size, n_agents), generator=generator)
    cols = torch.randint(0, width - window + 1, (batch_size, n_agents), generator=generator)
    return torch.stack([rows, cols], dim=-1).to(device)


def sample_image_indices(batch_size: int, n_images: int, generator: torch.Generator | None = None,
                         device: torch.device | str = "cpu") -> Tensor:
    """Uniform draw (with replacement) of the image each episode classifies.

    Returns:
        (B,) long in [0, n_images).
    """
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1 to draw episodes; got {n_images}.")
    return torch.randint(0, n_images, (batch_size,), generator=generator).to(device)


def sample_episodes(generators: Sequence[torch.Generator], n_images: int, n_agents: int, height: int, width: int,
                    window: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Draw B episodes, episode b from its own generator: first its image, then its agents' start corners.

    This is the one episode-drawing rule: the PettingZoo view draws its single episode with
    ``generators=[its_generator]``, so a batch built from generators seeded like B single envs
    reproduces those envs exactly.

    Args:
        generators: B CPU generators, one per episode.
        n_images: number of images to draw from (indices refer to that list).

    Returns:
        image_indices: (B,) long in [0, n_images).
        corners: (B, N, 2) long start corners (see :func:`sample_corners`).
    """
    indices, corners = [], []
    for generator in generators:
        indices.append(sample_image_indices(1, n_images, generator))
        corners.append(sample_corners(1, n_agents, height, width, window, generator))
    if not indices:
        return (torch.zeros(0, dtype=torch.long, device=device),
                torch.zeros(0, n_agents, 2, dtype=torch.long, device=device))
    return torch.cat(indices).to(device), torch.cat(corners).to(device)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = (x + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)).astype(np.uint64)
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)).astype(np.uint64)
    return x ^ (x >> np.uint64(31))


def row_corners(rows: np.ndarray | Tensor, n_agents: int, height: int, width: int, window: int, seed: int) -> Tensor:
    """Fixed start corners per dataset row, independent of how rows are batched: the episodes the learner is scored
    on (``MAReinforce.evaluate`` / ``predict_proba`` with ``AgentConfig.eval_seed``).

    Row r's corners are a hash of (seed, r, agent), so every row gets the same episode whatever subset or batch it
    comes in. The PettingZoo view plays the same episode with ``reset(options={"image_index": r, "corners":
    row_corners([r], ...)[0]})``.

    Args:
        rows: (n,) int dataset row indices.

    Returns:
        (n, N, 2) long top-left corners at which the window fits.
    """
    rows = np.asarray(rows, dtype=np.uint64).reshape(-1)
    with np.errstate(over="ignore"):
        key = _splitmix64(np.full(1, seed % (1 << 63), dtype=np.uint64))
        agent = np.arange(n_agents, dtype=np.uint64)
        base = _splitmix64(key ^ rows)[:, None] * np.uint64(2 * n_agents + 1) + np.uint64(2) * agent[None, :]
        h_row = _splitmix64(base)
        h_col = _splitmix64(base + np.uint64(1))
    r = (h_row % np.uint64(height - window + 1)).astype(np.int64)
    c = (h_col % np.uint64(width - window + 1)).astype(np.int64)
    return torch.from_numpy(np.stack([r, c], axis=-1))


def _is_integer(dtype: torch.dtype) -> bool:
    """An integer dtype (not float, complex or bool)."""
    return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)


def _check_ids(ids: Tensor, n: int, what: str, note: str = "") -> None:
    """Raise ValueError unless every entry of the integer tensor ``ids`` lies in [0, n) (one device sync)."""
    if ids.numel():
        low, high = torch.stack(torch.aminmax(ids)).tolist()
        if low < 0 or high >= n:
            raise ValueError(f"{what} must lie in 0..{n - 1}{note}; got range [{low}, {high}].")


def check_moves(moves: Tensor) -> None:
    """Raise ValueError unless ``moves`` holds integer action ids in {0, 1, 2, 3}.

    Negative ids would otherwise index :data:`MOVES` from the end and silently become another move.
    """
    if not _is_integer(moves.dtype):
        raise ValueError(f"moves must be an integer tensor of action ids 0..3; got dtype {moves.dtype}.")
    _check_ids(moves, len(MOVE_NAMES), "moves", f" ({', '.join(MOVE_NAMES)})")


def check_corners(corners: Tensor, height: int, width: int, window: int) -> None:
    """Raise ValueError unless ``corners`` (..., 2) holds integer (row, col) top-left corners at which the whole
    window fits: [0, H - f] x [0, W - f].

    A corner off the image would otherwise crop a window that wraps into the next row of pixels.
    """
    if not _is_integer(corners.dtype):
        raise ValueError(f"corners must be an integer tensor of (row, col) window corners; got dtype {corners.dtype}.")
    if corners.numel():
        low, high = (bound.tolist() for bound in torch.aminmax(corners.reshape(-1, 2), dim=0))
        if min(low) < 0 or high[0] > height - window or high[1] > width - window:
            raise ValueError(f"corners must lie in rows 0..{height - window} and cols 0..{width - window} (a {window}x"
                             f"{window} window inside a {height}x{width} image); got rows {low[0]}..{high[0]}, "
                             f"cols {low[1]}..{high[1]}.")


def check_labels(labels: Tensor, n_classes: int) -> None:
    """Raise ValueError unless ``labels`` holds integer class ids in [0, K)."""
    if not _is_integer(labels.dtype):
        raise ValueError(f"labels must be an integer tensor of class ids 0..{n_classes - 1}; got dtype {labels.dtype}.")
    _check_ids(labels, n_classes, "labels", f" (n_classes={n_classes})")


def move_windows(corners: Tensor, moves: Tensor, stride: int, height: int, width: int, window: int) -> Tensor:
    """Apply up/down/left/right moves; a move that would push the window out of the image stops at the border.

    This is the paper's rule (the observation window must fit entirely within the image), not a repair
    of invalid actions: ``moves`` must already be valid ids in {0, 1, 2, 3}.

    Args:
        corners: (B, N, 2) long top-left (row, col).
        moves: (B, N) long action ids.
        stride: pixels per move.

    Returns:
        (B, N, 2) long new corners in [0, H - f] x [0, W - f].
    """
    delta = _moves_on(corners.device)[moves] * stride
    moved = corners + delta
    return torch.minimum(moved.clamp_min(0), _upper_corner(height, width, window, corners.device))


def blocked_moves(before: Tensor, moves: Tensor, after: Tensor, stride: int) -> Tensor:
    """(B, N) bool: the border stopped or shortened the move (``after`` is not ``before`` + ``stride`` pixels in the
    move's direction), the counterpart of :func:`move_windows`' border rule."""
    return (after != before + _moves_on(before.device)[moves] * stride).any(-1)


# Small constant tensors, cached per shape and device so that a step allocates no index tensors.
@functools.lru_cache(maxsize=64)
def _moves_on(device: torch.device) -> Tensor:
    return MOVES.to(device)


@functools.lru_cache(maxsize=64)
def _upper_corner(height: int, width: int, window: int, device: torch.device) -> Tensor:
    return torch.tensor([height - window, width - window], dtype=torch.int64, device=device)


@functools.lru_cache(maxsize=64)
def _window_offsets(width: int, window: int, device: torch.device) -> Tensor:
    """(f*f,) long flat offsets of a window's pixels from its top-left pixel in a row-major (H, W) plane."""
    offsets = torch.arange(window, device=device)
    return (offsets[:, None] * width + offsets[None, :]).reshape(-1)


@functools.lru_cache(maxsize=64)
def _position_scale(height: int, width: int, window: int, device: torch.device) -> Tensor:
    return 1.0 / torch.tensor([max(height - window, 1), max(width - window, 1)], device=device, dtype=torch.float32)


def crop_glimpses(images: Tensor, corners: Tensor, window: int) -> Tensor:
    """Cut each agent's square window out of its episode's image with one gather (cost ~ f^2, not H*W).

    Args:
        images: (B, C, H, W) any dtype.
        corners: (B, N, 2) long top-left (row, col); the window must fit.
        window: side f of the window.

    Returns:
        (B, N, C, f, f), same dtype as ``images``.
    """
    b, c, h, w = images.shape
    n = corners.shape[1]
    start = corners[..., 0] * w + corners[..., 1]  # (B, N) flat index of each top-left pixel
    flat_index = (start[..., None] + _window_offsets(w, window, images.device)).reshape(b, 1, n * window * window)
    glimpses = torch.gather(images.reshape(b, c, h * w), 2, flat_index.expand(b, c, -1))
    return glimpses.reshape(b, c, n, window, window).permute(0, 2, 1, 3, 4)


def route_messages(messages: Tensor, adjacency: Tensor) -> Tensor:
    """Mean of the vectors sent to each agent by its in-neighbours (paper Eq. 9).

    Agents with no in-neighbour receive zeros. Differentiable in ``messages``: the learner
    routes decoded messages d(m_j) through this same function.

    Args:
        messages: (B, N, M) float, one vector per sender.
        adjacency: (N, N) float 0/1, A[i, j] = 1 when i sends to j.

    Returns:
        (B, N, M) float inbox per receiver.
    """
    adjacency = adjacency.to(messages.dtype)
    in_degree = adjacency.sum(0).clamp_min(1.0)  # (N,)
    # Weight each sender by 1/in-degree before summing, so the mean of finite messages stays finite
    # (summing first overflows float32 for messages near its largest value); for in-degrees that are
    # powers of two, such as 3 agents on the complete graph, the result is bit-identical to sum-then-divide.
    weights = adjacency / in_degree[None, :]
    return torch.einsum("ij,bim->bjm", weights, messages)


def normalized_positions(corners: Tensor, height: int, width: int, window: int) -> Tensor:
    """(B, N, 2) float in [0, 1]: corner / (size - f) per axis (0 when the window spans the axis)."""
    return corners.to(torch.float32) * _position_scale(height, width, window, corners.device)


def mean_prediction(probs: Tensor) -> Tensor:
    """p_bar: (B, N, K) per-agent class distributions -> (B, K) their mean over agents (paper Eq. 3)."""
    return probs.mean(dim=1)


def votes_to_probs(votes: Tensor, n_classes: int) -> Tensor:
    """One-hot class votes: (B, N) long -> (B, N, K) float, for the MultiDiscrete action mode."""
    return torch.nn.functional.one_hot(votes, n_classes).to(torch.float32)


def _softmax(logits: Tensor) -> Tensor:
    """Softmax over the last dim, written out: ``torch.softmax`` on CPU always opens an OpenMP parallel
    region, which on a loaded machine stalls for milliseconds even for the (1, N, K) logits of one
    episode; this form costs a few elementwise ops and gives the same values to float rounding."""
    shifted = logits - logits.amax(dim=-1, keepdim=True)
    exp = shifted.exp()
    return exp / exp.sum(dim=-1, keepdim=True)


def prediction_probs(predictions: Tensor, n_classes: int) -> Tensor:
    """Per-agent class distributions from what the agents output at the last step.

    Float ``predictions`` are logits and go through a softmax (the 'dict' action mode); integer
    ones are class votes and become one-hot rows (the 'multidiscrete' mode, :func:`votes_to_probs`).

    Args:
        predictions: (B, N, K) float logits, or (B, N) long votes in [0, K).

    Returns:
        (B, N, K) float32 rows summing to 1.
    """
    if predictions.is_floating_point():
        if predictions.shape[-1] != n_classes:
            raise ValueError(f"prediction logits must have {n_classes} entries per agent; got shape {tuple(predictions.shape)}.")
        if not bool(torch.isfinite(predictions).all()):
            raise ValueError("prediction logits must be finite; got NaN or infinite values.")
        return _softmax(predictions.to(torch.float32))
    if not _is_integer(predictions.dtype):  # floats took the logits branch above
        raise ValueError(f"prediction votes must be integer class ids; got dtype {predictions.dtype}.")
    _check_ids(predictions, n_classes, "prediction votes")
    return votes_to_probs(predictions.long(), n_classes)


def agent_rewards(probs: Tensor, labels: Tensor, loss: str, done: bool) -> Tensor:
    """Per-agent reward of one step: 0 before the end, r_tau = -L(p_bar - e_i) for every agent at the end.

    Args:
        probs: (B, N, K) per-agent class distributions at this step.
        labels: (B,) long.
        loss: 'mse' or 'ce' (see :func:`episode_reward`).
        done: whether this step ended the episodes (all episodes of a batch end together).

    Returns:
        (B, N) float32.
    """
    b, n = probs.shape[:2]
    if not done:
        return torch.zeros(b, n, dtype=torch.float32, device=probs.device)
    return episode_reward(probs, labels, loss)[:, None].expand(b, n).to(torch.float32)


def episode_reward(probs: Tensor, labels: Tensor, loss: str = "mse") -> Tensor:
    """r_tau = -L(p_bar - e_i) for each episode; differentiable in ``probs``.

    Args:
        probs: (B, N, K) per-agent predicted class distributions (rows sum to 1).
        labels: (B,) long true class ids.
        loss: 'mse' gives -||p_bar - e_i||^2; 'ce' gives log p_bar[i] (minus cross-entropy), floored at
            log(1e-12) = -27.63 (a unanimous wrong vote would be -inf); below the floor its gradient is 0.

    Returns:
        (B,) float reward.
    """
    p_bar = mean_prediction(probs)
    if loss == "mse":
        target = torch.nn.functional.one_hot(labels, p_bar.shape[-1]).to(p_bar.dtype)
        return -((p_bar - target) ** 2).sum(-1)
    if loss == "ce":
        return torch.log(p_bar.gather(1, labels[:, None]).squeeze(1).clamp_min(1e-12))
    raise ValueError(f"reward loss must be 'mse' or 'ce'; got {loss!r}.")
