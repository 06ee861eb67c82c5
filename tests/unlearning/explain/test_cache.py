"""On-disk cache: hits, misses on any change, atomic files, unreadable entries."""

import dataclasses

import numpy as np
import pytest
import torch

from unlearning.explain import ExplainConfig, explain, model_fingerprint

CONFIG = ExplainConfig(num_samples=60, grid=(2, 2))


def test_hit_returns_stored_result_without_running_the_model(tmp_path, grey_model, grey_images):
    first = explain(grey_model, grey_images, config=CONFIG, cache_dir=tmp_path)
    calls = grey_model.forward_calls
    assert calls > 0 and len(list(tmp_path.glob("*.npz"))) == 1
    second = explain(grey_model, grey_images, config=CONFIG, cache_dir=tmp_path)
    assert grey_model.forward_calls == calls
    # the entry keeps what the explanations cost, so timings built on a cached run stay honest
    assert not first.from_cache and second.from_cache and first.compute_seconds > 0
    assert second.compute_seconds == first.compute_seconds
    for name in ("coefs", "labels", "intercepts", "segment_coefs", "num_segments"):
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
    assert second.grid == first.grid
    # batch_size changes only rounding, so it shares the entry
    explain(grey_model, grey_images, config=dataclasses.replace(CONFIG, batch_size=7),
            cache_dir=tmp_path)
    assert grey_model.forward_calls == calls
    assert not list(tmp_path.glob("*.tmp*"))  # no temporary file (names end in .tmp or .tmp.npz) is left


def test_changed_model_invalidates(tmp_path, grey_model, grey_images):
    before = explain(grey_model, grey_images, config=CONFIG, cache_dir=tmp_path)
    fingerprint = model_fingerprint(grey_model)
    with torch.no_grad():
        grey_model.conv.weight.mul_(-1.0)
    assert model_fingerprint(grey_model) != fingerprint
    calls = grey_model.forward_calls
    after = explain(grey_model, grey_images, config=CONFIG, cache_dir=tmp_path)
    assert grey_model.forward_calls > calls
    assert not np.allclose(after.coefs, before.coefs)
    assert len(list(tmp_path.glob("*.npz"))) == 2


@pytest.mark.parametrize("change", ["images", "labels", "config", "backend"])
def test_other_changes_miss(tmp_path, grey_model, grey_images, change):
    explain(grey_model, grey_images, config=CONFIG, cache_dir=tmp_path)
    images, labels, config = grey_images, None, CONFIG
    if change == "images":
        images = grey_images.clone()
        images[0, 0, 0, 0] ^= 1
    elif change == "labels":
        labels = [0, 0, 0]
    elif change == "config":
        config = dataclasses.replace(CONFIG, num_samples=61)
    else:
        config = dataclasses.replace(CONFIG, backend="lime")
    calls = grey_model.forward_calls
    explain(grey_model, images, labels, config=config, cache_dir=tmp_path)
    assert grey_model.forward_calls > calls
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_unreadable_entry_warns_and_is_recomputed(tmp_path, grey_model, grey_images):
    first = explain(grey_model, grey_images, config=CONFIG, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(b"not an npz file")
    with pytest.warns(UserWarning, match="unreadable LIME cache entry"):
        again = explain(grey_model, grey_images, config=CONFIG, cache_dir=tmp_path)
    np.testing.assert_allclose(again.coefs, first.coefs)
    with np.load(entry) as stored:  # rewritten
        np.testing.assert_allclose(stored["coefs"], first.coefs)


def test_entry_without_compute_seconds_is_recomputed_with_a_warning(tmp_path, grey_model, grey_images):
    first = explain(grey_model, grey_images, config=CONFIG, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    with np.load(entry) as stored:
        arrays = {name: stored[name] for name in stored.files if name != "compute_seconds"}
    np.savez(entry, **arrays)
    calls = grey_model.forward_calls
    with pytest.warns(UserWarning, match="lacks 'compute_seconds'; recomputing"):
        again = explain(grey_model, grey_images, config=CONFIG, cache_dir=tmp_path)
    assert grey_model.forward_calls > calls and not again.from_cache
    np.testing.assert_array_equal(again.coefs, first.coefs)


def test_callable_segmentations_key_the_cache_by_code_not_address():
    """The key held repr(fn), with a memory address that changes every process, so a rerun never hit the cache."""
    from unlearning.explain.cache import _config_description

    source = "def segment(image):\n    return (image[..., 0] > {threshold}).astype('int64')\n"

    def build(threshold):
        namespace = {}
        exec(source.format(threshold=threshold), namespace)  # a fresh function object each time
        return namespace["segment"]

    first, again, other = build(0.5), build(0.5), build(0.25)
    described = _config_description(ExplainConfig(segmentation=first))["segmentation"]
    assert "0x" not in described
    assert described == _config_description(ExplainConfig(segmentation=again))["segmentation"]
    assert described != _config_description(ExplainConfig(segmentation=other))["segmentation"]


def test_closures_keep_their_state_in_the_key_and_nested_code_hashes_without_addresses():
    """Closures over different values got one key (a stale table came back); a function holding a generator
    expression got a new key in every process (the nested code object's repr holds its address)."""
    from unlearning.explain.cache import _config_description

    def seg_with(cells):
        return lambda image: (image[..., 0] * cells).astype("int64")

    key = lambda fn: _config_description(ExplainConfig(segmentation=fn))["segmentation"]  # noqa: E731
    assert key(seg_with(4)) != key(seg_with(16))
    namespace = {}
    exec("def nested(image):\n    return sum(int(v) for v in image.shape) * image[..., 0].astype('int64')\n",
         namespace)
    assert "0x" not in key(namespace["nested"])
