"""TensorBoard logging of the learner's epochs (optional extra; the test extra installs it)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents import MAReinforce, TensorBoardLogger
from agents.train import train_main

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def _scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_logger_writes_every_number_of_each_epoch(tiny_config, digits_train, digits_test, few_rows, tmp_path):
    model = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    with TensorBoardLogger(tmp_path / "tb") as logger:
        model.fit(digits_train, epochs=2, indices=few_rows, val=digits_test, val_indices=np.arange(30),
                  progress=False, callbacks=[logger])
    scalars = _scalars(tmp_path / "tb")
    for tag in ("train/loss", "train/reward", "train/accuracy", "train/log_prob", "train/entropy", "train/lr",
                "val/accuracy", "val/loss", "time/seconds"):
        assert [step for step, _ in scalars[tag]] == [1, 2], tag
    assert "train/epoch" not in scalars
    assert [v for _, v in scalars["val/accuracy"]] == pytest.approx([h["val_accuracy"] for h in model.history])
    assert scalars["train/lr"][0][1] == pytest.approx(model.config.lr)


def test_train_cli_tensorboard_flag(tmp_path):
    out = tmp_path / "run"
    args = ["--dataset", "digits", "--epochs", "1", "--out", str(out), "--no-progress", "--n-agents", "2",
            "--n-steps", "2", "--hidden-size", "16", "--feature-dim", "16", "--conv-channels", "8"]
    assert train_main([*args, "--tensorboard"]) == 0
    assert [s for s, _ in _scalars(out / "tensorboard")["train/accuracy"]] == [1]
    assert json.loads((out / "metrics.json").read_text())["epochs_done"] == 1
    elsewhere = tmp_path / "tb"
    assert train_main([*args, "--out", str(tmp_path / "run2"), "--tensorboard", str(elsewhere)]) == 0
    assert "train/loss" in _scalars(elsewhere)


def test_missing_tensorboard_package_is_named_with_its_install_command(monkeypatch, tmp_path):
    import importlib.util
    import sys

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard"
                        else real_find_spec(name, *a))
    with pytest.raises(ValueError, match=r"--tensorboard needs the tensorboard package: pip install 'masimu\[tensorboard\]'"):
        train_main(["--dataset", "digits", "--out", str(tmp_path / "run"), "--tensorboard"])
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ModuleNotFoundError, match="TensorBoard logging needs the tensorboard package"):
        TensorBoardLogger(tmp_path / "tb")
