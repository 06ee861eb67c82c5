"""benchmarks/train_ma.py: the bound part's pixel masks follow the environment's rules; the cosine time budget."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from agents import AgentConfig


@pytest.fixture(scope="module")
def train_ma(load_benchmark):
    return load_benchmark("train_ma")


@pytest.mark.parametrize("policy", ["random", "centre", "ink"])
def test_seen_mask_covers_what_n_agents_see_in_t_steps(train_ma, policy):
    config = AgentConfig(n_agents=3, n_steps=5, window=6)
    images = torch.randint(0, 256, (64, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    mask = train_ma.seen_mask(images, config, policy, torch.Generator().manual_seed(1))
    assert mask.shape == (64, 1, 28, 28)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    seen = mask.sum((1, 2, 3))
    assert (seen >= 6 * 6).all()  # at least one whole window
    assert (seen <= 3 * 5 * 6 * 6).all()  # at most N x T windows
    # one agent, four one-pixel moves: its windows span (6 + dr) x (6 + dc) pixels with dr + dc <= 4
    single = train_ma.seen_mask(images, config.replace(n_agents=1), policy, torch.Generator().manual_seed(2))[:, 0]
    extent_rows = (single.amax(2) > 0).sum(1)
    extent_cols = (single.amax(1) > 0).sum(1)
    assert (extent_rows + extent_cols <= 6 + 6 + 4).all()
    assert (single.sum((1, 2)) <= 6 * 6 + 4 * 6).all()

def test_learned_mask_is_the_union_of_the_models_greedy_windows(train_ma, tmp_path):
    """'learned': the windows a trained learner's greedy rollout visits at steps 0 .. T-1, from the sampled corners."""
    from agents import MAReinforce, run_episode
    from masimu_env.core import dynamics

    config = AgentConfig(n_agents=2, n_steps=4, window=6, hidden_size=16, feature_dim=16, conv_channels=8, epochs=1)
    model = MAReinforce(config, 10, (1, 28, 28))
    images = torch.randint(0, 256, (40, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    mask = train_ma.seen_mask(images, config, "learned", torch.Generator().manual_seed(5), model)
    generator = torch.Generator().manual_seed(5)
    corners = dynamics.sample_corners(40, 2, 28, 28, 6, generator)
    with torch.no_grad():
        path = run_episode(model.net, model.simulator, images, torch.zeros(40, dtype=torch.long), generator, "greedy",
                           corners)["path"]
    expected = torch.zeros(40, 1, 28, 28)
    for b in range(40):
        for t in range(4):  # the corner after the last move (path[:, 4]) is never observed
            for agent in range(2):
                r, c = path[b, t, agent].tolist()
                expected[b, 0, r:r + 6, c:c + 6] = 1
    assert torch.equal(mask, expected)
    with pytest.raises(ValueError, match="--bound-model"):
        train_ma.seen_mask(images, config, "learned", torch.Generator().manual_seed(5))
    model.save(tmp_path / "m.pt")
    assert train_ma.load_bound_model(str(tmp_path / "m.pt"), config).config == config
    with pytest.raises(SystemExit, match="window 6.*window 8"):
        train_ma.load_bound_model(str(tmp_path / "m.pt"), config.replace(window=8))


def test_centre_policy_moves_toward_the_centre(train_ma):
    config = AgentConfig(n_agents=1, n_steps=5, window=6)
    images = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    generator = torch.Generator().manual_seed(0)
    masks = torch.cat([train_ma.seen_mask(images, config, "centre", generator) for _ in range(50)])
    random = torch.cat([train_ma.seen_mask(images, config, "random", generator) for _ in range(50)])
    centre_hits = masks[:, 0, 11:17, 11:17].sum()
    assert centre_hits > random[:, 0, 11:17, 11:17].sum()


def test_timer_anneals_the_learning_rate_over_the_time_budget(train_ma):
    from types import SimpleNamespace

    param = torch.nn.Parameter(torch.zeros(1))
    model = SimpleNamespace(optimizer=torch.optim.Adam([param], lr=0.004), config=AgentConfig(lr=0.004))
    timer = train_ma.Timer(None, None, minutes=1.0, reach=0.5, cosine=True)
    lrs, stops = [], []
    for _ in range(4):  # four 15-second epochs of a one-minute budget
        stops.append(timer(model, {"seconds": 15.0, "val_accuracy": 0.4}))
        lrs.append(model.optimizer.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [0.004 * 0.5 * (1 + np.cos(np.pi * k / 4)) for k in (1, 2, 3, 4)], atol=1e-12)
    assert stops == [False, False, False, True]
    assert timer.reached_at is None
    with pytest.raises(ValueError, match="--minutes or --epochs"):
        train_ma.Timer(None, None, minutes=None, reach=None, cosine=True)


def test_timer_anneals_over_epochs_without_a_time_budget(train_ma):
    from types import SimpleNamespace

    param = torch.nn.Parameter(torch.zeros(1))
    model = SimpleNamespace(optimizer=torch.optim.Adam([param], lr=0.002), config=AgentConfig(lr=0.002))
    timer = train_ma.Timer(None, None, minutes=None, reach=None, cosine=True, epochs=5)
    lrs, stops = [], []
    for seconds in (100.0, 1.0, 50.0, 3.0, 7.0):  # epoch lengths must not matter
        stops.append(timer(model, {"seconds": seconds, "val_accuracy": 0.1}))
        lrs.append(model.optimizer.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [0.002 * 0.5 * (1 + np.cos(np.pi * k / 5)) for k in range(1, 6)], atol=1e-12)
    assert stops == [False] * 5  # no time limit: fit() stops at the epoch budget itself


def test_run_learner_reports_the_training_rows_scored_like_the_test_rows(train_ma, capsys, tmp_path):
    """The printed 'train rows' accuracy is evaluate() on the training rows (greedy moves, eval corners), so it
    can be set against the test accuracy to tell over- from underfitting."""
    from agents import MAReinforce
    from masimu_env import datasets

    train, test = datasets.load("digits", split="train"), datasets.load("digits", split="test")
    config = AgentConfig.for_dataset("digits", epochs=1, hidden_size=16, feature_dim=16, conv_channels=8)
    rows, test_rows = np.arange(0, 1500, 5), np.arange(0, len(test), 3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train_ma.run_learner("digits", config, train, rows, test, test_rows, None, 1, None, False,
                                      save_dir=str(tmp_path))
        again = MAReinforce(config, train.num_classes, train.image_shape)
        again.fit(train, epochs=1, indices=rows, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert result["train_accuracy"] == again.evaluate(train, indices=rows)["accuracy"]
    assert result["test_accuracy"] == again.evaluate(test, indices=test_rows)["accuracy"]
    printed = capsys.readouterr().out
    assert f"train rows {result['train_accuracy']:.4f}" in printed
    saved = MAReinforce.load(tmp_path / "digits-learned.pt")  # --save
    np.testing.assert_array_equal(saved.predict(test, test_rows), again.predict(test, test_rows))
    # the ablation: the same trained networks moved at random at test time, and the model left as it was
    assert saved.config.eval_policy == "greedy"
    again.config = again.config.replace(eval_policy="random")
    assert result["random_moves_test_accuracy"] == again.evaluate(test, indices=test_rows)["accuracy"]
    assert f"moved at random at test: {result['random_moves_test_accuracy']:.4f}" in printed


def test_set_values_parse_like_the_cli_and_bad_ones_are_named(train_ma):
    parse = train_ma.parse_set
    assert parse("lr=0.002") == ("lr", 0.002) and parse("grad_clip=none") == ("grad_clip", None)
    assert parse("detach_policy_input=False") == ("detach_policy_input", False)
    assert parse("graph=[[0,1],[1,0]]") == ("graph", [[0, 1], [1, 0]]) and parse("belief=lstm") == ("belief", "lstm")
    # typed by the field, as masimu train's flags: an int field takes no fraction, a float field's 1 is 1.0
    assert parse("seed=3") == ("seed", 3) and parse("lr=1") == ("lr", 1.0) and type(parse("lr=1")[1]) is float
    assert parse("device=cuda:0") == ("device", "cuda:0") and parse("normalize_advantage=0") == ("normalize_advantage", False)
    for item, match in (("lr", "expected FIELD=VALUE"), ("lr=", "expected FIELD=VALUE"),
                        ("learning_rate=0.1", "not an AgentConfig field"),
                        ("lr=1e-3x", r"AgentConfig.lr expects a number; got '1e-3x'"),
                        ("seed=1.5", "AgentConfig.seed expects an integer"),
                        ("detach_policy_input=maybe", "expects true or false"),
                        ("graph=[[0,1]", "AgentConfig.graph .* is neither a graph name nor a JSON list")):
        with pytest.raises(ValueError, match=match):
            parse(item)


@pytest.mark.parametrize("argv, match", [
    (["--set", "nope=1"], "not an AgentConfig field"),
    (["--belief", "gru", "--set", "belief=lstm"], "pass --belief lstm instead"),
    (["--bound-model", "x.pt"], "apply only to --part bound"),
    (["--part", "speed", "--cosine"], "--part speed times two epochs"),
    (["--json", "/no/such/folder/x.json"], "its folder does not exist"),
])
def test_flags_a_part_would_ignore_are_refused_before_training(train_ma, argv, match, capsys):
    with pytest.raises(SystemExit):
        train_ma.main(argv)
    assert match in capsys.readouterr().err


@pytest.mark.parametrize("argv, match", [
    (["--minutes", "-1"], "argument --minutes: expected a finite number > 0"),  # trained one epoch and exited 0
    (["--minutes", "inf"], "argument --minutes: expected a finite number > 0"),  # no time limit at all
    (["--epochs", "0"], "argument --epochs: expected an integer >= 1"),  # IndexError after training
    (["--reach", "95"], r"argument --reach: expected an accuracy in \(0, 1\]"),  # 'did not reach 9500%'
    (["--threads", "0"], "argument --threads: expected an integer >= 1"),  # raw RuntimeError
    (["--part", "speed", "--epochs", "5"], "--part speed times two epochs"),  # ran 2 epochs
    (["--part", "cnn", "--minutes", "3"], "--part cnn trains a CNN for --epochs"),  # --minutes ignored
    (["--set", "epochs=3"], "pass --epochs 3 instead"),  # ignored: fit is given --epochs
    (["--set", "batch_size=0"], "--set: AgentConfig.batch_size"),  # failed only when its part trained
])
def test_benchmark_flags_are_checked_before_any_training(train_ma, argv, match, capsys):
    with pytest.raises(SystemExit):
        train_ma.main(argv)
    assert re.search(match, capsys.readouterr().err)
