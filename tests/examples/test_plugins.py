"""Smoke tests of the MARL-library plug-in examples (TorchRL MAPPO, RLlib PPO) on the masimu env.

Each example runs with ``--quick`` in a subprocess, exactly as a user would start it. A test is
skipped when its optional library is not installed in the interpreter running pytest (``ray[rllib]``
pins gymnasium 1.2.2, so it usually lives in its own virtual environment: run this file with that
venv's python to exercise it).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SCORE_LINE = re.compile(r"^(before|after) training: mean-vote acc (\S+), majority-vote acc (\S+), "
                        r"mean reward (\S+) over (\d+) test images", re.MULTILINE)


def run_example(script: str, *args: str, timeout: float) -> dict[str, dict[str, float]]:
    """Run ``examples/<script>`` in a fresh interpreter; return its printed before/after scores."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{script} {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    scores = {stage: {"mean_vote_acc": float(mean), "majority_acc": float(major), "reward": float(reward),
                      "episodes": int(n)}
              for stage, mean, major, reward, n in SCORE_LINE.findall(proc.stdout)}
    assert set(scores) == {"before", "after"}, f"{script} did not print both evaluations:\n{proc.stdout}"
    return scores


def check_scores(scores: dict[str, dict[str, float]], episodes: int) -> None:
    for stage in ("before", "after"):
        s = scores[stage]
        assert s["episodes"] == episodes
        assert 0.0 <= s["mean_vote_acc"] <= 1.0 and 0.0 <= s["majority_acc"] <= 1.0
        # r = -||p_bar - e_label||^2 with p_bar a mean of one-hot votes lies in [-2, 0].
        assert -2.0 <= s["reward"] <= 0.0


def load_example(script: str):
    if str(EXAMPLES) not in sys.path:  # as when run as a script: its folder's helper modules are importable
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{Path(script).stem}", EXAMPLES / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- TorchRL ---
def test_mappo_torchrl_quick_runs_and_reports():
    pytest.importorskip("torchrl")
    # --quick shrinks the run; a flag given explicitly (--eval-images) still wins over its tiny default of 20
    check_scores(run_example("mappo_torchrl.py", "--quick", "--eval-images", "12", timeout=300), episodes=12)


def test_mappo_multicategorical_matches_independent_categoricals():
    pytest.importorskip("torchrl")
    import torch

    example = load_example("mappo_torchrl.py")
    logits = torch.randn(5, 3, 14)
    dist = example.MultiCategorical(logits, (4, 10))
    sample = dist.sample()
    assert sample.shape == (5, 3, 2) and sample.dtype == torch.long
    assert bool((sample[..., 0] < 4).all() and (sample[..., 1] < 10).all())
    move, vote = logits.split((4, 10), dim=-1)
    expected = (torch.log_softmax(move, -1).gather(-1, sample[..., :1]) +
                torch.log_softmax(vote, -1).gather(-1, sample[..., 1:])).squeeze(-1)
    torch.testing.assert_close(dist.log_prob(sample), expected)
    torch.testing.assert_close(dist.mode, torch.stack([move.argmax(-1), vote.argmax(-1)], -1))
    entropy = torch.distributions.Categorical(logits=move).entropy() + torch.distributions.Categorical(logits=vote).entropy()
    torch.testing.assert_close(dist.entropy(), entropy)


@pytest.mark.slow
def test_mappo_torchrl_learns_above_chance():
    pytest.importorskip("torchrl")
    scores = run_example("mappo_torchrl.py", "--iterations", "20", timeout=1800)
    assert scores["after"]["majority_acc"] > 0.2, scores


# --- RLlib ---
def test_ppo_rllib_quick_runs_and_reports():
    pytest.importorskip("ray.rllib")
    check_scores(run_example("ppo_rllib.py", "--quick", "--eval-images", "12", timeout=600), episodes=12)


@pytest.mark.slow
def test_ppo_rllib_learns_above_chance():
    pytest.importorskip("ray.rllib")
    scores = run_example("ppo_rllib.py", "--iterations", "20", timeout=1800)
    assert scores["after"]["majority_acc"] > 0.2, scores


@pytest.mark.skipif(importlib.util.find_spec("torchrl") is None, reason="needs torchrl (pip install 'masimu[test]')")
@pytest.mark.parametrize("flag", ["--eval-images", "--minibatch", "--frames-per-batch"])
def test_mappo_example_refuses_counts_below_one(flag):
    """--eval-images 0 used to evaluate every image, -1 none (printing nan), and --minibatch 0 failed in torch after
    the first evaluation; argparse now refuses them up front."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(EXAMPLES / "mappo_torchrl.py"), flag, "0"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and f"argument {flag}: expected an integer >= 1; got 0" in proc.stderr


@pytest.mark.parametrize("script, argv, match", [
    ("benchmarks/unlearn.py", ["--seeds", "0"], "argument --seeds: expected an integer >= 1"),
    ("benchmarks/unlearn.py", ["--parts", "digits", "--ham-size", "32"], "--ham-size applies only to --parts ham"),
    ("benchmarks/explain_speed.py", ["--quick", "--num-samples", "50"], "--quick sets 300 samples"),
    ("benchmarks/explain_speed.py", ["--forget-count", "10", "--forget-measured", "20"], "is more than --forget-count"),
    ("benchmarks/env_throughput.py", ["--seconds", "inf"], "argument --seconds: expected a finite number > 0"),
    ("examples/unlearn_digits.py", ["--forget-fraction", "1.5"], r"expected a number in \(0, 1\)"),
    ("examples/unlearn_digits.py", ["--methods", "bogus"], "invalid choice: 'bogus'"),
    ("examples/ppo_rllib.py", ["--env-runners", "-2"], "argument --env-runners: expected an integer >= 0"),
    ("examples/quickstart.py", ["--episodes", "0"], "argument --episodes: expected an integer >= 1"),
    ("examples/quickstart.py", ["--seed", "-1"], "argument --seed: expected an integer >= 0"),
])
def test_scripts_refuse_bad_numbers_before_any_work(script, argv, match):
    """Each used to accept the value and fail with a traceback later (or never stop: --seconds inf)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(REPO / script), *argv], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and re.search(match, proc.stderr), proc.stderr[-2000:]
