"""Pictures of an episode: the image, each agent's window outlined in its own colour and its path so far.

Small images are upscaled by an integer factor (nearest neighbour) until the longer side reaches
:data:`MIN_SIDE` pixels, so an 8x8 digit renders as 256x256 and outlines stay visible; images at least
that large keep their native size.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from ..config import check_int, is_real

#: Longer side, in pixels, that small images are upscaled to (at least).
MIN_SIDE = 256


def agent_colour(i: int) -> tuple[int, int, int]:
    """A distinct, saturated RGB colour for agent ``i`` (golden-ratio hue steps, so any N works)."""
    hue = (0.0 + i * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.9, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def upscale_factor(height: int, width: int) -> int:
    """Integer factor that brings the longer image side to at least :data:`MIN_SIDE` pixels."""
    return max(1, math.ceil(MIN_SIDE / max(height, width)))


def render_frame(image: Tensor | np.ndarray, path: Tensor | np.ndarray, window: int,
                 scale: int | None = None) -> np.ndarray:
    """Draw one frame.

    Args:
        image: (C, H, W) float in [0, 1] (C = 1 grey, 3 RGB; C = 2 shows channel 0, C >= 4 the first three).
        path: (t + 1, N, 2) long window corners visited so far; the last row is the current one.
        window: f, the window side in pixels.
        scale: upscaling factor; default :func:`upscale_factor`.

    Returns:
        (H * scale, W * scale, 3) uint8.
    """
    if isinstance(image, Tensor):
        image = image.detach().cpu()
        image = image.numpy() if image.dtype == torch.uint8 else image.to(torch.float32).numpy()
    if isinstance(path, Tensor):
        path = path.detach().cpu().numpy()
    image = np.asarray(image)
    if image.ndim == 2:  # the transpose hint below fails on a 2-D array
        raise ValueError(f"image must be (C, H, W), channels first; got a 2-D {image.shape} array: for a grey image "
                         "pass image[None].")
    if image.ndim != 3 or (image.shape[0] > 4 and image.shape[2] in (1, 3, 4)):
        # an (H, W, 3) picture used to be read as H channels
        raise ValueError(f"image must be (C, H, W), channels first; got shape {image.shape}, which looks like "
                         "(H, W, C): pass image.transpose(2, 0, 1).")
    if image.dtype == np.uint8:  # as the datasets return images (it used to render all white)
        image = image.astype(np.float32) / 255.0
    elif not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
        raise ValueError(f"a float image must lie in [0, 1] (or pass uint8); got values {np.nanmin(image):.4g}.."
                         f"{np.nanmax(image):.4g}.")
    check_int(window, "window", 1)
    check_int(scale, "scale", 1, optional=True)  # 2.7 was truncated to 2
    c, h, w = image.shape
    rgb = image[:3] if c >= 3 else np.repeat(image[:1], 3, axis=0)
    pixels = np.round(rgb.transpose(1, 2, 0) * 255.0).astype(np.uint8)
    s = upscale_factor(h, w) if scale is None else int(scale)
    pixels = np.repeat(np.repeat(pixels, s, axis=0), s, axis=1)
    picture = Image.fromarray(pixels)
    draw = ImageDraw.Draw(picture)
    line_width = max(1, s // 8)
    n_agents = path.shape[1]
    for i in range(n_agents):
        colour = agent_colour(i)
        centres = [((col + window / 2) * s, (row + window / 2) * s) for row, col in path[:, i]]
        if len(centres) > 1:
            draw.line(centres, fill=colour, width=line_width)
        cx, cy = centres[-1]
        radius = max(1, line_width)
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
        row, col = path[-1, i]
        draw.rectangle([col * s, row * s, (col + window) * s - 1, (row + window) * s - 1],
                       outline=colour, width=line_width)
    return np.asarray(picture, dtype=np.uint8)


class HumanViewer:
    """A matplotlib window that shows frames as they come ('human' render mode)."""

    def __init__(self, title: str = "masimu", fps: int = 4) -> None:
        import matplotlib.pyplot as plt

        self._plt = plt
        self.fps = fps
        self.figure, self.axes = plt.subplots()
        if self.figure.canvas.manager is not None:
            self.figure.canvas.manager.set_window_title(title)
        self.axes.set_axis_off()
        self._artist = None

    def show(self, frame: np.ndarray) -> None:
        if self._artist is None:
            self._artist = self.axes.imshow(frame)
        else:
            self._artist.set_data(frame)
        self.figure.canvas.draw_idle()
        self._plt.pause(1.0 / self.fps)

    def close(self) -> None:
        self._plt.close(self.figure)


def save_episode_gif(env_or_frames: Any, path: str | Path, policy: Callable[[dict], dict] | None = None,
                     seed: int | None = None, fps: int = 4) -> Path:
    """Write an animated GIF of one episode.

    Args:
        env_or_frames: a :class:`~masimu_env.api.parallel_env.MasimuParallelEnv` (any render_mode; one
            episode is played: ``reset(seed=seed)``, then steps until it ends), or a sequence of
            (H, W, 3) uint8 frames.
        path: output file, e.g. ``"episode.gif"``.
        policy: ``policy(observations) -> actions``, both dicts keyed by live agent; default samples
            each agent's action space.
        seed: passed to ``reset``.
        fps: frames per second.

    Returns:
        The path written.
    """
    if not is_real(fps) or not 1 <= fps <= 100:
        # GIF frame delays are whole hundredths of a second; above 100 fps Pillow writes none at all
        raise ValueError(f"fps must be a number in [1, 100]; got {fps!r}.")
    if hasattr(env_or_frames, "render_frame") and hasattr(env_or_frames, "step"):
        frames = _play_episode(env_or_frames, policy, seed)
    else:
        if policy is not None or seed is not None:
            raise ValueError("policy= and seed= apply only when an env is given, not frames.")
        frames = list(env_or_frames)
    if not frames:
        raise ValueError("save_episode_gif needs at least one frame.")
    for k, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame {k} must be an (H, W, 3) uint8 array; got {frame.dtype} {frame.shape}.")
        if frame.shape != np.asarray(frames[0]).shape:  # the GIF would crop it to the first frame's size
            raise ValueError(f"frame {k} is {frame.shape} but frame 0 is {np.asarray(frames[0]).shape}; every frame "
                             "of a GIF has one size.")
    images = [Image.fromarray(np.asarray(frame)) for frame in frames]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


def _play_episode(env: Any, policy: Callable[[dict], dict] | None, seed: int | None) -> Sequence[np.ndarray]:
    observations, _ = env.reset(seed=seed)
    if policy is None and seed is not None:  # the random actions follow the seed too, so a GIF can be remade
        for k, agent in enumerate(env.possible_agents):
            env.action_space(agent).seed(seed + k)
    frames = [env.render_frame()]
    while env.agents:
        if policy is None:
            actions = {agent: env.action_space(agent).sample() for agent in env.agents}
        else:
            actions = policy(observations)
        observations, *_ = env.step(actions)
        frames.append(env.render_frame())
    return frames
