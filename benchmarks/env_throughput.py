"""Throughput of the environment, in agent-steps per second.

One agent-step = one agent's observation (window crop, position, inbox, time) plus its move and its
message routing for one time step. Printed, all in one run:

    (a) the PettingZoo view (B = 1) with random actions (actions pre-sampled, so sampling is not timed);
    (b) the batched core at B = 256 on 28x28x1 images (N=3, f=6, T=5) and 256x256x3 images (N=16, f=12, T=16);
    (c) a naive reference: a Python loop over episodes and agents that cuts each window with a
        whole-image boolean mask, moves with Python ifs and averages neighbours' messages in a loop
        (the approach of the public reimplementation of this model);

and the ratios (b)/(c). Targets (2 CPU cores): (b) >= 50x (c) at 256x256 and >= 1,000,000 agent-steps/s
at 28x28. Each figure is printed per wall-clock second and per CPU-second of this process (steadier
when other processes share the CPUs). Core figures exclude ``reset`` (drawing corners and converting the B uint8 images to float
once per episode); the "incl. reset" column amortizes it over the episode.

Usage:
    python benchmarks/env_throughput.py [--threads 2] [--seconds 2]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

import masimu_env
from masimu_env import SimConfig, datasets
from masimu_env.argtypes import positive_float
from masimu_env.core import Simulator

SETTINGS = {  # name: (C, H, N, f, T)
    "28x28": (1, 28, 3, 6, 5),
    "256x256x3": (3, 256, 16, 12, 16),
}


@dataclass(frozen=True)
class Rate:
    """Agent-steps done in a wall-clock and a CPU-time interval (CPU time of this process, all threads)."""

    agent_steps: int
    wall_s: float
    cpu_s: float

    @property
    def per_s(self) -> float:
        return self.agent_steps / self.wall_s

    @property
    def per_cpu_s(self) -> float:
        return self.agent_steps / self.cpu_s

    def __str__(self) -> str:
        return f"{self.per_s:>13,.0f} agent-steps/s  ({self.per_cpu_s:,.0f} per CPU-second)"


def bench_pettingzoo(seconds: float) -> Rate:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)
    env = masimu_env.parallel_env(datasets.from_arrays(images, np.arange(64) % 10), n_agents=3, n_steps=5, window=6,
                                  seed=0)
    env.reset(seed=0)
    pool = [{a: env.action_space(a).sample() for a in env.possible_agents} for _ in range(64)]
    agent_steps, k = 0, 0
    start, cpu_start = time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        env.reset()
        while env.agents:
            env.step(pool[k % len(pool)])
            k += 1
            agent_steps += 3
    return Rate(agent_steps, time.perf_counter() - start, time.process_time() - cpu_start)


def bench_core(setting: str, batch_size: int, seconds: float) -> tuple[Rate, Rate]:
    """(observe + step, the same including reset)."""
    c, h, n, f, t = SETTINGS[setting]
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, c, h, h), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (batch_size,), generator=g)
    sim = Simulator(SimConfig(n_agents=n, n_steps=t, window=f, message_dim=8), n_classes=10)
    moves = torch.randint(0, 4, (t, batch_size, n), generator=g)
    messages = torch.randn(t, batch_size, n, 8, generator=g)
    state = sim.reset(images, labels, generator=g)  # warm-up
    sim.observe(state)
    step_time = reset_time = step_cpu = reset_cpu = 0.0
    agent_steps = 0
    while step_time + reset_time < seconds:
        t0, c0 = time.perf_counter(), time.process_time()
        state = sim.reset(images, labels, generator=g)
        t1, c1 = time.perf_counter(), time.process_time()
        for i in range(t):
            sim.observe(state)
            state = sim.step(state, moves[i], messages[i])
        t2, c2 = time.perf_counter(), time.process_time()
        reset_time, reset_cpu = reset_time + t1 - t0, reset_cpu + c1 - c0
        step_time, step_cpu = step_time + t2 - t1, step_cpu + c2 - c1
        agent_steps += batch_size * n * t
    return (Rate(agent_steps, step_time, step_cpu),
            Rate(agent_steps, step_time + reset_time, step_cpu + reset_cpu))


def bench_naive(setting: str, batch_size: int, seconds: float) -> Rate:
    """Per-agent Python loop with a whole-image boolean mask per window (the public reimplementation's approach)."""
    c, h, n, f, t = SETTINGS[setting]
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, c, h, h), generator=g, dtype=torch.uint8).float() / 255.0
    moves = torch.randint(0, 4, (t, batch_size, n), generator=g).tolist()
    messages = torch.randn(t, batch_size, n, 8, generator=g)
    neighbours = [[j for j in range(n) if j != i] for i in range(n)]  # complete graph
    agent_steps = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        for b in range(batch_size):
            image = images[b]
            pos = [[int(torch.randint(0, h - f + 1, (1,), generator=g)), int(torch.randint(0, h - f + 1, (1,), generator=g))]
                   for _ in range(n)]
            inbox = [torch.zeros(8) for _ in range(n)]
            for step in range(t):
                for i in range(n):
                    mask = torch.zeros(h, h, dtype=torch.bool)
                    mask[pos[i][0]:pos[i][0] + f, pos[i][1]:pos[i][1] + f] = True
                    glimpse = image[:, mask].reshape(c, f, f)  # noqa: F841  (the observation)
                    position = torch.tensor(pos[i], dtype=torch.float32) / (h - f)  # noqa: F841
                    move = moves[step][b][i]
                    if move == 0 and pos[i][0] > 0:
                        pos[i][0] -= 1
                    elif move == 1 and pos[i][0] < h - f:
                        pos[i][0] += 1
                    elif move == 2 and pos[i][1] > 0:
                        pos[i][1] -= 1
                    elif move == 3 and pos[i][1] < h - f:
                        pos[i][1] += 1
                for i in range(n):
                    inbox[i] = sum(messages[step, b, j] for j in neighbours[i]) / max(len(neighbours[i]), 1)
                agent_steps += n
            if time.perf_counter() - start >= seconds:
                break
    return Rate(agent_steps, time.perf_counter() - start, time.process_time() - cpu_start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seconds", type=positive_float, default=2.0,
                        help="time budget per measurement (finite: inf would never end)")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    for name, value in (("--threads", args.threads), ("--seconds", args.seconds), ("--batch-size", args.batch_size)):
        if not value > 0:
            parser.error(f"{name} must be > 0; got {value}.")
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs, load average {load:.1f}")

    pz = bench_pettingzoo(args.seconds)
    print(f"(a) PettingZoo view, B=1, 28x28, N=3, f=6, random actions: {pz}")
    for setting in SETTINGS:
        c, h, n, f, t = SETTINGS[setting]
        core, core_with_reset = bench_core(setting, args.batch_size, args.seconds)
        naive = bench_naive(setting, args.batch_size, args.seconds)
        print(f"{setting} (C={c}, N={n}, f={f}, T={t}):")
        print(f"  (b) batched core, B={args.batch_size}:      {core}")
        print(f"      incl. reset:                {core_with_reset}")
        print(f"  (c) naive per-agent mask loop:  {naive}")
        print(f"  (b)/(c) = {core.per_s / naive.per_s:,.1f}x wall-clock, {core.per_cpu_s / naive.per_cpu_s:,.1f}x per "
              f"CPU-second (incl. reset: {core_with_reset.per_s / naive.per_s:,.1f}x)")
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average at the end {load_end:.1f}: with other processes on the CPUs, wall-clock figures drop "
          f"and the per-CPU-second ones are the steadier measure.")

if __name__ == "__main__":
    main()
