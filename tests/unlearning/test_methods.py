"""Every registered method runs end to end on digits; bad splits fail; interrupted runs resume exactly."""

from __future__ import annotations

import dataclasses
import numpy as np
import pytest
import torch

import unlearning
from unlearning.methods import METHODS, available, get_method
from unlearning.models import is_multi_agent, predict_proba

from .conftest import tiny


def _original_for(name, request):
    kind = METHODS[name].model_kind
    if kind == "ma":
        return request.getfixturevalue("tiny_lstm" if name in ("malmu", "malimu", "ma_lstm_retrain") else "tiny_gru")
    return request.getfixturevalue("trained_cnn")


def _state(model):
    net = model.net if is_multi_agent(model) else model
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_runs_end_to_end(name, digits_small, request):
    train, test, split = digits_small
    original = _original_for(name, request)
    before = _state(original)
    model, record = unlearning.unlearn(name, original, train, split, **tiny(name, original))
    assert record.method == name
    assert record.wall_time_s >= 0 and np.isfinite(record.wall_time_s)
    expected_epochs = 0 if name in ("original", "ma_original") else 1
    assert record.epochs == expected_epochs and len(record.history) == expected_epochs
    for stats in record.history:
        assert 0.0 <= stats.forget_accuracy <= 1.0 and np.isfinite(stats.train_loss)
    if name in ("imu", "masimu", "malimu"):
        assert 0.0 <= record.history[0].interpretable_weight <= 1.0
        assert record.setup_time_s > 0
    probs = predict_proba(model, test, np.arange(10))
    assert probs.shape == (10, train.num_classes) and np.allclose(probs.sum(1), 1.0, atol=1e-4)
    after = _state(original)
    assert all(torch.equal(before[k], after[k]) for k in before), "the original model must not change"
    if expected_epochs and name not in ("retrain", "ma_retrain", "ma_lstm_retrain"):
        changed = _state(model)
        assert any(not torch.equal(before[k], changed[k]) for k in before), "unlearning changed no weight"


def test_registry_names_match_modules():
    for name, cls in METHODS.items():
        assert cls.__module__ == f"unlearning.methods.{name}"
    with pytest.raises(ValueError, match="available: "):
        get_method("finetune")
    assert "masimu" in available()
    from unlearning.methods import ALL_METHODS
    assert sorted(ALL_METHODS) == sorted(METHODS)


def test_wrong_model_kind_is_rejected(digits_small, trained_cnn, tiny_gru):
    train, _, split = digits_small
    with pytest.raises(TypeError, match="multi-agent"):
        unlearning.unlearn("masmu", trained_cnn, train, split, **tiny("masmu"))
    with pytest.raises(TypeError, match="standard classifier"):
        unlearning.unlearn("mu", tiny_gru, train, split, **tiny("mu"))
    with pytest.raises(ValueError, match="LSTM"):
        unlearning.unlearn("malmu", tiny_gru, train, split, **tiny("malmu"))


@pytest.mark.parametrize("retain, forget, match", [
    (np.arange(10, 300), np.array([], dtype=np.int64), "empty"),
    (np.arange(0, 300), np.arange(0, 30), "overlap"),
    (np.arange(30, 300), np.array([1, 2, 300]), r"\[0, 300\)"),
    (np.arange(30, 300), np.array([-1, 2]), r"\[0, 300\)"),
    (np.arange(30, 300), np.array([1, 1, 2]), "duplicate"),
])
def test_bad_split_raises(retain, forget, match, digits_small, trained_cnn):
    train, _, _ = digits_small
    with pytest.raises(ValueError, match=match):
        unlearning.unlearn("mu", trained_cnn, train, (retain, forget), **tiny("mu"))


def test_unknown_setting_names_valid_ones(digits_small, trained_cnn):
    train, _, split = digits_small
    with pytest.raises(ValueError, match="valid settings"):
        unlearning.unlearn("mu", trained_cnn, train, split, learning_rate=0.1)


class _Interrupt(Exception):
    pass


def _interrupt_after_first(epoch):
    if epoch == 1:
        raise _Interrupt


