"""The ``masimu`` console command: subcommands, one-line errors, --debug tracebacks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from unlearning.cli import main


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "unlearning.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=600)


def test_datasets_lists_every_dataset_and_where_it_looked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mnist").mkdir()
    assert main(["datasets", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("digits", "mnist", "cifar10", "resisc45", "ham10000", "folder"):
        assert f"\n{name} " in out
    assert "embedded" in out and str(tmp_path / "mnist") in out
    assert "\ndigits     yes " in out and "\nmnist      no " in out
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte").write_bytes(b"")  # listed, not decoded: a partial folder
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(b"")
    assert main(["datasets", "--root", str(tmp_path)]) == 0
    assert "\nmnist      part " in capsys.readouterr().out


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    proc = run_cli("unlearn", "--dataset", "no_such_data", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no_such_data" in lines[0] and "digits" in lines[0]
    assert "Traceback" not in proc.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = run_cli("--debug", "unlearn", "--dataset", "no_such_data", "--no-progress", cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_unlearn_rejects_a_bad_original_argument(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["unlearn", "--original", "cnn=" + str(tmp_path / "missing.pt")]) == 1
    assert "missing.pt" in capsys.readouterr().err


def test_unlearn_tiny_run_prints_table_and_writes_report(tmp_path: Path) -> None:
    proc = run_cli("unlearn", "--methods", "retrain", "mu", "--cnn-epochs", "1", "--no-progress",
                   "--out", "rep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| retrain |" in proc.stdout and "| mu |" in proc.stdout
    assert "whole run" in proc.stdout
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["methods"] == ["retrain", "mu"]
    assert (tmp_path / "rep" / "curves.png").exists() and (tmp_path / "rep" / "time.png").exists()
    # what produced it: versions, threads (every time depends on them), the command, each method's recipe as read
    environment = report["settings"]["environment"]
    assert environment["torch_threads"] == 1 and "--cnn-epochs 1" in environment["command"]
    mu_config = next(r for r in report["runs"] if r["method"] == "mu")["record"]["config"]
    assert mu_config["lr"] == 0.1 and "lime_backend" not in mu_config and "salun_threshold" not in mu_config
    assert "Methods as run (seed 0): retrain: 1 epochs, sgd lr 0.05, batch 64; mu: 3 epochs, sgd lr 0.1" in proc.stdout
    assert report["originals"]["cnn/seed0"]["reused"] is False

    # a rerun into the same --out says what it reuses and that it replaces the report (it used to do both silently)
    again = run_cli("unlearn", "--methods", "mu", "--cnn-epochs", "1", "--no-progress", "--out", "rep", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "masimu: warning: 'rep' already holds a report (methods retrain mu; seeds [0])" in again.stderr
    assert "seed 0: original cnn reused from" in again.stdout
    assert "seed 0: mu resumed from its checkpoint at epoch 3 of 3 (finished earlier" in again.stdout
    assert "Originals: cnn/seed0 trained 1 epochs in" in again.stdout and "(by an earlier run)" in again.stdout


def test_render_writes_a_gif(tmp_path: Path) -> None:
    assert main(["render", "--dataset", "digits", "--out", str(tmp_path / "ep.gif")]) == 0
    assert (tmp_path / "ep.gif").read_bytes()[:3] == b"GIF"


def test_train_then_render_the_trained_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--epochs", "1", "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    gif = tmp_path / "trained.gif"
    assert main(["render", "--checkpoint", str(out / "checkpoint.pt"), "--out", str(gif)]) == 0
    assert gif.read_bytes()[:3] == b"GIF"
    # mistakes around an existing model: one line naming the flag or file, nothing overwritten
    before = (out / "checkpoint.pt").read_bytes()
    checks = [(["train", "--dataset", "digits", "--epochs", "1", "--out", str(out)], "already holds a trained model"),
              (["render", "--checkpoint", str(out / "checkpoint.pt"), "--image-size", "16", "--out", str(gif)],
               r"trained on \(1, 8, 8\) images.*--image-size"),
              (["render", "--checkpoint", str(out / "metrics.json"), "--out", str(gif)],
               "metrics.json' is not a checkpoint written by MAReinforce.save"),
              (["unlearn", "--methods", "retrain", "--original", f"cnn={out / 'checkpoint.pt'}", "--out",
                str(tmp_path / "u"), "--no-progress"], "not a classifier's state dict"),
              (["unlearn", "--methods", "retrain", "--original", f"ma_gru={out / 'checkpoint.pt'}", "--out",
                str(tmp_path / "u"), "--no-progress"], r"originals given for \['ma_gru'\]")]
    for argv, match in checks:
        assert main(argv) == 1
        assert re.search(match, capsys.readouterr().err)
    assert (out / "checkpoint.pt").read_bytes() == before


def test_train_checks_run_flags_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("x")
    for flags, match in ((["--out", str(tmp_path / "afile")], "--out .*afile is a file"),
                         (["--max-minutes", "-5"], "--max-minutes must be a finite number > 0"),
                         (["--device", "bogus"], "--device 'bogus' is not a torch device"),
                         (["--seed", "-1"], r"AgentConfig.seed must be an int in \[0, 2\*\*63\)"),
                         (["--graph", "[[0, 1"], r"AgentConfig.graph '\[\[0, 1' is neither a graph name nor a JSON list")):
        argv = ["train", "--dataset", "digits", "--epochs", "1", "--no-progress", *flags]
        if "--out" not in flags:
            argv += ["--out", str(tmp_path / "run")]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert re.search(match, err) and "epoch 1" not in err
    assert main(["train", "--dataset", "digits", "--epochs", "1", "--no-progress", "--n-agents", "3",
                 "--graph", "[[0, 1, 0], [1, 0, 1], [0, 1, 0]]", "--out", str(tmp_path / "line")]) == 0
    assert json.loads((tmp_path / "line" / "metrics.json").read_text())["config"]["graph"] == [[0, 1, 0], [1, 0, 1],
                                                                                            [0, 1, 0]]


def test_unlearn_flag_mistakes_are_one_line_before_any_training(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    base = ["unlearn", "--out", str(tmp_path / "u"), "--no-progress"]
    for flags, match in ((["--forget-mode", "class", "--forget-classes", "3", "--forget-fraction", "0.5"],
                          "--forget-fraction and --forget-classes exclude each other"),
                         (["--methods", "retrain", "retrain"], "names a method twice"),
                         (["--device", "bogus"], "--device 'bogus' is not a torch device"),
                         (["--device", "meta"], "use cpu or cuda"),
                         # a one-image forget set used to fail in the MIA after every original and method trained
                         (["--forget-fraction", "0.001"], "seed 0's forget set holds 1 image(s) of the 1527")):
        assert main([*base, *flags]) == 1
        assert match in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    for flags, match in ((["--out", ""], "--out is empty"),
                         (["--out", str(tmp_path / "a_file")], "is a file; name a folder"),
                         (["--out", str(tmp_path / "a_file" / "below")], "cannot be created"),
                         (["--forget-fraction", "0"], r"argument --forget-fraction: expected a number in \(0, 1\)"),
                         (["--cnn-epochs", "0"], "argument --cnn-epochs: expected an integer >= 1"),
                         (["--image-size", "-5"], "argument --image-size: expected an integer >= 1"),
                         (["--forget-mode", "random", "--forget-classes", "3"], "--forget-mode random does not")):
        with pytest.raises(SystemExit) as exit_info:
            main(["unlearn", "--no-progress", *(["--out", str(tmp_path / "v")] if "--out" not in flags else []),
                  *flags])
        assert exit_info.value.code == 2 and re.search(match, capsys.readouterr().err), flags
    with pytest.raises(SystemExit):
        main(["render", "--seed", "-1"])
    assert "argument --seed: expected an integer >= 0" in capsys.readouterr().err
    assert not any((tmp_path / "u").glob("originals/*.pt")) and not (tmp_path / "v").exists()
    assert main(["render", "--out", str(tmp_path / "episode.png")]) == 1
    assert "give the file a .gif name" in capsys.readouterr().err


def _fake_mnist_downloader(calls: list[tuple[str, str]]):
    """Stands in for torchvision's download (no internet here): writes the split's idx files, as the real one does."""
    import numpy as np

    def download(root: Path, split: str) -> None:
        calls.append((str(root), split))
        raw = root / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        prefix = "train" if split == "train" else "t10k"
        count = 20
        rng = np.random.default_rng(len(calls))
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            np.array([0x803, count, 28, 28], ">i4").tobytes() + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(np.array([0x801, count], ">i4").tobytes() + labels.tobytes())

    return download


def test_download_flag_reaches_the_downloader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--download on train, render and unlearn fetches the missing MNIST files into --root (torchvision's
    downloader is replaced, since nothing can be downloaded here); without it the error says how to get them."""
    import masimu_env.datasets as datasets_module
    import unlearning.experiment

    calls: list[tuple[str, str]] = []
    monkeypatch.setitem(datasets_module._DOWNLOADERS, "mnist", _fake_mnist_downloader(calls))
    root = tmp_path / "mnist"
    assert main(["train", "--dataset", "mnist", "--root", str(root), "--epochs", "1", "--no-progress",
                 "--out", str(tmp_path / "no")]) == 1
    assert "--download on the masimu command line" in capsys.readouterr().err and not calls
    assert main(["train", "--dataset", "mnist", "--root", str(root), "--download", "--epochs", "1", "--no-progress",
                 "--batch-size", "8", "--out", str(tmp_path / "run")]) == 0
    assert calls == [(str(root), "train"), (str(root), "test")]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test_accuracy"] >= 0
    assert main(["render", "--dataset", "mnist", "--root", str(root), "--download",
                 "--out", str(tmp_path / "episode.gif")]) == 0
    assert (tmp_path / "episode.gif").is_file() and calls[-1] == (str(root), "test")

    seen: dict[str, object] = {}

    def fake_run_experiment(dataset, **kwargs):
        seen.update(kwargs, dataset=dataset)
        raise RuntimeError("stop here")

    monkeypatch.setattr(unlearning.experiment, "run_experiment", fake_run_experiment)
    assert main(["unlearn", "--dataset", "mnist", "--root", str(root), "--download", "--no-progress",
                 "--out", str(tmp_path / "u")]) == 1
    assert seen["dataset"] == "mnist" and seen["download"] is True and seen["root"] == str(root)


