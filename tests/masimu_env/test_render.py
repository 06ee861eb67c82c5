"""Rendering: rgb frames show the image, each agent's window outline in its colour and its path; GIFs replay episodes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import masimu_env
from masimu_env.api.render import agent_colour, render_frame, save_episode_gif, upscale_factor


def test_frame_shows_image_outlines_and_path():
    image = torch.full((1, 8, 8), 0.5)
    path = torch.tensor([[[0, 0], [4, 4]], [[1, 0], [4, 3]]])  # 2 steps, 2 agents; f = 3
    frame = render_frame(image, path, window=3)
    s = upscale_factor(8, 8)
    assert s == 32 and frame.shape == (256, 256, 3) and frame.dtype == np.uint8
    # agent 0's current window (1, 0): its top-left outline pixel has agent 0's colour
    assert tuple(frame[1 * s, 0]) == agent_colour(0)
    assert tuple(frame[(1 + 3) * s - 1, 3 * s - 1]) == agent_colour(0)
    # agent 1's current window (4, 3)
    assert tuple(frame[4 * s, 3 * s + 5]) == agent_colour(1)
    # a pixel far from every window and path keeps the image grey
    assert tuple(frame[255, 255]) == (128, 128, 128)
    # the path of agent 0 (from centre (1.5, 1.5) to (2.5, 1.5) in pixels) is drawn between the centres
    assert tuple(frame[int(2.0 * s), int(1.5 * s)]) == agent_colour(0)
    assert len({agent_colour(i) for i in range(16)}) == 16


def test_rgb_images_keep_their_colours_and_large_images_are_not_upscaled():
    image = torch.zeros(3, 300, 260)
    image[0] = 1.0  # red
    frame = render_frame(image, torch.zeros(1, 1, 2, dtype=torch.long), window=10)
    assert frame.shape == (300, 260, 3)
    assert tuple(frame[200, 200]) == (255, 0, 0)


def test_env_render_modes(digits):
    env = masimu_env.parallel_env(digits, render_mode="rgb_array", seed=0)
    env.reset()
    first = env.render()
    assert first.shape == (256, 256, 3) and first.dtype == np.uint8
    env.step({a: env.action_space(a).sample() for a in env.agents})
    assert env._state.path.shape[1] == 2  # start + one step
    np.testing.assert_array_equal(env.render(), render_frame(env._state.images[0], env._state.path[0], env.config.window))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert masimu_env.parallel_env(digits).render() is None  # no render_mode: warns, returns None
        human = masimu_env.parallel_env(digits, render_mode="human", seed=0)
        human.reset()
        assert human.render() is None
        human.close()


def test_save_episode_gif_from_env_and_frames(tmp_path, rgb32):
    env = masimu_env.parallel_env(rgb32, n_agents=4, n_steps=3, window=5, seed=0)
    out = save_episode_gif(env, tmp_path / "episode.gif", seed=7)
    with Image.open(out) as gif:
        assert gif.n_frames == 4  # start + 3 steps
        assert gif.size == (256, 256)

    moves = {"agent_0": 3}  # always right

    def policy(observations):
        return {a: {"move": moves.get(a, 0), "message": np.zeros(8), "prediction": np.zeros(4)} for a in observations}

    frames = []
    env.reset(seed=7)
    frames.append(env.render_frame())
    out2 = save_episode_gif(env, tmp_path / "policy.gif", policy=policy, seed=7)
    assert out2.exists()
    path = save_episode_gif(frames * 2, tmp_path / "frames.gif", fps=2)
    with Image.open(path) as gif:
        assert gif.n_frames >= 1
    with pytest.raises(ValueError, match="uint8"):
        save_episode_gif([np.zeros((4, 4))], tmp_path / "bad.gif")
    with pytest.raises(ValueError, match="at least one"):
        save_episode_gif([], tmp_path / "empty.gif")


def test_render_frame_reads_uint8_and_refuses_what_it_used_to_misdraw():
    path = torch.tensor([[[0, 0]]])
    grey = render_frame(torch.full((1, 8, 8), 100, dtype=torch.uint8), path, window=2, scale=4)  # was all white
    assert tuple(grey[31, 31]) == (100, 100, 100)
    for kwargs, match in ((dict(image=np.zeros((8, 8, 3))), r"image must be \(C, H, W\)"),
                          (dict(image=np.full((1, 8, 8), 2.0)), r"float image must lie in \[0, 1\]"),
                          (dict(scale=2.7), "scale must be None or an int >= 1; got 2.7"),
                          (dict(scale=0), "scale must be None or an int >= 1"),
                          (dict(window=0), "window must be an int >= 1")):
        args = dict(image=np.zeros((1, 8, 8)), path=path, window=2) | kwargs
        with pytest.raises(ValueError, match=match):
            render_frame(**args)


def test_gif_frames_must_share_one_size_and_fps_a_gif_can_hold(tmp_path):
    frames = [np.zeros((10, 10, 3), np.uint8), np.zeros((20, 30, 3), np.uint8)]
    with pytest.raises(ValueError, match=r"frame 1 is \(20, 30, 3\) but frame 0 is \(10, 10, 3\)"):
        save_episode_gif(frames, tmp_path / "a.gif")
    with pytest.raises(ValueError, match=r"fps must be a number in \[1, 100\]"):
        save_episode_gif(frames[:1], tmp_path / "a.gif", fps=1001)


def test_random_policy_gif_is_reproducible_for_a_seed(tmp_path):
    """The default policy's random actions were unseeded: two GIFs with seed=1 differed after the first frame."""
    paths = []
    for k in range(2):
        env = masimu_env.parallel_env("digits", render_mode="rgb_array")
        paths.append(save_episode_gif(env, tmp_path / f"{k}.gif", seed=1))
    first, second = (Image.open(p) for p in paths)
    assert first.n_frames == second.n_frames > 1
    for index in range(first.n_frames):
        first.seek(index), second.seek(index)
        assert np.array_equal(np.asarray(first.convert("RGB")), np.asarray(second.convert("RGB"))), index


def test_render_accepts_many_channels_and_numpy_fps(tmp_path):
    frame = render_frame(np.zeros((5, 16, 16)), torch.tensor([[[0, 0]]]), window=2, scale=2)  # first 3 channels
    assert frame.shape == (32, 32, 3)
    save_episode_gif([frame], tmp_path / "a.gif", fps=np.int64(10))