@pytest.mark.parametrize("name", ["scrub", "masimu"])
def test_interrupted_run_resumes_to_same_result(name, digits_small, request, tmp_path):
    train, _, split = digits_small
    original = _original_for(name, request)
    settings = dict(tiny(name, original), epochs=2, seed=3)
    straight, reference = unlearning.unlearn(name, original, train, split, **settings)
    with pytest.raises(_Interrupt):
        unlearning.unlearn(name, original, train, split, checkpoint_dir=str(tmp_path),
                           on_epoch_end=_interrupt_after_first, **settings)
    checkpoint = torch.load(tmp_path / f"{name}.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 1
    resumed, record = unlearning.unlearn(name, original, train, split, checkpoint_dir=str(tmp_path), **settings)
    assert record.resumed_from_epoch == 1 and len(record.history) == 2
    a, b = _state(straight), _state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h.train_loss for h in record.history] == pytest.approx([h.train_loss for h in reference.history])


def test_checkpoint_with_numpy_scalars_loads_weights_only(digits_small, trained_cnn, tmp_path):
    """NumPy scalars in a checkpoint (a metric from np.mean, a learning rate from a NumPy schedule) are saved as
    Python numbers: torch.load(weights_only=True), which resume uses, refuses NumPy scalar objects."""
    from unlearning.config import UnlearningConfig
    from unlearning.data import UnlearningData
    from unlearning.methods.common import Checkpointer

    train, _, split = digits_small
    data = UnlearningData.from_split(train, split)
    checkpointer = Checkpointer("mu", data, UnlearningConfig(checkpoint_dir=str(tmp_path)), trained_cnn)
    optimizer = torch.optim.SGD(trained_cnn.parameters(), lr=np.float64(0.05))
    checkpointer.save({"optimizer": optimizer.state_dict(), "epoch": np.int64(1),
                       "history": [{"train_loss": np.float32(0.25), "iw": np.float64(0.5)}]})
    state = checkpointer.load()
    assert state is not None
    lr, epoch, history = state["optimizer"]["param_groups"][0]["lr"], state["epoch"], state["history"][0]
    assert type(lr) is float and lr == 0.05 and type(epoch) is int and epoch == 1
    assert history == {"train_loss": 0.25, "iw": 0.5} and all(type(v) is float for v in history.values())


def test_imu_scales_gradients_by_one_minus_iw(digits_small, trained_cnn):
    """IMU's first step equals MU's step with the gradient times (1 - I_w) (plain SGD, no momentum)."""
    from unlearning.data import UnlearningData
    from unlearning.interpretable import InterpretableWeights

    train, _, split = digits_small
    data = UnlearningData.from_split(train, split)
    rng = np.random.default_rng(0)
    forget_coefs = rng.normal(size=(len(data.forget), 4))
    retain_coefs = forget_coefs.mean(0) + 0.5 * rng.normal(size=(len(data.retain), 4))
    weights = InterpretableWeights(data.retain, retain_coefs, forget_coefs)
    batch = data.retain[:16]
    i_w = weights.weight(batch)
    assert 0 < i_w < 1
    images, labels = train.get_batch(batch)
    grads = []
    from unlearning.explain import scale_gradients  # what IMU/MASIMU call between backward and step
    for weight in (0.0, i_w):
        model = __import__("copy").deepcopy(trained_cnn)
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        scale_gradients(model.parameters(), weight)
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    assert torch.allclose(grads[1], (1.0 - i_w) * grads[0], atol=1e-7)
    with pytest.raises(ValueError, match="not in the retain set"):
        weights.weight(data.forget[:2])
    # an empty batch used to give I_w = 0 (max(0, nan)); float indices were truncated (2.7 -> 2)
    with pytest.raises(ValueError, match="batch_indices is empty"):
        weights.weight(np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="batch_indices must be integer dataset indices; got dtype float64"):
        weights.weight(batch.astype(float) + 0.7)
    assert weights.weight(torch.as_tensor(batch)) == i_w


def test_retrain_forgets_to_test_level():
    """Retrain never sees the forget set, so its forget accuracy is near its test accuracy."""
    from masimu_env import datasets
    from unlearning.models import make_classifier

    train = datasets.load("digits", split="train").subset(np.arange(1000))
    test = datasets.load("digits", split="test")
    split = datasets.retain_forget_split(train, forget_fraction=0.15, seed=0)
    model = make_classifier(train.image_shape, train.num_classes)
    retrained, _ = unlearning.unlearn("retrain", model, train, split, retrain_epochs=4, seed=0)
    metrics = unlearning.evaluate(retrained, model, train, split, test)
    assert metrics.test_accuracy > 0.85
    assert abs(metrics.forget_accuracy - metrics.test_accuracy) < 0.07
    assert metrics.retain_accuracy >= metrics.forget_accuracy - 0.02


