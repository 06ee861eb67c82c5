"""Metrics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

import unlearning
from unlearning.metrics import completeness, gap_to_retrain, loss_mia, mia_efficacy, per_example_loss


def _onehot(classes, k=3):
    return np.eye(k)[np.asarray(classes)] * 0.9 + 0.1 / k


def test_completeness_hand_cases():
    a = _onehot([0, 1, 1, 2])
    assert completeness(a, a) == 1.0
    assert completeness(a, _onehot([0, 1, 2, 2])) == 0.75
    assert completeness(a, _onehot([1, 2, 0, 0])) == 0.0
    with pytest.raises(ValueError, match=r"differ in shape: \(4, 3\) vs \(2, 3\)"):
        completeness(a, a[:2])


def test_per_example_loss_is_cross_entropy():
    probs = np.array([[0.5, 0.5], [0.1, 0.9]])
    assert per_example_loss(probs, np.array([0, 1])) == pytest.approx([np.log(2), -np.log(0.9)])


def test_mia_identical_distributions_is_at_chance():
    rng = np.random.default_rng(0)
    same = rng.exponential(size=2000)
    balanced = loss_mia(same[:1000], same[1000:], balanced=True)
    assert balanced.chance == 0.5 and balanced.num_members == balanced.num_nonmembers == 1000
    assert abs(balanced.accuracy - 0.5) < 0.05
    unbalanced = loss_mia(same[:300], same[300:1200])
    assert unbalanced.chance == pytest.approx(900 / 1200)
    assert abs(unbalanced.accuracy - unbalanced.chance) < 0.03
    assert unbalanced.folds == 10


def test_paper_chance_level_example():
    """851 forget vs 1,503 test images (HAM10000): majority chance 0.638, the paper's 'MIA 0.640'."""
    rng = np.random.default_rng(1)
    result = loss_mia(rng.normal(size=851), rng.normal(size=1503))
    assert result.chance == pytest.approx(1503 / 2354) and round(result.chance, 3) == 0.638


def test_mia_separable_losses_is_near_one():
    rng = np.random.default_rng(0)
    result = loss_mia(rng.uniform(0, 0.1, 200), rng.uniform(1, 2, 200), balanced=True)
    assert result.accuracy > 0.97


def test_mia_rejects_tiny_or_nonfinite_input():
    with pytest.raises(ValueError, match="at least 2"):
        loss_mia(np.array([0.1]), np.array([0.2, 0.3]))
    with pytest.raises(ValueError, match="non-finite"):
        loss_mia(np.array([0.1, np.inf]), np.array([0.2, 0.3]))


def _probs_with_confidence(conf, k=4):
    conf = np.asarray(conf, dtype=float)
    probs = np.tile(((1 - conf) / (k - 1))[:, None], (1, k))
    probs[:, 0] = conf
    return probs, np.zeros(len(conf), dtype=np.int64)


def test_mia_efficacy_separates_member_like_from_test_like_forget_sets():
    rng = np.random.default_rng(0)
    retain = _probs_with_confidence(rng.uniform(0.97, 1.0, 400))
    test = _probs_with_confidence(rng.uniform(0.3, 0.7, 200))
    test_like = _probs_with_confidence(rng.uniform(0.3, 0.7, 100))
    member_like = _probs_with_confidence(rng.uniform(0.97, 1.0, 100))
    assert mia_efficacy(*retain, *test, *test_like) > 0.9
    assert mia_efficacy(*retain, *test, *member_like) < 0.1


def test_entropy_feature_by_hand_and_in_mia_efficacy():
    """The entropy variant of MIA-efficacy (and metrics.entropy) had no test: uniform rows have entropy ln K,
    one-hot rows 0, and on entropy the SVC tells confident (member-like) forget sets from uncertain ones too."""
    from unlearning.metrics.mia import entropy

    np.testing.assert_allclose(entropy(np.full((2, 4), 0.25)), [np.log(4)] * 2)
    np.testing.assert_allclose(entropy(np.eye(3)), [0.0] * 3, atol=1e-10)
    np.testing.assert_allclose(entropy(np.array([[0.5, 0.5, 0.0]])), [np.log(2)])
    rng = np.random.default_rng(0)
    retain = _probs_with_confidence(rng.uniform(0.97, 1.0, 400))
    test = _probs_with_confidence(rng.uniform(0.3, 0.7, 200))
    test_like = _probs_with_confidence(rng.uniform(0.3, 0.7, 100))
    member_like = _probs_with_confidence(rng.uniform(0.97, 1.0, 100))
    assert mia_efficacy(*retain, *test, *test_like, feature="entropy") > 0.9
    assert mia_efficacy(*retain, *test, *member_like, feature="entropy") < 0.1
    with pytest.raises(ValueError, match="feature must be 'confidence' or 'entropy'; got 'loss'"):
        mia_efficacy(*retain, *test, *member_like, feature="loss")


