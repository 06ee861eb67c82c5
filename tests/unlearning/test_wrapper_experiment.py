"""Retain-set episodes, the optimizer hook, and the experiment runner's report files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from unlearning.data import UnlearningData
from unlearning.interpretable import InterpretableWeights
from unlearning.wrapper import InterpretableStepHook, retain_env


def _weights(data, seed=0):
    rng = np.random.default_rng(seed)
    forget = rng.normal(size=(len(data.forget), 4))
    retain = forget.mean(0) + 0.7 * rng.normal(size=(len(data.retain), 4))
    return InterpretableWeights(data.retain, retain, forget)


def test_retain_env_plays_only_retained_images(digits_small):
    train, _, split = digits_small
    env = retain_env(train, split, seed=0)
    retained = set(split.retain.tolist())
    for episode in range(40):
        _, infos = env.reset(seed=episode)
        assert infos[env.agents[0]]["image_index"] in retained
    played = env.played_indices()
    assert played.size == 40 and set(played.tolist()) <= retained
    assert env.played_indices().size == 0
    with pytest.raises(ValueError, match="not in the retain set"):
        env.reset(options={"image_index": int(split.forget[0])})


def test_step_hook_scales_by_one_minus_iw_of_played_batch(digits_small):
    train, _, split = digits_small
    data = UnlearningData.from_split(train, split)
    weights = _weights(data)
    env = retain_env(train, split, seed=1)
    for episode in range(8):
        env.reset(seed=episode)
    expected = weights.weight(env.played_indices(clear=False))
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    hook = InterpretableStepHook(weights, env)
    handle = hook.attach(optimizer)
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.ones(1, 3)).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    optimizer.step()
    for b, g, p in zip(before, grads, model.parameters()):
        assert torch.allclose(p, b - (1.0 - expected) * g, atol=1e-6)
    assert hook.history == [pytest.approx(expected)] and 0 < expected < 1
    handle.remove()


def test_run_experiment_writes_report(digits_small, tmp_path):
    from unlearning.experiment import run_experiment

    train, test, _ = digits_small
    report = run_experiment((train, test), methods=["retrain", "mu", "imu"], seeds=[0, 1],
                            out_dir=tmp_path, cnn_epochs=1, settings={"lime_num_samples": 16, "epochs": 1},
                            progress=False)
    for name in ("report.json", "report.md", "curves.png", "time.png"):
        assert (tmp_path / name).stat().st_size > 0
    saved = json.loads((tmp_path / "report.json").read_text())
    assert len(saved["runs"]) == 6 and saved["sizes"]["forget"] == 30
    markdown = (tmp_path / "report.md").read_text()
    assert "| imu | cnn |" in markdown and "(chance 0.500)" in markdown and "±" in markdown
    summary = report.summary()
    assert summary["retrain"]["avg_gap"] == (0.0, 0.0) and summary["retrain"]["time_ratio"][0] == 1.0
    assert np.isfinite(summary["imu"]["time_ratio"][0])
    times = report.values("mu", "time_s")
    assert summary["mu"]["time_s"] == pytest.approx((times.mean(), times.std(ddof=1)))  # sample std over 2 seeds
    assert "sample standard deviation over seeds (ddof=1)" in markdown
    # the originals are reused by a second run
    assert len(list((tmp_path / "originals").glob("cnn_*.pt"))) == 2
    with pytest.raises(ValueError, match="available"):
        run_experiment((train, test), methods=["nope"], out_dir=tmp_path, progress=False)


def test_run_experiment_with_given_original(digits_small, trained_cnn, tmp_path):
    from unlearning.experiment import run_experiment

    train, test, _ = digits_small
    path = tmp_path / "cnn.pt"
    torch.save(trained_cnn.state_dict(), path)
    report = run_experiment((train, test), methods=["original", "mu"], out_dir=tmp_path / "out",
                            originals={"cnn": str(path)}, settings={"epochs": 1}, progress=False)
    assert report.summary()["original"]["completeness"][0] == 1.0
    assert "loaded from" in report.to_markdown()
    assert not list((tmp_path / "out" / "originals").glob("cnn_*.pt"))
    with pytest.raises(ValueError, match="originals keys"):
        run_experiment((train, test), methods=["mu"], out_dir=tmp_path, originals={"resnet": str(path)})
    with pytest.raises(FileNotFoundError, match=r"originals\['cnn'\]: no file at '.*no\.pt'"):
        run_experiment((train, test), methods=["mu"], out_dir=tmp_path, originals={"cnn": str(tmp_path / "no.pt")})


def test_each_model_kind_is_scored_against_its_own_retrain(digits_small):
    """MALMU/MALIMU (LSTM) against ma_lstm_retrain, MASMU (GRU) against ma_retrain, MU (CNN) against retrain; an
    LSTM method without an LSTM Retrain gets no Avg. Gap rather than one against the GRU Retrain."""
    from unlearning.data import UnlearningData
    from unlearning.experiment import MethodRun, _fill_relative
    from unlearning.metrics.evaluate import Evaluation

    def run(method, accuracy, time_s):
        evaluation = Evaluation(*([accuracy] * 14), time_s=time_s)
        return MethodRun(method, 0, "ma", {}, {}), evaluation

    train, _, split = digits_small
    data = UnlearningData.from_split(train, split)
    runs = [run("retrain", 0.9, 10.0), run("mu", 0.8, 1.0), run("ma_retrain", 0.7, 20.0), run("masmu", 0.6, 2.0),
            run("ma_lstm_retrain", 0.5, 40.0), run("malmu", 0.2, 4.0)]
    _fill_relative(runs, {}, data)
    got = {r.method: (r.time_reference, round(e.time_ratio, 6), round(e.avg_gap, 6)) for r, e in runs}
    assert got["mu"] == ("retrain", 0.1, 0.1)
    assert got["masmu"] == ("ma_retrain", 0.1, 0.1)
    assert got["malmu"] == ("ma_lstm_retrain", 0.1, 0.3)
    alone = [run("ma_retrain", 0.7, 20.0), run("malmu", 0.2, 4.0)]
    info = {"train_time_s": 80.0}
    _fill_relative(alone, {"ma_lstm": (None, info, None), "ma_gru": (None, info, None)}, data)
    assert np.isnan(alone[1][1].avg_gap) and "no Retrain run of this model kind" in alone[1][0].time_reference
    share = len(data.retain) / len(data.train)
    assert alone[1][1].time_ratio == pytest.approx(4.0 / (80.0 * share))
    # a given original has no training time: no ratio, and no footnote claiming an estimate that was not made
    given = [run("malmu", 0.2, 4.0)]
    _fill_relative(given, {"ma_lstm": (None, {"train_time_s": float("nan")}, None)}, data)
    assert np.isnan(given[0][1].time_ratio) and given[0][0].time_reference == ""


def test_run_experiment_checks_every_setting_before_training(digits_small, tmp_path):
    from unlearning.experiment import run_experiment

    train, test, _ = digits_small
    for kwargs, match in ((dict(method_settings={"mu": {"epoch": 3}}), "Unknown unlearning setting"),
                          (dict(settings={"seed": 3}), r"settings sets \['seed'\]"),
                          (dict(method_settings={"mu": {"device": "cpu"}}), r"method_settings\['mu'\] sets"),
                          (dict(cnn_epochs=-5), "cnn_epochs must be an int >= 1"),
                          # settings that would be recorded but never used
                          (dict(settings={"salun_threshold": 0.3}), "salun_threshold is used by none of the methods"),
                          (dict(method_settings={"retrain": {"epochs": 3}}), "'retrain' does not use epochs"),
                          (dict(method_settings={"mu": {"lime_num_samples": 8}}), "'mu' does not use lime_num_samples"),
                          (dict(agent_overrides={"hidden_size": 8}), "agent_overrides apply to the multi-agent"),
                          (dict(arch="bogus"), "arch must be one of"),
                          (dict(seeds=[0, 0]), "seeds names 0 more than once"),
                          (dict(settings={"lr": True}), "UnlearningConfig.lr must be a number; got True")):
        with pytest.raises(ValueError, match=match):
            run_experiment((train, test), methods=["retrain", "mu"], out_dir=tmp_path, progress=False, **kwargs)
    for kwargs, match in ((dict(methods=["mu", "mu"]), "methods names mu more than once"),
                          (dict(methods=["retrain", "imu"], settings={"optimizer": "adam"}), "'imu' scales every"),
                          (dict(methods=["masmu"], agent_overrides={"seed": 3}), r"agent_overrides sets \['seed'\]"),
                          (dict(methods=["masmu"], agent_overrides={"no_such": 1}), "no_such"),
                          (dict(methods=["masmu"], arch="resnet18"), "arch='resnet18' chooses the standard")):
        with pytest.raises((ValueError, TypeError), match=match):
            run_experiment((train, test), out_dir=tmp_path, progress=False, **kwargs)
    assert not any((tmp_path / "originals").glob("*.pt")), "an original was trained before the settings were checked"


def test_cached_learner_originals_are_keyed_by_the_resolved_config(digits_small, tmp_path):
    """An override equal to the default reuses the cached original; any other value of any field (a changed default
    included) trains a new one instead of loading a model of another configuration."""
    from unlearning.experiment import original_model

    train, test, _ = digits_small
    tiny = dict(hidden_size=8, feature_dim=8, conv_channels=4, position_dim=4, raw_message_dim=4, message_dim=4)
    kw = dict(kind="ma_gru", train=train, test=test, seed=0, epochs=1, out=tmp_path, device="cpu", progress=False)
    _, first = original_model(**kw, agent_overrides=tiny)
    _, same = original_model(**kw, agent_overrides={**tiny, "combine": "logits"})  # the default, spelled out
    assert same["path"] == first["path"]
    model, other = original_model(**kw, agent_overrides={**tiny, "combine": "probs"})
    assert other["path"] != first["path"] and model.config.combine == "probs"
    assert len(list(tmp_path.glob("ma_gru-*.pt"))) == 2


def test_cached_originals_and_checkpoints_follow_the_pixels(digits_small, tmp_path):
    """The originals' cache and the Retrain checkpoints were keyed by name, labels and shape: other pixels under
    the same name reused the old model, and a new test set kept the old original's test accuracy. A corrupt
    cached original is trained again with a warning instead of failing every later run."""
    from masimu_env.datasets import ImageDataset
    from unlearning.experiment import run_experiment
    from unlearning.models import predict_proba

    train, test, _ = digits_small
    images, _ = train.get_batch(np.arange(len(train)))
    inverted = ImageDataset(train.name, train.labels, train.classes, images=255 - images)
    kwargs = dict(methods=["retrain"], out_dir=tmp_path, cnn_epochs=1, progress=False, write=False)
    first = run_experiment((train, test), **kwargs)
    with pytest.warns(UserWarning, match="retrain.ckpt' holds a retrain checkpoint of other data"):
        second = run_experiment((inverted, test), **kwargs)
    assert len(list((tmp_path / "originals").glob("cnn_*.pt"))) == 2
    assert second.runs[0].record["resumed_from_epoch"] in (None, 0)
    # another test set: the cached original's test accuracy is measured on it, not copied
    other_test = test.subset(np.arange(60))
    with pytest.warns(UserWarning, match="holds a retrain checkpoint of other data"):  # the inverted run's
        third = run_experiment((train, other_test), **kwargs)
    info = third.originals["cnn/seed0"]
    assert info["path"] == first.originals["cnn/seed0"]["path"]
    from unlearning.experiment import original_model
    model, _ = original_model("cnn", train, other_test, 0, 1, tmp_path / "originals", "cpu", False, {})
    assert info["test_accuracy"] == float((predict_proba(model, other_test).argmax(1) == other_test.labels).mean())
    (tmp_path / "originals" / (first.originals["cnn/seed0"]["path"].rsplit("/", 1)[1][:-3] + ".json")).write_text("{")
    with pytest.warns(UserWarning, match="Ignoring the unreadable cached original"):
        run_experiment((train, test), **kwargs)


def test_report_gives_forget_sizes_per_seed(digits_small, tmp_path):
    from unlearning.experiment import run_experiment

    train, test, _ = digits_small
    report = run_experiment((train, test), methods=["mu"], seeds=[0, 1, 2], forget_mode="class", out_dir=tmp_path,
                            cnn_epochs=1, settings={"epochs": 1}, progress=False, write=False)
    per_seed = report.sizes["per_seed"]
    assert sorted(per_seed) == [0, 1, 2]
    forget = sorted({v["forget"] for v in per_seed.values()})
    header = report.to_markdown().splitlines()[0]
    assert (f"forget {forget[0]}-{forget[-1]} (by seed)" if len(forget) > 1 else f"forget {forget[0]},") in header


def test_agent_overrides_are_checked_against_the_datasets_defaults(tmp_path):
    """The early check built AgentConfig(**overrides) on the bare defaults (3 agents), so a 16x16 graph for a
    HAM10000-like set (16 agents) was refused although the run would use it."""
    from masimu_env.datasets.base import ImageDataset
    from unlearning.experiment import run_experiment
    from unlearning.methods import settings_read_by

    rng = np.random.default_rng(0)
    make = lambda n: ImageDataset("ham10000", np.arange(n) % 7, [f"c{k}" for k in range(7)],  # noqa: E731
                                  images=torch.from_numpy(rng.integers(0, 256, (n, 3, 16, 16), dtype=np.uint8)))
    ring = (np.roll(np.eye(16, dtype=int), 1, axis=1) + np.roll(np.eye(16, dtype=int), -1, axis=1)).tolist()
    report = run_experiment((make(28), make(14)), methods=["ma_original"], out_dir=tmp_path, ma_epochs=1,
                            agent_overrides={"graph": ring, "hidden_size": 8, "conv_channels": 4, "feature_dim": 8},
                            progress=False, write=False)
    assert report.runs[0].method == "ma_original"
    assert "lime_grid" not in settings_read_by(["masmu", "ma_retrain"])
    assert {"lime_grid", "epochs"} <= settings_read_by(["masmu", "imu"])