def test_interpretable_weights_match_algorithm3_and_class_weighting():
    """Precomputed rsim gives interpretable_weight's I_w per batch; a forget column of weight w counts as w copies."""
    from unlearning.explain import interpretable_weight
    from unlearning.interpretable import InterpretableWeights

    rng = np.random.default_rng(1)
    retain_idx = np.arange(0, 60, 2)
    retain = rng.normal(size=(30, 5))
    retain[3] = 0.0  # an all-zero vector: its row counts as rsim 0
    forget = rng.normal(size=(7, 5)) + 0.5
    weights = InterpretableWeights(retain_idx, retain, forget)
    for rows in (np.array([0, 3, 5]), np.arange(30), np.array([17])):
        assert weights.weight(retain_idx[rows]) == pytest.approx(interpretable_weight(retain[rows], forget), abs=1e-12)
    # forget row 0 with weight 3 == that row present three times
    weighted = InterpretableWeights(retain_idx, retain, forget, forget_weights=np.array([3.0] + [1.0] * 6))
    copies = np.concatenate([forget[:1], forget[:1], forget])
    assert weighted.weight(retain_idx[:9]) == pytest.approx(interpretable_weight(retain[:9], copies), abs=1e-12)
    with pytest.raises(ValueError, match="forget_weights"):
        InterpretableWeights(retain_idx, retain, forget, forget_weights=np.zeros(7))


def test_interpretable_weights_per_class_tables(digits_small, trained_cnn, tmp_path):
    """k per class explains at most k images of each class of each set; forget weights add up to |D_f|."""
    from unlearning.config import UnlearningConfig
    from unlearning.data import UnlearningData
    from unlearning.interpretable import InterpretableWeights

    train, _, split = digits_small
    data = UnlearningData.from_split(train, split)
    config = UnlearningConfig(lime_num_samples=16, lime_retain_per_class=2, lime_forget_per_class=1)
    weights = InterpretableWeights.compute(trained_cnn, data, config)
    n_classes = len(np.unique(train.labels[data.forget]))
    assert len(weights.forget_coefs) == n_classes
    assert weights.forget_weights.sum() == pytest.approx(len(data.forget))
    assert len(weights.retain_coefs) <= 2 * len(np.unique(train.labels[data.retain]))
    assert np.array_equal(weights.retain_indices, data.retain)
    assert 0.0 <= weights.weight(data.retain[:32]) <= 1.0
    literal = InterpretableWeights.compute(trained_cnn, data, UnlearningConfig(
        lime_num_samples=16, lime_retain_per_class=0, lime_forget_per_class=0))
    assert literal.forget_coefs.shape[0] == len(data.forget) and literal.retain_coefs.shape[0] == len(data.retain)
    assert np.all(literal.forget_weights == 1.0)
    retain_picked, forget_picked = InterpretableWeights.explained_indices(data, config)
    assert len(retain_picked) == len(weights.retain_coefs) and len(forget_picked) == len(weights.forget_coefs)
    assert np.isin(retain_picked, data.retain).all() and np.isin(forget_picked, data.forget).all()
    assert np.all(np.diff(retain_picked) > 0) and np.bincount(train.labels[forget_picked]).max() == 1
    with pytest.raises(ValueError, match="lime_forget_per_class"):
        UnlearningConfig(lime_forget_per_class=-1)
    # with lime_cache_dir a rerun reads the tables, but still counts what they cost when computed
    cache = tmp_path / "lime"
    cached_config = dataclasses.replace(config, lime_cache_dir=str(cache))
    InterpretableWeights.compute(trained_cnn, data, cached_config)
    stored_seconds = 0.0
    for entry in cache.glob("*.npz"):
        with np.load(entry) as stored:
            stored_seconds += float(stored["compute_seconds"])
    assert stored_seconds > 0
    assert InterpretableWeights.compute(trained_cnn, data, cached_config).seconds >= stored_seconds
    # the seed also seeds LIME's per-image RandomState(seed + i): one too large for the explained images is
    # refused before any LIME work, naming UnlearningConfig.seed and the largest that fits
    n_explained = len(retain_picked) + len(forget_picked)
    with pytest.raises(ValueError, match=rf"UnlearningConfig.seed .* {n_explained} images.*<= {2**32 - n_explained}"):
        InterpretableWeights.compute(trained_cnn, data, dataclasses.replace(config, seed=2**32 - n_explained + 1))