def test_evaluate_model_against_itself(digits_small, trained_cnn):
    train, test, split = digits_small
    metrics = unlearning.evaluate(trained_cnn, trained_cnn, train, split, test)
    assert metrics.completeness == 1.0
    f, t = len(split.forget), len(test)
    assert metrics.mia_chance == pytest.approx(max(f, t) / (f + t))
    assert metrics.mia_balanced_chance == 0.5
    assert metrics.unlearning_accuracy == pytest.approx(1 - metrics.forget_accuracy)
    assert 0 <= metrics.mia_efficacy <= 1
    assert gap_to_retrain(metrics, metrics) == 0.0


class _LookupModel:
    """A classifier whose logits for an image are a table row chosen by the image's first pixel (its index)."""

    def __new__(cls, table):
        import torch

        class Lookup(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("table", torch.as_tensor(table, dtype=torch.float32))

            def forward(self, images):  # predict_proba passes the datasets' uint8 images as they are
                return self.table[images[:, 0, 0, 0].long()]

        return Lookup().eval()


def test_evaluate_against_hand_counts_with_two_different_models():
    """Each metric read from the rows it names: a model compared with itself (the only case before) cannot tell
    retain rows from forget rows, or the MIA-efficacy of the forget set from that of the retain set."""
    from masimu_env.datasets import RetainForgetSplit, from_arrays
    from unlearning.metrics.evaluate import evaluate

    n_train, n_test = 40, 20
    pixels = np.zeros((n_train + n_test, 1, 4, 4), dtype=np.uint8)
    pixels[:, 0, 0, 0] = np.arange(n_train + n_test)  # image i's first pixel is i
    labels = np.arange(n_train + n_test) % 2
    train = from_arrays(pixels[:n_train], labels[:n_train], name="lookup-train")
    test = from_arrays(pixels[n_train:], labels[n_train:], name="lookup-test")
    forget, retain = np.arange(10), np.arange(10, n_train)
    split = RetainForgetSplit(retain=retain, forget=forget, num_samples=n_train)

    predicted = labels.copy()
    predicted[[10, 11]] ^= 1                      # 28 / 30 retain rows right
    predicted[forget[:7]] ^= 1                    # 3 / 10 forget rows right
    predicted[n_train + np.arange(5)] ^= 1        # 15 / 20 test rows right
    confidence = np.where(np.arange(n_train + n_test) < 10, 1.0, 3.0)  # the forget rows less sure
    table = np.zeros((n_train + n_test, 2))
    table[np.arange(n_train + n_test), predicted] = confidence
    unlearned = _LookupModel(table)
    original = _LookupModel(np.eye(2)[labels] * 3.0)  # right everywhere: agrees on 15 of the 20 test rows

    got = evaluate(unlearned, original, train, split, test, seed=0)
    probs = np.exp(table) / np.exp(table).sum(1, keepdims=True)
    losses = -np.log(probs[np.arange(len(labels)), labels])
    assert (got.retain_accuracy, got.forget_accuracy, got.test_accuracy) == (28 / 30, 3 / 10, 15 / 20)
    assert got.train_accuracy == 31 / 40 and got.completeness == 15 / 20
    assert got.retain_loss == pytest.approx(losses[retain].mean())
    assert got.forget_loss == pytest.approx(losses[forget].mean())
    assert got.test_loss == pytest.approx(losses[n_train:].mean())
    test_rows = slice(n_train, None)
    expected = mia_efficacy(probs[retain], labels[retain], probs[test_rows], labels[test_rows], probs[forget],
                            labels[forget], seed=0)
    swapped = mia_efficacy(probs[retain], labels[retain], probs[test_rows], labels[test_rows], probs[retain],
                           labels[retain], seed=0)
    assert got.mia_efficacy == pytest.approx(expected) and expected != pytest.approx(swapped)
    assert got.mia == pytest.approx(loss_mia(losses[forget], losses[test_rows], seed=0).accuracy)


def test_gap_to_retrain_is_the_mean_of_four_unequal_differences():
    """UA, RA, TA and MIA-efficacy differ by 0.4, 0, 0.2 and 0.2: the mean is 0.2 (max would give 0.4; equal
    differences, as in the runner's test, cannot tell them apart). The other fields do not count."""
    from unlearning.metrics.evaluate import Evaluation

    def evaluation(forget, retain, test, efficacy, other):
        return Evaluation(retain_accuracy=retain, retain_loss=other, forget_accuracy=forget, forget_loss=other,
                          test_accuracy=test, test_loss=other, train_accuracy=other, train_loss=other,
                          completeness=other, mia=other, mia_chance=0.5, mia_balanced=other,
                          mia_balanced_chance=0.5, mia_efficacy=efficacy)

    method, retrain = evaluation(0.9, 0.95, 0.8, 0.3, 0.0), evaluation(0.5, 0.95, 0.6, 0.5, 1.0)
    assert gap_to_retrain(method, retrain) == pytest.approx(0.2)
    assert gap_to_retrain(retrain, method) == pytest.approx(0.2)


def test_non_finite_settings_and_one_fold_are_refused():
    from unlearning.config import UnlearningConfig
    from unlearning.metrics.mia import loss_mia

    for name in ("lr", "momentum", "weight_decay", "l1_gamma"):
        with pytest.raises(ValueError, match=f"UnlearningConfig.{name} must be .*finite"):
            UnlearningConfig(**{name: float("inf")})
    with pytest.raises(ValueError, match="folds must be an int >= 2"):
        loss_mia(np.ones(5), np.zeros(5), folds=1)


@pytest.mark.parametrize("call, match", [
    # a label array of the wrong length used to score only part of the rows
    (lambda p, y: per_example_loss(p, y[:2]), "labels has 2 labels for the 4 rows of probs"),
    (lambda p, y: mia_efficacy(p, y, p, y, np.vstack([p, p]), y), "forget_labels has 4 labels for the 8 rows"),
    # -1 used to wrap to the last class
    (lambda p, y: per_example_loss(p, np.array([0, 1, -1, 2])), r"labels must lie in \[0, 3\)"),
    (lambda p, y: mia_efficacy(p, y, p, y, p, np.full(4, -1)), r"forget_labels must lie in \[0, 3\)"),
    (lambda p, y: per_example_loss(p, y.astype(float)), "1-D array of integer class labels"),
    # logits used to be read as probabilities
    (lambda p, y: mia_efficacy(np.log(p) * 3, y, p, y, p, y), "retain_probs are not probabilities.*softmax"),
    (lambda p, y: completeness(p, np.log(p)), "original_probs are not probabilities"),
    # NaN rows used to count as class 0 (two NaN arrays: completeness 1.0)
    (lambda p, y: completeness(np.full_like(p, np.nan), np.full_like(p, np.nan)),
     r"unlearned_probs holds non-finite values \(NaN or inf\) in 4 of 4 rows"),
    (lambda p, y: completeness(p[0], p[0]), r"unlearned_probs must be an \(n, K\) array"),
    (lambda p, y: mia_efficacy(p, y, p[:, :2] / p[:, :2].sum(1, keepdims=True), np.array([0, 1, 1, 0]), p, y),
     "same number of classes"),
])
def test_metrics_refuse_bad_probabilities_and_labels(call, match):
    probs, labels = _onehot([0, 1, 1, 2]), np.array([0, 1, 1, 2])
    with pytest.raises(ValueError, match=match):
        call(probs, labels)


def test_evaluate_names_a_diverged_model(digits_small, trained_cnn):
    """A model whose weights went NaN (e.g. gradient ascent run too far) is reported as such, not as a bad loss
    array the caller never passed."""
    import copy

    import torch

    train, test, split = digits_small
    diverged = copy.deepcopy(trained_cnn)
    with torch.no_grad():
        next(diverged.parameters()).fill_(float("nan"))
    with pytest.raises(ValueError, match="the unlearned model's training-set probabilities holds non-finite"):
        unlearning.evaluate(diverged, trained_cnn, train, split, test)
    with pytest.raises(ValueError, match="the original model's test-set probabilities holds non-finite"):
        unlearning.evaluate(trained_cnn, diverged, train, split, test)
    with pytest.raises(ValueError, match=r"original_test_probs has shape \(3, 10\)"):
        unlearning.evaluate(trained_cnn, trained_cnn, train, split, test,
                            original_test_probs=np.full((3, 10), 0.1))


def test_unlearning_data_runs_the_splits_own_group_check():
    """from_split compared lengths only, so a RetainForgetSplit with a lesion on both sides was accepted."""
    import torch

    from masimu_env.datasets import RetainForgetSplit
    from masimu_env.datasets.base import ImageDataset
    from unlearning.data import UnlearningData

    ds = ImageDataset("g", np.array([0, 1, 0, 1]), ["a", "b"], images=torch.zeros(4, 1, 2, 2, dtype=torch.uint8),
                      groups=np.array(["x", "y", "x", "y"]))
    split = RetainForgetSplit(retain=np.array([0, 1]), forget=np.array([2, 3]), num_samples=4)
    with pytest.raises(ValueError, match="groups have samples in both retain and forget"):
        UnlearningData.from_split(ds, split)
