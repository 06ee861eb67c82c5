"""MAReinforce: gradient flow, determinism, checkpoints, resume, hooks, evaluation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from agents import MAReinforce


def _params(model: MAReinforce) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.net.state_dict().items()}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_policy_gradient_reaches_policy_params(tiny_config, digits_train, few_rows):
    """With no entropy bonus, r_tau does not depend on pi (moves are discrete), so a gradient on pi can only come
    from log p_tau * advantage: REINFORCE really runs."""
    model = MAReinforce(tiny_config(entropy_coef=0.0), 10, digits_train.image_shape)
    before = _params(model)
    grads = {}

    def record_grads(net, rows):
        grads["policy"] = net.policy.weight.grad.detach().clone()
        grads["prediction"] = None if net.prediction.weight.grad is None else net.prediction.weight.grad.clone()

    model.fit(digits_train, epochs=1, indices=few_rows[:16], batch_size=16, grad_hook=record_grads,
              progress=False)
    assert grads["policy"].abs().sum() > 0
    assert not torch.equal(before["policy.weight"], model.net.policy.weight)
    assert not torch.equal(before["prediction.weight"], model.net.prediction.weight)


def test_random_walk_policy_gets_no_policy_gradient(tiny_config, digits_train, few_rows):
    model = MAReinforce(tiny_config(policy="random"), 10, digits_train.image_shape)
    before = _params(model)
    model.fit(digits_train, epochs=1, indices=few_rows, progress=False)
    assert torch.equal(before["policy.weight"], model.net.policy.weight)  # pi is never used
    assert not torch.equal(before["prediction.weight"], model.net.prediction.weight)


def test_random_walk_ignores_the_baseline(tiny_config, digits_train, few_rows):
    """The random walk has no policy term, so every baseline trains it identically (greedy used to raise)."""
    trained = []
    for baseline in ("mean", "greedy", "none"):
        model = MAReinforce(tiny_config(policy="random", baseline=baseline), 10, digits_train.image_shape)
        model.fit(digits_train, epochs=1, indices=few_rows, progress=False)
        trained.append(_params(model))
    _assert_same(trained[0], trained[1])
    _assert_same(trained[0], trained[2])


def test_eval_policy_random_switches_the_trained_policy_off(tiny_config, digits_train, digits_test, few_rows):
    """eval_policy='random' plays the trained networks with uniform moves: exactly what the same weights do as a
    random walk, and not the greedy moves of pi."""
    model = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    model.fit(digits_train, epochs=1, indices=few_rows, progress=False)
    rows = np.arange(40)
    greedy = model.episode_outputs(digits_test, rows)
    model.config = model.config.replace(eval_policy="random")
    ablated = model.episode_outputs(digits_test, rows)
    walker = MAReinforce(tiny_config(policy="random"), 10, digits_train.image_shape)
    walker.net.load_state_dict(model.net.state_dict())
    walk = walker.episode_outputs(digits_test, rows)
    assert torch.equal(ablated["moves"], walk["moves"])
    assert torch.equal(ablated["probs"], walk["probs"])
    assert not torch.equal(ablated["moves"], greedy["moves"])


def test_greedy_baseline_scores_the_greedy_rollout_from_the_same_starts(tiny_config, digits_train, few_rows, monkeypatch):
    """baseline='greedy': each batch also plays argmax pi from the sampled episodes' start corners, without gradient."""
    import agents.learner as learner_module

    calls = []
    real = learner_module.run_episode

    def spy(net, simulator, images, labels, generator, mode="sample", corners=None, step_rewards=False):
        calls.append((mode, None if corners is None else corners.clone(), torch.is_grad_enabled()))
        return real(net, simulator, images, labels, generator, mode, corners, step_rewards)

    monkeypatch.setattr(learner_module, "run_episode", spy)
    model = MAReinforce(tiny_config(baseline="greedy"), 10, digits_train.image_shape)
    before = _params(model)
    model.fit(digits_train, epochs=1, indices=few_rows[:32], batch_size=16, progress=False)
    greedy = [c for c in calls if c[0] == "greedy" and c[1] is not None]
    assert len(greedy) == 2 and not any(c[2] for c in greedy)  # one per batch, no autograd graph
    assert not torch.equal(before["policy.weight"], model.net.policy.weight)
    again = MAReinforce(tiny_config(baseline="greedy"), 10, digits_train.image_shape)
    again.fit(digits_train, epochs=1, indices=few_rows[:32], batch_size=16, progress=False)
    _assert_same(_params(model), _params(again))