def test_multi_agent_fine_tuning_clips_like_the_learner(digits_small, tiny_gru, monkeypatch):
    """MASMU's hook clips with the learner's own rule (policy and classifier groups separately, at the original's
    grad_clip), not one joint norm over every parameter, and the learner's own clipping stays off."""
    from agents import MultiAgentNet
    from unlearning.config import UnlearningConfig
    from unlearning.data import UnlearningData
    from unlearning.methods.multi_agent import fine_tune_copy, learner_epoch

    calls = []
    real = MultiAgentNet.clip_gradients
    monkeypatch.setattr(MultiAgentNet, "clip_gradients", lambda net, max_norm: calls.append(max_norm) or real(net, max_norm))
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", _refuse_joint_clip(torch.nn.utils.clip_grad_norm_, tiny_gru))
    train, _, split = digits_small
    data = UnlearningData.from_split(train, split)
    config = UnlearningConfig(epochs=1, batch_size=64, lr=1e-3, progress=False)
    learner, clip = fine_tune_copy(tiny_gru, config)
    assert clip == tiny_gru.config.grad_clip and learner.config.grad_clip is None
    learner_epoch(learner, data, config, 1, clip=clip)
    assert calls and set(calls) == {clip}


def _refuse_joint_clip(clip_grad_norm, model):
    n_all = sum(1 for _ in model.net.parameters())

    def clip(parameters, *args, **kwargs):
        parameters = list(parameters)
        assert len(parameters) < n_all, "a gradient norm was clipped jointly over every parameter"
        return clip_grad_norm(parameters, *args, **kwargs)
    return clip


def test_optimizer_setting_chooses_the_standard_classifiers_optimizer(digits_small, trained_cnn, monkeypatch):
    """optimizer='adam' really trains with Adam (it used to be recorded and ignored: SGD ran either way)."""
    built = []
    for cls in (torch.optim.SGD, torch.optim.Adam):
        monkeypatch.setattr(cls, "__init__", _recording_init(cls.__init__, built))
    train, _, split = digits_small
    adam, record = unlearning.unlearn("mu", trained_cnn, train, split, **{**tiny("mu"), "epochs": 1, "optimizer": "adam"})
    assert built == ["Adam"] and record.config["optimizer"] == "adam"
    built.clear()
    sgd, _ = unlearning.unlearn("mu", trained_cnn, train, split, **{**tiny("mu"), "epochs": 1, "optimizer": "sgd"})
    assert built == ["SGD"]
    assert not all(torch.equal(a, b) for a, b in zip(_state(adam).values(), _state(sgd).values()))


@pytest.mark.parametrize("method", ["imu", "masimu"])
def test_interpretable_methods_refuse_adam(method, digits_small, trained_cnn, tiny_gru):
    """Adam's m / sqrt(v) cancels the (1 - I_w) factor, so IMU/MASIMU with Adam would silently be MU/MASMU."""
    train, _, split = digits_small
    model = trained_cnn if method == "imu" else tiny_gru
    with pytest.raises(ValueError, match=rf"'{method}' scales every gradient by \(1 - I_w\).*use optimizer='sgd'"):
        unlearning.unlearn(method, model, train, split, **{**tiny(method), "epochs": 1, "optimizer": "adam"})


def _recording_init(init, built):
    def record(self, *args, **kwargs):
        built.append(type(self).__name__)
        init(self, *args, **kwargs)
    return record


def test_retrain_refuses_epochs_without_retrain_epochs(digits_small, trained_cnn):
    """Retrain trains for retrain_epochs; a lone epochs= used to be ignored silently (25 epochs ran)."""
    train, _, split = digits_small
    with pytest.raises(ValueError, match="pass retrain_epochs=1"):
        unlearning.unlearn("retrain", trained_cnn, train, split, epochs=1)


