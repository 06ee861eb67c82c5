"""Smoke runs of the bundled examples as scripts, with tiny settings (the plug-in examples: test_plugins.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_script(name: str, *args: str, cwd: Path, timeout: int = 600) -> str:
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def real_root(name: str) -> Path:
    real = os.environ.get("MASIMU_REAL_DATA")
    if not real:
        pytest.skip("set MASIMU_REAL_DATA to run this example on the real sample")
    return Path(real) / name


def test_quickstart_writes_a_frame_and_a_gif(tmp_path: Path) -> None:
    out = run_script("quickstart.py", "--episodes", "3", "--out", "frame.png", "--gif", "ep.gif", cwd=tmp_path)
    assert "mean episode reward" in out
    assert (tmp_path / "frame.png").stat().st_size > 0 and (tmp_path / "ep.gif").stat().st_size > 0


def test_quickstart_on_the_real_ham10000_sample_and_its_errors(tmp_path: Path) -> None:
    """The README points the quickstart at "ham10000": the partial sample needs --split and --only-available, and a
    folder without the split's files is a usage error naming the file, not a traceback."""
    root = real_root("ham10000")
    out = run_script("quickstart.py", "--dataset", "ham10000", "--root", str(root), "--split", "test",
                     "--only-available", "--episodes", "2", "--out", "frame.png", cwd=tmp_path)
    assert "16 agents, 16 steps, window 12, 7 classes" in out
    env = {**os.environ, "MPLBACKEND": "Agg"}
    (tmp_path / "mnist").mkdir()  # an empty folder: no train files, whatever copy of MNIST the machine holds
    proc = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py"), "--dataset", "mnist", "--root",
                           str(tmp_path / "mnist"), "--out", "frame.png"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "quickstart.py: error: mnist: no 'train-images-idx3-ubyte'" in proc.stderr


def test_unlearn_digits_quick(tmp_path: Path) -> None:
    out = run_script("unlearn_digits.py", "--quick", "--methods", "retrain", "mu", "masmu", "--out", "rep",
                     cwd=tmp_path)
    assert "| masmu |" in out and "| mu |" in out
    for name in ("report.json", "report.md", "curves.png", "time.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 0


@pytest.mark.realdata
@pytest.mark.parametrize("script, dataset, extra", [
    ("unlearn_mnist.py", "mnist", ["--test-only"]),
    ("unlearn_cifar10.py", "cifar10", ["--test-only"]),
    ("unlearn_resisc45.py", "resisc45", ["--image-size", "32"]),
    ("unlearn_ham10000.py", "ham10000", ["--only-available", "--image-size", "32"]),
])
def test_unlearn_real_sample_quick(tmp_path: Path, script: str, dataset: str, extra: list[str]) -> None:
    root = real_root(dataset)
    out = run_script(script, "--root", str(root), "--quick", "--methods", "mu", "--out", "rep", *extra, cwd=tmp_path)
    assert "| mu |" in out
    assert (tmp_path / "rep" / "report.json").exists()


def test_ddp_train_script_runs_two_processes(tmp_path: Path) -> None:
    import json
    import shutil

    if shutil.which("torchrun") is None:
        pytest.skip("torchrun is not on PATH")
    tiny = ("--n-agents 2 --n-steps 3 --conv-channels 8 --feature-dim 16 --hidden-size 16 --position-dim 4 "
            "--raw-message-dim 4 --message-dim 4 --batch-size 32 --no-progress")
    env = {**os.environ, "EPOCHS": "1", "OUT": str(tmp_path / "ddp"), "EXTRA": tiny, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(EXAMPLES / "ddp_train.sh")], cwd=EXAMPLES.parent, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert json.loads((tmp_path / "ddp" / "metrics.json").read_text())["world_size"] == 2