def test_run_experiment_refuses_load_options_for_given_datasets(digits_small) -> None:
    from unlearning.experiment import run_experiment

    train, test, _ = digits_small
    for option in ({"download": True}, {"root": "/data"}, {"image_size": 16}):
        with pytest.raises(ValueError, match="apply only when dataset is a name"):
            run_experiment((train, test), methods=["mu"], write=False, progress=False, **option)


def test_unlearn_refuses_flags_it_would_drop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty --forget-classes used to become a random class; a second --original of one kind replaced the first
    without a word."""
    assert main(["unlearn", "--forget-mode", "class", "--forget-classes", "--out", str(tmp_path / "a")]) == 1
    assert "--forget-classes was given without class names" in capsys.readouterr().err
    first, second = tmp_path / "a.pt", tmp_path / "b.pt"
    first.write_bytes(b"x"), second.write_bytes(b"x")
    assert main(["unlearn", "--original", f"cnn={first}", "--original", f"cnn={second}",
                 "--out", str(tmp_path / "b")]) == 1
    assert "--original gives cnn twice" in capsys.readouterr().err


def test_render_takes_a_device_for_a_checkpoint_saved_elsewhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from agents.train import train_main

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    out = tmp_path / "run"
    assert train_main(["--dataset", "digits", "--epochs", "1", "--out", str(out), "--no-progress", "--n-agents", "2",
                       "--hidden-size", "16", "--conv-channels", "8", "--feature-dim", "16"]) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    state["config"]["device"] = "cuda"
    torch.save(state, out / "checkpoint.pt")
    gif = tmp_path / "e.gif"
    assert main(["render", "--checkpoint", str(out / "checkpoint.pt"), "--out", str(gif)]) == 1
    assert "pass --device cpu" in capsys.readouterr().err
    assert main(["render", "--checkpoint", str(out / "checkpoint.pt"), "--device", "cpu", "--out", str(gif)]) == 0
    assert gif.is_file()


def test_forget_classes_imply_class_mode_and_threads_reach_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """--forget-classes 3 alone used to fail with "forget_classes is only used with mode='class'", naming no flag;
    `masimu train --help` did not list the --threads it accepts."""
    import unlearning.experiment

    seen: dict[str, object] = {}

    def fake_run_experiment(dataset, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(unlearning.experiment, "run_experiment", fake_run_experiment)
    assert main(["unlearn", "--forget-classes", "3", "--no-progress", "--out", str(tmp_path / "u")]) == 1
    assert seen["forget_mode"] == "class" and seen["forget_classes"] == ["3"]
    assert main(["unlearn", "--no-progress", "--out", str(tmp_path / "u")]) == 1
    assert seen["forget_mode"] == "random"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--threads THREADS" in capsys.readouterr().out


def test_the_default_method_list_resolves_and_matches_the_readme() -> None:
    """Every CLI test names --methods, so nothing ran the defaults' names through the registry."""
    import unlearning
    from unlearning.experiment import DEFAULT_METHODS

    assert DEFAULT_METHODS == ("retrain", "mu", "imu", "ma_retrain", "masmu", "masimu")
    for name in DEFAULT_METHODS:
        assert unlearning.get_method(name).name == name
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "(default Retrain, MU, IMU, the multi-agent Retrain `ma_retrain`, MASMU, MASIMU)" in readme