def test_multi_agent_methods_refuse_settings_they_cannot_use(digits_small, tiny_gru):
    """Settings the multi-agent methods would ignore raise instead of being recorded as if used."""
    train, _, split = digits_small
    with pytest.raises(ValueError, match=r"'masmu' does not use momentum, weight_decay"):
        unlearning.unlearn("masmu", tiny_gru, train, split, **{**tiny("masmu"), "momentum": 0.0, "weight_decay": 0.1})
    with pytest.raises(ValueError, match=r"'ma_retrain' does not use lr"):
        unlearning.unlearn("ma_retrain", tiny_gru, train, split, **{**tiny("ma_retrain"), "lr": 0.5})
    _, record = unlearning.unlearn("ma_retrain", tiny_gru, train, split, **tiny("ma_retrain"))
    # the record holds what the method read: not the CNN recipe's 0.05 / sgd, nor a field it never looked at
    assert "lr" not in record.config and "optimizer" not in record.config and "lime_backend" not in record.config
    from unlearning.methods.common import COMMON_SETTINGS

    assert set(record.config) == COMMON_SETTINGS | unlearning.get_method("ma_retrain").settings_used(True)
    # Retrain takes either kind of model: on a learner its record holds the learner path's settings, not the CNN's
    _, record = unlearning.unlearn("retrain", tiny_gru, train, split, retrain_epochs=1)
    assert set(record.config) == COMMON_SETTINGS | unlearning.get_method("retrain").settings_used(True)
    assert "lr" not in record.config and "batch_size" not in record.config


def test_salun_mask_frees_exactly_the_threshold_share(digits_small, trained_cnn):
    """The mask holds exactly round(threshold * n) ones, also when more than half of the gradients tie at the cutoff
    (here: a layer with no gradient at all, so the cutoff is 0)."""
    from unlearning.config import UnlearningConfig
    from unlearning.data import UnlearningData
    from unlearning.methods.salun import saliency_mask

    class WithDeadLayer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dead = torch.nn.Linear(1000, 1000)  # 1M weights that never get a gradient
            self.head = torch.nn.Linear(64, 10)

        def forward(self, images):
            return self.head(images.float().flatten(1) / 255)

    train, _, split = digits_small
    data = UnlearningData.from_split(train, split)
    config = UnlearningConfig(salun_threshold=0.5)
    model = WithDeadLayer()
    masks = saliency_mask(model, data, config)
    n = sum(p.numel() for p in model.parameters())
    assert sum(int(m.sum()) for m in masks) == round(0.5 * n)
    assert masks[0].sum() < masks[0].numel()  # a >= cutoff test would free every weight here (the cutoff is 0)
    cnn_masks = saliency_mask(trained_cnn, data, config)
    grads_free = sum(int(m.sum()) for m in cnn_masks)
    assert grads_free == round(0.5 * sum(p.numel() for p in trained_cnn.parameters()))


def test_learner_checkpoints_are_keyed_by_its_settings_too(digits_small, tmp_path):
    """Two fresh learners with equal starting weights but other settings (ma_retrain retrains a fresh learner from
    the original's config) must not resume each other's checkpoint."""
    from agents import AgentConfig, MAReinforce
    from unlearning.config import UnlearningConfig
    from unlearning.data import UnlearningData
    from unlearning.methods.common import Checkpointer

    train, _, split = digits_small
    data = UnlearningData.from_split(train, split)
    config = UnlearningConfig(checkpoint_dir=str(tmp_path))
    tiny = dict(n_agents=2, n_steps=2, window=4, hidden_size=8, feature_dim=8, conv_channels=4, position_dim=4,
                raw_message_dim=4, message_dim=4)
    pooled, averaged = (MAReinforce(AgentConfig(**tiny, combine=c), train.num_classes, train.image_shape)
                        for c in ("logits", "probs"))
    assert all(torch.equal(a, b) for a, b in zip(pooled.net.state_dict().values(), averaged.net.state_dict().values()))
    Checkpointer("ma_retrain", data, config, pooled).save({"epoch": 1})
    assert Checkpointer("ma_retrain", data, config, pooled).load() is not None
    with pytest.warns(UserWarning, match=r"ma_retrain.ckpt' holds a ma_retrain checkpoint of other data"):
        assert Checkpointer("ma_retrain", data, config, averaged).load() is None
    # an unreadable file is named, not a bare UnpicklingError (it stopped the run before)
    (tmp_path / "ma_retrain.ckpt").write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match=r"ma_retrain.ckpt' is not an unlearning checkpoint"):
        assert Checkpointer("ma_retrain", data, config, pooled).load() is None


