"""The `masimu train` CLI and data-parallel training (2 CPU processes, gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agents import MAReinforce
from agents.ddp import spawn_fit
from agents.learner import _has_unused_parameters
from agents.train import train_main

TINY_ARGS = ["--n-agents", "2", "--n-steps", "3", "--conv-channels", "8", "--feature-dim", "16", "--hidden-size", "16",
             "--position-dim", "4", "--raw-message-dim", "4", "--message-dim", "4", "--batch-size", "32"]


def test_train_main_writes_checkpoint_and_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(["--dataset", "digits", "--epochs", "2", "--out", str(out), "--no-progress", *TINY_ARGS]) == 0
    printed = capsys.readouterr().out
    assert "epoch 1:" in printed and "epoch 2:" in printed and "test accuracy" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["n_test"] == 270 and metrics["epochs_done"] == 2
    assert len(metrics["history"]) == 2 and (out / "history.csv").is_file()
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "curves.png" in printed
    model = MAReinforce.load(out / "checkpoint.pt")
    assert model.epochs_done == 2 and model.config.hidden_size == 16
    # --resume continues to --epochs in total
    assert train_main(["--dataset", "digits", "--epochs", "3", "--out", str(out), "--no-progress", "--resume"]) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs_done"] == 3


def test_train_main_lstm_and_bad_args(tmp_path):
    out = tmp_path / "lstm"
    train_main(["--dataset", "digits", "--epochs", "1", "--belief", "lstm", "--out", str(out), "--no-progress", *TINY_ARGS])
    assert json.loads((out / "metrics.json").read_text())["config"]["belief"] == "lstm"
    with pytest.raises(SystemExit):
        train_main(["--dataset", "digits", "--belief", "rnn"])
    with pytest.raises(ValueError, match="--dataset 'nope' is not a dataset; choose one of cifar10, digits"):
        train_main(["--dataset", "nope", "--out", str(tmp_path / "x")])


def test_resume_refuses_changed_settings_and_other_flag_mistakes(tmp_path):
    out = tmp_path / "run"
    train_main(["--dataset", "digits", "--epochs", "1", "--out", str(out), "--no-progress", *TINY_ARGS])
    with pytest.raises(ValueError, match=r"--belief 'lstm' \(saved: 'gru'\), --lr 0.5 \(saved: 0.003\)"):
        train_main(["--dataset", "digits", "--epochs", "2", "--out", str(out), "--resume", "--lr", "0.5",
                    "--belief", "lstm"])
    with pytest.raises(ValueError, match=r"on the data it was trained on.*--split-from 'test' \(saved: None\)"):
        train_main(["--dataset", "digits", "--epochs", "2", "--out", str(out), "--resume", "--split-from", "test"])
    # another world size is not a flag (it named a --world-size there is none of): say how to relaunch
    data_file = out / "data.json"
    saved = data_file.read_text()
    data_file.write_text(saved.replace('"world_size": 1', '"world_size": 2'))
    with pytest.raises(ValueError, match=r"relaunch with torchrun --nproc_per_node 2 \(this run has 1 process"):
        train_main(["--dataset", "digits", "--epochs", "2", "--out", str(out), "--resume"])
    data_file.write_text(saved)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ValueError, match="--tensorboard .*a_file is a file, not a folder"):
        train_main(["--dataset", "digits", "--epochs", "1", "--out", str(tmp_path / "tb"), "--tensorboard",
                    str(tmp_path / "a_file")])
    with pytest.raises(ValueError, match="--dataset 'bogus' is not a dataset; choose one of"):
        train_main(["--dataset", "bogus", "--out", str(tmp_path / "typo")])
    assert not (tmp_path / "typo").exists()  # a typo left an empty --out folder behind
    with pytest.raises(SystemExit):  # argparse: "argument --image-size: expected an integer >= 1; got 0"
        train_main(["--dataset", "digits", "--epochs", "1", "--out", str(tmp_path / "img"), "--image-size", "0"])
    # the same values as saved are fine
    assert train_main(["--dataset", "digits", "--epochs", "2", "--out", str(out), "--no-progress", "--resume",
                       *TINY_ARGS]) == 0
    with pytest.raises(ValueError, match="--train-fraction applies only with --split-from"):
        train_main(["--dataset", "digits", "--train-fraction", "0.5", "--out", str(tmp_path / "x")])
    with pytest.raises(ValueError, match="leaves no test images"):
        train_main(["--dataset", "digits", "--split-from", "test", "--train-fraction", "0.999",
                    "--out", str(tmp_path / "y")])
    fresh = tmp_path / "zero"
    assert train_main(["--dataset", "digits", "--epochs", "0", "--out", str(fresh), "--no-progress", *TINY_ARGS]) == 0
    assert MAReinforce.load(fresh / "checkpoint.pt").epochs_done == 0
    assert not (fresh / "curves.png").exists()  # no epoch, no curve


def test_smoke_training_learns_digits(tmp_path):
    """About 300 updates take the agents well above chance (10%) on held-out digits."""
    out = tmp_path / "smoke"
    train_main(["--dataset", "digits", "--epochs", "3", "--out", str(out), "--no-progress", "--batch-size", "16",
                "--hidden-size", "32", "--conv-channels", "16", "--feature-dim", "32"])
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] > 0.35


@pytest.mark.parametrize("policy", ["learned", "random"])
def test_ddp_two_processes_keep_parameters_identical(tmp_path, tiny_config, policy):
    """DDP searches for unused parameters only where some exist (the random walk's decision RNN and pi): searching
    in vain makes torch warn on every run, and not searching where they exist fails in the gradient reduction."""
    config = tiny_config(policy=policy).to_dict()
    rows = list(range(0, 96))
    paths = spawn_fit(2, config, "digits", tmp_path, epochs=1, indices=rows)
    rank0, rank1 = (torch.load(p, weights_only=True) for p in paths)
    start = MAReinforce(config, 10, (1, 8, 8)).net.state_dict()
    moved = False
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
        moved |= not torch.equal(rank0[key], start[key])
    assert moved, "DDP training did not change the parameters"
    assert _has_unused_parameters("random", 3) and _has_unused_parameters("sample", 1)
    assert not _has_unused_parameters("sample", 3)


def _stop_worker(rank: int, world_size: int, init_file: str, config: dict, out_dir: str) -> None:
    import datetime

    from masimu_env import datasets

    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size,
                                         timeout=datetime.timedelta(seconds=60))
    try:
        torch.set_num_threads(1)
        model = MAReinforce(config, 10, (1, 8, 8))
        only_rank0_stops = lambda learner, record: rank == 0  # noqa: E731
        model.fit(datasets.load("digits", split="train"), epochs=3, indices=list(range(64)), progress=False,
                  callbacks=[only_rank0_stops])
        torch.save({"epochs_done": model.epochs_done}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_ddp_ranks_stop_after_the_same_epoch(tmp_path, tiny_config):
    """A stop decided on one rank (a callback, or its own clock for max_seconds) stops every rank: a rank that went
    on alone would wait forever in the next gradient all-reduce."""
    torch.multiprocessing.spawn(_stop_worker, nprocs=2, join=True,
                                args=(2, str(tmp_path / "dist_init"), tiny_config().to_dict(), str(tmp_path)))
    assert [torch.load(tmp_path / f"rank{r}.pt")["epochs_done"] for r in range(2)] == [1, 1]


@pytest.mark.slow
def test_torchrun_launch(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "agents.train",
           "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path), "--no-progress", *TINY_ARGS]
    subprocess.run(cmd, check=True, env=env, cwd=Path(__file__).resolve().parents[2], timeout=300)
    assert json.loads((tmp_path / "metrics.json").read_text())["world_size"] == 2
    _ = np


@pytest.mark.parametrize("device, backend", [("cpu", "gloo"), ("cuda", "nccl"), ("cuda:0", "nccl")])
def test_backend_follows_the_training_device_not_the_machine(monkeypatch, device, backend):
    """On a GPU machine a CPU run must still use gloo (nccl cannot reduce CPU tensors; seen failing on an H200)."""
    import torch.distributed as dist

    from agents import ddp

    joined = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: joined.setdefault("backend", backend))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    assert ddp.init_distributed(device=device) == (1, 2)
    assert joined["backend"] == backend


def test_rank_device_maps_bare_cuda_to_the_local_rank(monkeypatch):
    from agents import ddp

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    picked = []
    monkeypatch.setattr(torch.cuda, "set_device", picked.append)
    assert ddp.rank_device("cuda") == "cuda:1" and picked == [1]
    assert ddp.rank_device("cpu") == "cpu" and ddp.rank_device("cuda:0") == "cuda:0"
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert ddp.rank_device("cuda") == "cuda"


def test_train_flags_resume_and_outputs_review_cases(tmp_path, monkeypatch):
    out = tmp_path / "run"
    # --grad-clip none was dropped as if not given (the run clipped at 1.0)
    assert train_main(["--dataset", "digits", "--epochs", "1", "--out", str(out), "--no-progress", "--grad-clip",
                       "none", *TINY_ARGS]) == 0
    assert json.loads((out / "metrics.json").read_text())["config"]["grad_clip"] is None
    # a total below the epochs done (or negative) trained nothing and exited 0
    for epochs in ("0", "-5"):
        with pytest.raises(ValueError, match=r"--epochs .* is the total to reach, but .* has done 1 epochs"):
            train_main(["--dataset", "digits", "--epochs", epochs, "--out", str(out), "--resume", "--no-progress"])
    # the resumed total is what the saved config and metrics say (it stayed at the first run's)
    assert train_main(["--dataset", "digits", "--epochs", "2", "--out", str(out), "--resume", "--no-progress"]) == 0
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["epochs_done"] == 2 and saved["config"]["epochs"] == 2
    assert MAReinforce.load(out / "checkpoint.pt").config.epochs == 2
    # the same graph spelt as its matrix is not a change; a damaged data.json is named
    complete = "[[0,1],[1,0]]"
    assert train_main(["--dataset", "digits", "--epochs", "2", "--out", str(out), "--resume", "--no-progress",
                       "--graph", complete]) == 0
    (out / "data.json").write_text("[1]")
    with pytest.raises(ValueError, match=r"data.json' holds list, not the data options of a run"):
        train_main(["--dataset", "digits", "--epochs", "3", "--out", str(out), "--resume", "--no-progress"])
    (out / "data.json").write_text("")
    with pytest.raises(ValueError, match=r"data.json' cannot be read"):
        train_main(["--dataset", "digits", "--epochs", "3", "--out", str(out), "--resume", "--no-progress"])
    # a run with the default --train-fraction resumes with it written out
    split_run = tmp_path / "split"
    base = ["--dataset", "digits", "--split-from", "test", "--out", str(split_run), "--no-progress", *TINY_ARGS]
    assert train_main([*base, "--epochs", "1"]) == 0
    assert train_main([*base, "--epochs", "1", "--resume", "--train-fraction", "0.85"]) == 0
    # torchrun's variables are named when they are not integers; a world size below 1 is refused
    from agents.ddp import init_distributed
    for name, value, match in (("WORLD_SIZE", "abc", "WORLD_SIZE='abc' is not an integer"),
                               ("WORLD_SIZE", "-3", "WORLD_SIZE=-3 must be >= 1")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=match):
            init_distributed()
    monkeypatch.delenv("WORLD_SIZE")
    with pytest.raises(ValueError, match="world_size must be an int >= 1; got 0"):
        spawn_fit(0, {}, "digits", tmp_path / "ddp")


def test_resume_of_a_checkpoint_for_a_missing_device_names_the_flag(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    out = tmp_path / "run"
    assert train_main(["--dataset", "digits", "--epochs", "1", "--out", str(out), "--no-progress", *TINY_ARGS]) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    state["config"]["device"] = "cuda"
    torch.save(state, out / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"was trained on 'cuda', which this machine cannot use .* pass --device cpu"):
        train_main(["--dataset", "digits", "--epochs", "2", "--out", str(out), "--resume", "--no-progress"])
    assert train_main(["--dataset", "digits", "--epochs", "2", "--out", str(out), "--resume", "--no-progress",
                       "--device", "cpu"]) == 0