def test_rollouts_per_image_play_each_image_k_times_from_the_same_starts(tiny_config, digits_train, few_rows,
                                                                       monkeypatch):
    """rollouts_per_image=K: every batch plays K consecutive episodes per image, same label and start corners, each
    with its own sampled moves; training with the leave-one-out baseline is deterministic and moves pi."""
    import agents.rollout as rollout_module

    episodes = []
    real = rollout_module.run_episode

    def spy(net, simulator, images, labels, generator, mode="sample", corners=None, step_rewards=False):
        out = real(net, simulator, images, labels, generator, mode, corners, step_rewards)
        episodes.append((images.clone(), labels.clone(), out["path"].clone()))
        return out

    monkeypatch.setattr(rollout_module, "run_episode", spy)
    config = tiny_config(baseline="loo", rollouts_per_image=3, normalize_advantage=False)
    model = MAReinforce(config, 10, digits_train.image_shape)
    before = _params(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unnormalized: no warning
        model.fit(digits_train, epochs=1, indices=few_rows[:32], batch_size=16, progress=False)
    assert [e[1].shape[0] for e in episodes] == [48, 48]
    for images, labels, path in episodes:
        grouped = path.view(16, 3, *path.shape[1:])
        assert torch.equal(grouped[:, :, 0], grouped[:, :1, 0].expand_as(grouped[:, :, 0]))  # same start corners
        assert not torch.equal(grouped[:, :, 1:], grouped[:, :1, 1:].expand_as(grouped[:, :, 1:]))  # own moves
        assert torch.equal(labels.view(16, 3), labels.view(16, 3)[:, :1].expand(16, 3))
        assert torch.equal(images.view(16, 3, -1), images.view(16, 3, -1)[:, :1].expand(16, 3, -1))
    assert not torch.equal(before["policy.weight"], model.net.policy.weight)
    monkeypatch.setattr(rollout_module, "run_episode", real)
    again = MAReinforce(config, 10, digits_train.image_shape)
    again.fit(digits_train, epochs=1, indices=few_rows[:32], batch_size=16, progress=False)
    _assert_same(_params(model), _params(again))
    normalized = MAReinforce(config.replace(normalize_advantage=True), 10, digits_train.image_shape)
    with pytest.warns(UserWarning, match="normalize_advantage=False"):
        normalized.fit(digits_train, epochs=1, indices=few_rows[:16], progress=False)


@pytest.mark.parametrize("belief", ["gru", "lstm"])
def test_training_is_deterministic_on_cpu(tiny_config, digits_train, few_rows, belief):
    runs = []
    for _ in range(2):
        model = MAReinforce(tiny_config(belief=belief), 10, digits_train.image_shape)
        result = model.fit(digits_train, epochs=2, indices=few_rows, progress=False)
        runs.append((_params(model), result.history, model.predict_proba(digits_train, few_rows[:10])))
    _assert_same(runs[0][0], runs[1][0])
    assert [h["train_loss"] for h in runs[0][1]] == [h["train_loss"] for h in runs[1][1]]
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
    other = MAReinforce(tiny_config(belief=belief, seed=1), 10, digits_train.image_shape)
    assert not torch.equal(other.net.policy.weight, MAReinforce(tiny_config(belief=belief), 10, (1, 8, 8)).net.policy.weight)


@pytest.mark.parametrize("belief", ["gru", "lstm"])
def test_checkpoint_round_trip_weights_only(tiny_config, digits_train, digits_test, few_rows, tmp_path, belief):
    model = MAReinforce(tiny_config(belief=belief), 10, digits_train.image_shape)
    model.fit(digits_train, epochs=1, indices=few_rows, progress=False)
    path = tmp_path / "ckpt.pt"
    model.save(path)
    raw = torch.load(path, weights_only=True)
    assert raw["config"]["belief"] == belief and raw["epochs_done"] == 1
    loaded = MAReinforce.load(path)
    assert loaded.config == model.config and loaded.epochs_done == 1
    _assert_same(_params(model), _params(loaded))
    np.testing.assert_array_equal(model.predict_proba(digits_test, np.arange(20)),
                                  loaded.predict_proba(digits_test, np.arange(20)))
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        MAReinforce.load(tmp_path / "missing.pt")


def test_checkpoint_with_numpy_scalars_loads_weights_only(tiny_config, digits_train, few_rows, tmp_path):
    """A NumPy learning rate (e.g. from a NumPy cosine schedule) or NumPy metric in the history is saved as a Python
    number: torch.load(weights_only=True) refuses NumPy scalar objects."""
    def numpy_schedule(learner, record):
        for group in learner.optimizer.param_groups:
            group["lr"] = np.float64(0.5) * learner.config.lr
        record["custom"] = np.float32(0.25)

    model = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    model.fit(digits_train, epochs=1, indices=few_rows, progress=False, callbacks=[numpy_schedule])
    model.save(tmp_path / "ckpt.pt")
    loaded = MAReinforce.load(tmp_path / "ckpt.pt")
    lr = loaded.optimizer.param_groups[0]["lr"]
    assert type(lr) is float and lr == 0.5 * model.config.lr
    assert type(loaded.history[0]["custom"]) is float and loaded.history[0]["custom"] == 0.25
    _assert_same(_params(model), _params(loaded))


def test_resume_equals_uninterrupted_run(tiny_config, digits_train, few_rows, tmp_path):
    straight = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    straight.fit(digits_train, epochs=3, indices=few_rows, progress=False)

    first = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    first.fit(digits_train, epochs=1, indices=few_rows, progress=False, checkpoint_path=tmp_path / "c.pt")
    resumed = MAReinforce.load(tmp_path / "c.pt")
    resumed.fit(digits_train, epochs=2, indices=few_rows, progress=False)
    _assert_same(_params(straight), _params(resumed))
    assert [h["train_loss"] for h in straight.history] == [h["train_loss"] for h in resumed.history]


def test_grad_hook_sees_retain_rows_and_can_cancel_updates(tiny_config, digits_train):
    retain = np.arange(100, 180)
    model = MAReinforce(tiny_config(batch_size=32), 10, digits_train.image_shape)
    before = _params(model)
    seen: list[np.ndarray] = []

    def zero_grads(net, rows):
        seen.append(np.asarray(rows))
        for p in net.parameters():
            if p.grad is not None:
                p.grad.mul_(0.0)  # (1 - I_w) with I_w = 1

    model.fit(digits_train, epochs=1, indices=retain, grad_hook=zero_grads, progress=False)
    assert [len(s) for s in seen] == [32, 32, 16]
    assert sorted(np.concatenate(seen).tolist()) == retain.tolist()
    _assert_same(before, _params(model))  # Adam with zero gradients does not move


def test_fine_tune_with_sgd_and_lr(tiny_config, digits_train, few_rows):
    model = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    model.fit(digits_train, epochs=1, indices=few_rows, progress=False)
    model.fit(digits_train, epochs=1, indices=few_rows[:32], optimizer="sgd", lr=1e-2, progress=False)
    assert isinstance(model.optimizer, torch.optim.SGD) and model.optimizer.param_groups[0]["lr"] == 1e-2
    assert model.epochs_done == 2
    with pytest.raises(ValueError, match="optimizer"):
        model.fit(digits_train, epochs=1, indices=few_rows, optimizer="rmsprop", progress=False)
    with pytest.raises(IndexError, match="indices"):
        model.fit(digits_train, epochs=1, indices=[10_000], progress=False)


def test_evaluate_and_predict(tiny_config, digits_train, digits_test, few_rows, tmp_path):
    model = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    result = model.fit(digits_train, epochs=2, indices=few_rows, val=digits_test, val_indices=np.arange(40),
                       metrics_path=tmp_path / "history.json", progress=False)
    assert [h["epoch"] for h in result.history] == [1, 2] and "val_accuracy" in result.history[-1]
    assert (tmp_path / "history.json").is_file() and (tmp_path / "history.csv").read_text().startswith("epoch,")
    metrics = model.evaluate(digits_test)
    assert 0 <= metrics["accuracy"] <= 1 and metrics["n"] == len(digits_test)
    assert len(metrics["per_class_accuracy"]) == 10
    probs = model.predict_proba(digits_test)
    assert probs.shape == (len(digits_test), 10)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    assert metrics["accuracy"] == pytest.approx(float((probs.argmax(1) == digits_test.labels).mean()))
    # a row's prediction does not depend on which other rows are scored with it
    rows = np.array([7, 3, 200, 41])
    np.testing.assert_allclose(model.predict_proba(digits_test, rows), probs[rows], rtol=1e-5, atol=1e-6)
    images, _ = digits_test.get_batch(np.arange(5))
    assert model.predict(images).shape == (5,)
    losses = model.per_example_loss(digits_test, rows)
    assert losses["loss"].shape == (4,) and bool((losses["nll"] >= 0).all())
    sub = model.evaluate(digits_test, indices=np.flatnonzero(digits_test.labels == 3))
    assert [a is None for a in sub["per_class_accuracy"]].count(False) == 1


def test_bad_inputs_are_refused_before_any_training(tiny_config, digits_train, digits_test, few_rows):
    model = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    images, _ = digits_test.get_batch(np.arange(5))
    for method in (model.evaluate, model.per_example_loss):
        with pytest.raises(TypeError, match="labels, which an image tensor does not have"):
            method(images)
    out = model.episode_outputs(images)
    assert out["labels"].tolist() == [-1] * 5 and bool(out["reward"].isnan().all())
    for batch_size in (0, -1, 2.5):
        with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
            model.predict(digits_test, batch_size=batch_size)
    start = {k: v.clone() for k, v in model.net.state_dict().items()}
    with pytest.raises(IndexError, match="val_indices"):
        model.fit(digits_train, epochs=1, indices=few_rows, val=digits_test, val_indices=[100000], progress=False)
    with pytest.raises(ValueError, match="val_indices= was given without val="):
        model.fit(digits_train, epochs=1, indices=few_rows, val_indices=[1], progress=False)
    with pytest.raises(ValueError, match=r"ends in \.csv"):
        model.fit(digits_train, epochs=1, indices=few_rows, metrics_path="history.csv", progress=False)
    five_classes = MAReinforce(tiny_config(), 5, digits_train.image_shape)
    with pytest.raises(ValueError, match=r"train has labels 0\.\.9 but this model has n_classes=5"):
        five_classes.fit(digits_train, epochs=1, indices=few_rows, progress=False)
    assert model.epochs_done == 0 and all(torch.equal(v, start[k]) for k, v in model.net.state_dict().items())


def test_every_callback_runs_before_the_checkpoint(tiny_config, digits_train, few_rows, tmp_path):
    """All callbacks run (not only up to the first that stops), and what they add to the record or change in the
    optimizer is in the checkpoint and history written after the epoch."""
    calls = []

    def stop(learner, record):
        calls.append("stop")
        return True

    def schedule(learner, record):
        calls.append("schedule")
        record["lr_next"] = 1e-4
        for group in learner.optimizer.param_groups:
            group["lr"] = 1e-4

    model = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    model.fit(digits_train, epochs=3, indices=few_rows, progress=False, callbacks=[stop, schedule],
              checkpoint_path=tmp_path / "ckpt.pt", metrics_path=tmp_path / "history.json")
    assert calls == ["stop", "schedule"] and model.epochs_done == 1
    saved = MAReinforce.load(tmp_path / "ckpt.pt")
    assert saved.history[-1]["lr_next"] == 1e-4 and saved.optimizer.param_groups[0]["lr"] == 1e-4
    assert '"lr_next"' in (tmp_path / "history.json").read_text()


def test_constructor_checks(tiny_config):
    with pytest.raises(ValueError, match="window"):
        MAReinforce(tiny_config(window=9), 10, (1, 8, 8))
    with pytest.raises(TypeError, match="config"):
        MAReinforce("gru", 10, (1, 8, 8))  # type: ignore[arg-type]
    model = MAReinforce({"n_agents": 2, "window": 4, "hidden_size": 8}, 10, (1, 8, 8))
    assert model.config.hidden_size == 8


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_learner_matches_cpu_and_trains(tiny_config, digits_train, few_rows):
    """The same weights give the same greedy predictions on CUDA as on CPU, and fit() runs on CUDA."""
    cpu = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    cpu.fit(digits_train, epochs=1, indices=few_rows, progress=False)
    gpu = MAReinforce.from_state_dict(cpu.state_dict(), device="cuda")
    assert next(gpu.net.parameters()).device.type == "cuda"
    np.testing.assert_allclose(gpu.predict_proba(digits_train, few_rows), cpu.predict_proba(digits_train, few_rows),
                               atol=1e-4)
    before = _params(gpu)
    gpu.fit(digits_train, epochs=1, indices=few_rows, progress=False)
    assert any(not torch.equal(before[k], v) for k, v in gpu.net.state_dict().items())
    assert 0.0 <= gpu.evaluate(digits_train, few_rows)["accuracy"] <= 1.0


def test_checkpoint_from_before_lstm_head_and_combine_predicts_as_it_did(tiny_config, digits_test, tmp_path):
    """A checkpoint saved before AgentConfig.lstm_head and .combine existed had its LSTM head on h and averaged the
    agents' softmaxes: it loads with lstm_head='hidden', combine='probs' and predicts exactly as that model did."""
    model = MAReinforce(tiny_config(belief="lstm", lstm_head="hidden", combine="probs"), 10, digits_test.image_shape)
    state = model.state_dict()
    del state["config"]["lstm_head"], state["config"]["combine"]
    torch.save(state, tmp_path / "old.pt")
    loaded = MAReinforce.load(tmp_path / "old.pt")
    assert (loaded.config.lstm_head, loaded.config.combine) == ("hidden", "probs")
    np.testing.assert_array_equal(model.predict_proba(digits_test, np.arange(10)),
                                  loaded.predict_proba(digits_test, np.arange(10)))
    assert MAReinforce(tiny_config(belief="lstm"), 10, (1, 8, 8)).config.lstm_head == "cell"


def test_resume_continues_an_lr_schedule_set_by_a_callback(tiny_config, digits_train, few_rows, tmp_path):
    """The checkpoint saved the callback's lr, but fit(lr=None) used to reset it to the config's on resume."""
    base_lr = tiny_config().lr

    def halve(learner, record):
        for group in learner.optimizer.param_groups:
            group["lr"] = base_lr * 0.5 ** learner.epochs_done

    straight = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    straight.fit(digits_train, epochs=2, indices=few_rows, progress=False, callbacks=[halve])
    first = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    first.fit(digits_train, epochs=1, indices=few_rows, progress=False, callbacks=[halve],
              checkpoint_path=tmp_path / "c.pt")
    resumed = MAReinforce.load(tmp_path / "c.pt")
    assert resumed.optimizer.param_groups[0]["lr"] == base_lr * 0.5
    resumed.fit(digits_train, epochs=1, indices=few_rows, progress=False, callbacks=[halve])
    _assert_same(_params(straight), _params(resumed))
    # an explicit lr still wins
    resumed.fit(digits_train, epochs=1, indices=few_rows, progress=False, lr=0.01)
    assert resumed.optimizer.param_groups[0]["lr"] == 0.01


def test_models_built_in_parallel_threads_get_their_seeds_weights(tiny_config, digits_train):
    from concurrent.futures import ThreadPoolExecutor

    serial = [_params(MAReinforce(tiny_config(seed=s), 10, digits_train.image_shape)) for s in range(4)]
    for _ in range(3):
        with ThreadPoolExecutor(4) as pool:
            built = list(pool.map(lambda s: _params(MAReinforce(tiny_config(seed=s), 10, digits_train.image_shape)),
                                  range(4)))
        for expected, got in zip(serial, built):
            _assert_same(expected, got)


def test_images_of_the_wrong_size_are_refused_even_without_a_dataset_shape(tiny_config, digits_train):
    """A lazy dataset with no fixed image_shape used to be played at whatever size it returned."""
    from masimu_env.datasets import ImageDataset

    big = torch.zeros(20, 1, 28, 28, dtype=torch.uint8)
    lazy = ImageDataset("lazy", np.arange(20) % 10, [str(k) for k in range(10)], loader=lambda i: big[i])
    model = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    for call in (lambda: model.fit(lazy, epochs=1, progress=False), lambda: model.evaluate(lazy),
                 lambda: model.predict(lazy)):
        with pytest.raises(ValueError, match=r"gave images of \(1, 28, 28\), but this model was built for \(1, 8, 8\)"):
            call()
    assert model.epochs_done == 0


@pytest.mark.parametrize("option, match", [
    ({"max_seconds": float("nan")}, "max_seconds must be None or a finite number"),  # silently disabled the budget
    ({"max_seconds": -1}, "max_seconds must be None or a finite number"),  # silently stopped after one epoch
    ({"max_seconds": "10"}, "max_seconds must be None or a finite number"),  # failed after a whole epoch
    ({"lr": "x"}, "lr must be None or a finite number > 0; got 'x'"),
    ({"lr": True}, "lr must be None or a finite number > 0; got True"),  # was read as 1.0
])
def test_fit_options_are_checked_before_training(tiny_config, digits_train, few_rows, option, match):
    model = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    with pytest.raises(ValueError, match=match):
        model.fit(digits_train, epochs=1, indices=few_rows, progress=False, **option)
    assert model.epochs_done == 0


def test_callbacks_stop_only_on_true_and_records_stay_plain_numbers(tiny_config, digits_train, few_rows, tmp_path):
    """A callback returning a truthy non-bool (file.write's count) used to stop training; NumPy scalars it stored
    broke the JSON history; an array in the record made the checkpoint unloadable."""
    model = MAReinforce(tiny_config(), 10, digits_train.image_shape)

    def log(learner, record):
        record["score"] = np.float32(0.25)
        return 17  # like file.write

    model.fit(digits_train, epochs=2, indices=few_rows, progress=False, callbacks=[log],
              metrics_path=tmp_path / "history.json", checkpoint_path=tmp_path / "c.pt")
    assert model.epochs_done == 2 and type(model.history[-1]["score"]) is float
    assert '"score": 0.25' in (tmp_path / "history.json").read_text()
    assert MAReinforce.load(tmp_path / "c.pt").history[-1]["score"] == 0.25
    model.fit(digits_train, epochs=3, indices=few_rows, progress=False, callbacks=[lambda l, r: np.bool_(True)])
    assert model.epochs_done == 3
    before = (tmp_path / "c.pt").read_bytes()
    with pytest.raises(ValueError, match="history record key 'curve' holds a ndarray"):
        model.fit(digits_train, epochs=1, indices=few_rows, progress=False, checkpoint_path=tmp_path / "c.pt",
                  callbacks=[lambda l, r: r.update(curve=np.zeros(3))])
    assert (tmp_path / "c.pt").read_bytes() == before and not list(tmp_path.glob("*.tmp"))
    # the refused record is back to the epoch's own values, so the learner still saves (it could not before)
    assert "curve" not in model.history[-1]
    model.save(tmp_path / "c.pt")
    assert MAReinforce.load(tmp_path / "c.pt").epochs_done == 4


def test_load_names_a_bad_device_not_the_file(tiny_config, digits_train, tmp_path):
    model = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    model.save(tmp_path / "c.pt")
    with pytest.raises(ValueError, match="device 'gpu' is not a torch device"):
        MAReinforce.load(tmp_path / "c.pt", device="gpu")
    if not torch.cuda.is_available():
        state = torch.load(tmp_path / "c.pt", weights_only=True)
        state["config"]["device"] = "cuda"
        torch.save(state, tmp_path / "gpu.pt")
        with pytest.raises(ValueError, match=r"gpu.pt' was saved for device 'cuda'.*pass device='cpu'"):
            MAReinforce.load(tmp_path / "gpu.pt")
        assert MAReinforce.load(tmp_path / "gpu.pt", device="cpu").config.device == "cpu"


def test_atomic_writes_from_threads_and_plots_without_a_suffix(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from agents.plots import plot_history
    from agents.serialization import write_text_atomically

    target = tmp_path / "shared.json"
    with ThreadPoolExecutor(4) as pool:  # a pid-only temp name collided between threads
        list(pool.map(lambda k: write_text_atomically(target, str(k)), range(200)))
    assert target.read_text().isdigit() and not list(tmp_path.glob(".shared*"))
    history = [{"epoch": 1, "train_accuracy": 0.5, "train_reward": -0.5, "log_prob": -3.0}]
    plot_history(history, tmp_path / "curves")  # the temp name's '.tmp' suffix made matplotlib guess format 'tmp'
    assert (tmp_path / "curves").read_bytes()[:4] == b"\x89PNG"


def test_atomic_writes_keep_the_permissions_a_plain_write_gives(tmp_path):
    """mkstemp's temp file is owner-only (0o600) and os.replace kept that, so every report, plot and original was
    private to its owner while a plain open() gives 0o666 less the umask."""
    import os
    import stat

    from masimu_env.serialization import write_text_atomically

    mask = os.umask(0o022)
    os.umask(mask)
    fresh = tmp_path / "report.json"
    write_text_atomically(fresh, "{}")
    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    assert stat.S_IMODE(fresh.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~mask
    os.chmod(fresh, 0o640)  # a replaced file keeps the mode its owner gave it
    write_text_atomically(fresh, "[]")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640 and fresh.read_text() == "[]"
    os.umask(0o077)  # a umask tightened after import is honoured too (a mode computed at import loosened it)
    try:
        write_text_atomically(tmp_path / "private.json", "{}")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.json", "private.json", "report.json"]


def test_a_callback_bad_value_leaves_the_learner_savable(tiny_config, digits_train, few_rows, tmp_path):
    """A callback that stored a non-number left its record in the history: every later save() and fit() failed.
    A 0-d tensor (an lr read from a tensor) is stored as the number it holds."""
    model = MAReinforce(tiny_config(), 10, digits_train.image_shape)

    def tensor_lr(learner, record):
        record["lr"] = torch.tensor(learner.optimizer.param_groups[0]["lr"])

    model.fit(digits_train, epochs=1, indices=few_rows, callbacks=[tensor_lr], progress=False)
    assert type(model.history[-1]["lr"]) is float

    def bad(learner, record):
        record["note"] = [1, 2]

    with pytest.raises(ValueError, match="history record key 'note' holds a list"):
        model.fit(digits_train, epochs=1, indices=few_rows, callbacks=[bad], progress=False)
    assert "note" not in model.history[-1] and model.epochs_done == 2
    model.save(tmp_path / "ok.pt")  # raised before
    model.fit(digits_train, epochs=1, indices=few_rows, progress=False)
    assert model.epochs_done == 3


def test_elapsed_counts_across_fits_and_empty_validation_is_refused(tiny_config, digits_train, digits_test, few_rows):
    model = MAReinforce(tiny_config(), 10, digits_train.image_shape)
    model.fit(digits_train, epochs=1, indices=few_rows, progress=False)
    model.fit(digits_train, epochs=1, indices=few_rows, progress=False)
    first, second = (h["elapsed"] for h in model.history)
    assert second == pytest.approx(first + model.history[1]["seconds"], rel=0.5) and second > first
    with pytest.raises(ValueError, match="no validation rows: val_indices"):  # gave NaN metrics and NaN in the JSON
        model.fit(digits_train, epochs=1, indices=few_rows, val=digits_test, val_indices=[], progress=False)


def test_curves_legend_says_how_the_episodes_moved(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from agents.plots import plot_history

    labels = []
    original = plt.Axes.legend

    def spy(self, *args, **kwargs):
        labels.extend(self.get_legend_handles_labels()[1])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(plt.Axes, "legend", spy)
    history = [{"epoch": 1, "train_accuracy": 0.5, "val_accuracy": 0.4, "train_reward": -0.5, "log_prob": -3.0}]
    plot_history(history, tmp_path / "c.png", policy="random", eval_policy="sample")
    assert "training episodes (uniformly random moves)" in labels and "validation (sampled moves)" in labels