@pytest.mark.parametrize("method, settings, match", [
    # each was recorded in record.config as if it had taken effect
    ("mu", {"retrain_epochs": 5}, "'mu' does not use retrain_epochs"),
    ("gradient_ascent", {"lime_retain_per_class": 3}, "'gradient_ascent' does not use lime_retain_per_class"),
    ("original", {"epochs": 5, "lr": 0.3}, "'original' does not use epochs, lr"),
    ("retrain", {"epochs": 3, "retrain_epochs": 1}, "'retrain' does not use epochs"),
])
def test_unlearn_refuses_settings_the_method_does_not_use(digits_small, trained_cnn, method, settings, match):
    train, _, split = digits_small
    with pytest.raises(ValueError, match=match):
        unlearning.unlearn(method, trained_cnn, train, split, **settings)


def test_unlearn_refuses_the_multi_agent_retrains_batch_size(digits_small, tiny_gru):
    """ma_retrain trains with the learner's own batch size; batch_size=8 gave the weights of batch_size=64."""
    train, _, split = digits_small
    with pytest.raises(ValueError, match="'ma_retrain' does not use batch_size"):
        unlearning.unlearn("ma_retrain", tiny_gru, train, split, retrain_epochs=1, batch_size=8)


def test_predict_proba_and_config_refuse_what_they_used_to_misread(digits_small, trained_cnn):
    from unlearning.config import UnlearningConfig
    from unlearning.models import predict_proba

    train, _, _ = digits_small
    with pytest.raises(ValueError, match="indices must be integers; got dtype float64"):
        predict_proba(trained_cnn, train, [1.7])  # was row 1
    with pytest.raises(ValueError, match="np.flatnonzero"):
        predict_proba(trained_cnn, train, np.array([True, False]))  # was rows 1 and 0
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 300\)"):
        predict_proba(trained_cnn, train, [300])
    assert predict_proba(trained_cnn, train, np.int64([3, 1])).shape == (2, 10)
    for name, value in (("lr", True), ("momentum", True), ("salun_threshold", True), ("lr", "0.1"),
                        ("l1_gamma", "x")):
        with pytest.raises(ValueError, match=f"UnlearningConfig.{name} must be a number; got {value!r}"):
            UnlearningConfig(**{name: value})


@pytest.mark.parametrize("plain, interpretable, model_fixture", [("mu", "imu", "trained_cnn"),
                                                                 ("masmu", "masimu", "tiny_gru")])
def test_interpretable_methods_scale_every_step_by_one_minus_iw(plain, interpretable, model_fixture, request,
                                                                digits_small, monkeypatch):
    """The methods themselves, not the helper: with I_w pinned to 0 IMU/MASIMU take exactly MU's/MASMU's steps, and
    with I_w pinned to 1 every gradient is zeroed, so (plain SGD, no weight decay) the weights stay where they were.
    Before, removing the scale_gradients call from either method left every test passing."""
    from unlearning.interpretable import InterpretableWeights
    from unlearning.models import is_multi_agent

    model = request.getfixturevalue(model_fixture)
    train, _, split = digits_small
    settings = {**tiny(plain), "epochs": 1}
    if not is_multi_agent(model):
        settings.update(momentum=0.0, weight_decay=0.0)
    else:  # the learner's own SGD (momentum 0.9 from a zero buffer): zero gradients move nothing without decay
        assert model.config.weight_decay == 0.0

    def weights_of(method: str, i_w: float | None) -> list[torch.Tensor]:
        if i_w is not None:
            monkeypatch.setattr(InterpretableWeights, "weight", lambda self, batch: i_w)
        extra = {k: v for k, v in tiny(interpretable).items() if k.startswith("lime_")} if i_w is not None else {}
        unlearned, record = unlearning.unlearn(method, model, train, split, **settings, **extra)
        if i_w is not None:
            assert [h["interpretable_weight"] for h in record.to_dict()["history"]] == [i_w]
        net = unlearned.net if is_multi_agent(unlearned) else unlearned
        return [p.detach().clone() for p in net.parameters()]

    original = [p.detach().clone() for p in (model.net if is_multi_agent(model) else model).parameters()]
    stepped = weights_of(plain, None)
    assert any(not torch.equal(a, b) for a, b in zip(stepped, original))
    for a, b in zip(weights_of(interpretable, 0.0), stepped):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(weights_of(interpretable, 1.0), original):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_per_class_iw_is_the_mean_rsim_of_its_own_class():
    """spread_by_class gives each retain image the mean rsim of the explained images of its class (paper §3's
    per-label averaging, the default path): class 0 here is (1 + 1/sqrt 2) / 2, class 1 is 0.6, not the all-class
    mean 0.769."""
    from unlearning.interpretable import InterpretableWeights

    labels = np.array([0, 0, 1, 1, 0, 1])
    weights = InterpretableWeights(np.array([0, 1, 2]), np.array([[1.0, 0.0], [1.0, 1.0], [0.6, 0.8]]),
                                   np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(weights.row_sims, [1.0, 1 / np.sqrt(2), 0.6])
    weights.spread_by_class(np.array([0, 1, 2, 3, 4]), labels)
    class_0, class_1 = (1 + 1 / np.sqrt(2)) / 2, 0.6
    assert weights.weight([3]) == pytest.approx(class_1) and weights.weight([4]) == pytest.approx(class_0)
    assert weights.weight([0, 2, 3]) == pytest.approx((class_0 + 2 * class_1) / 3)


def test_gradient_ascent_raises_the_forget_loss(digits_small, trained_cnn):
    """GA ascends the forget set's cross-entropy (a dropped minus sign made it descend, and passed every test)."""
    from unlearning.models import predict_proba

    train, _, split = digits_small

    def forget_loss(model) -> float:
        probs = predict_proba(model, train, split.forget)
        return float(-np.log(probs[np.arange(len(split.forget)), train.labels[split.forget]]).mean())

    unlearned, _ = unlearning.unlearn("gradient_ascent", trained_cnn, train, split, epochs=1, lr=1e-2,
                                      momentum=0.0, weight_decay=0.0, batch_size=64)
    assert forget_loss(unlearned) > forget_loss(trained_cnn) + 0.02  # 0.204 -> 0.239; descending would lower it


def test_momentum_is_refused_and_not_recorded_under_adam(digits_small, trained_cnn):
    """Adam has no momentum: a given one was ignored but recorded, and GA's SGD default 0.9 was recorded too."""
    train, _, split = digits_small
    with pytest.raises(ValueError, match="UnlearningConfig.momentum applies to SGD only; got momentum=0.5"):
        unlearning.unlearn("gradient_ascent", trained_cnn, train, split, optimizer="adam", momentum=0.5, epochs=1)
    _, record = unlearning.unlearn("gradient_ascent", trained_cnn, train, split, optimizer="adam", epochs=1)
    assert record.config["optimizer"] == "adam" and record.config["momentum"] is None


def test_random_labels_are_redrawn_every_epoch_and_follow_the_seed(digits_small):
    """SalUn's RL draws the forget set's random labels anew each epoch; a single draw kept about one forget image in K
    on its true label for the whole run."""
    from unlearning.data import UnlearningData
    from unlearning.methods.random_label import random_forget_labels

    train, _, split = digits_small
    data = UnlearningData.from_split(train, split)
    first, second = random_forget_labels(data, 0, 1), random_forget_labels(data, 0, 2)
    assert set(first) == set(int(i) for i in data.forget)
    assert first != second and first == random_forget_labels(data, 0, 1)


def test_salun_leaves_the_masked_out_weights_exactly_as_they_were(digits_small, trained_cnn):
    """The optimizer's own weight decay (and momentum carrying it) moved every weight the saliency mask froze."""
    from unlearning.config import UnlearningConfig
    from unlearning.data import UnlearningData
    from unlearning.methods.salun import saliency_mask

    train, _, split = digits_small
    data = UnlearningData.from_split(train, split)
    unlearned, _ = unlearning.unlearn("salun", trained_cnn, train, split, epochs=2)  # default decay 5e-4, momentum
    mask = saliency_mask(trained_cnn, data, UnlearningConfig(seed=0).resolve(unlearning.get_method("salun").DEFAULTS))
    frozen = moved = 0
    for before, after, keep in zip(trained_cnn.parameters(), unlearned.parameters(), mask):
        off = keep == 0
        assert torch.equal(after.detach()[off], before.detach()[off])
        frozen += int(off.sum())
        moved += int((after.detach()[~off] != before.detach()[~off]).sum())
    assert frozen > 0 and moved > 0
