import json

import h5py
import numpy as np
import pytest

import helpers.cache as cache
from helpers.adaptive.model import adaptive_bundle
from helpers.attacks import PAPER_PARAMS
from helpers.cache import cached_attack
from helpers.data import ImageSet
from helpers.detectors import FeatureSqueezingDetector, SaliencyDetector


@pytest.fixture
def images(rng):
    x = rng.uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    return ImageSet(x, ("a", "b", "c"), np.full(3, -1, np.int32), "3 test images")


def entries(folder):
    """The cache's entries and any stray file (the lock folder .locks/ aside)."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".locks")


def test_second_call_reads_the_cache(tiny, images, tmp_path, monkeypatch):
    first = cached_attack("pgd", tiny, images, tmp_path, max_iter=2, progress=False)
    assert [n.split("-")[0] for n in entries(tmp_path)] == ["pgd", "pgd"]
    monkeypatch.setattr(cache, "run_attack", lambda *a, **k: pytest.fail("should have used the cache"))
    second = cached_attack("pgd", tiny, images, tmp_path, max_iter=2, progress=False)
    for field in ("x_adv", "success", "y", "adv_labels", "l2", "linf"):
        np.testing.assert_array_equal(getattr(second, field), getattr(first, field))
    assert second.params == first.params and second.seconds == first.seconds


def test_cached_examples_are_exact_compressed_and_readable_by_rows(toy, tmp_path, monkeypatch):
    from conftest import stripes

    x = stripes(5, seed=6)[0]
    images = ImageSet(x, tuple("abcde"), np.full(5, -1, np.int32), "5 stripes")
    fresh = cached_attack("fgsm", toy, images, tmp_path, eps=8 / 255, progress=False)
    monkeypatch.setattr(cache, "run_attack", lambda *a, **k: pytest.fail("should have used the cache"))
    loaded = cached_attack("fgsm", toy, images, tmp_path, eps=8 / 255, progress=False)
    np.testing.assert_array_equal(loaded.x_adv, fresh.x_adv)  # lossless: the same bytes...
    np.testing.assert_array_equal(toy.predict(loaded.x_adv)[0], fresh.adv_labels)  # ...hence the same labels
    h5 = next(tmp_path.glob("fgsm-*.h5"))
    with h5py.File(h5) as f:
        assert f["x_adv"].chunks == (1, 16, 16, 3) and f["x_adv"].compression == "gzip" and f["x_adv"].shuffle
    np.testing.assert_array_equal(cache.read_examples(h5, slice(1, 3)), fresh.x_adv[1:3])
    np.testing.assert_array_equal(cache.read_examples(h5, [0, 4]), fresh.x_adv[[0, 4]])


def test_entries_of_the_npz_format_are_cache_misses(tiny, images, tmp_path):
    first = cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    stem = next(tmp_path.glob("*.h5")).with_suffix("")
    stem.with_suffix(".h5").rename(stem.with_suffix(".npz"))  # as the earlier format left it
    again = cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    np.testing.assert_array_equal(again.x_adv, first.x_adv)
    assert stem.with_suffix(".h5").is_file()


def test_any_change_of_key_regenerates(tiny, images, tmp_path):
    cached_attack("pgd", tiny, images, tmp_path, max_iter=2, progress=False)
    cached_attack("pgd", tiny, images, tmp_path, max_iter=3, progress=False)
    cached_attack("pgd", tiny, images, tmp_path, max_iter=2, seed=1, progress=False)
    other = ImageSet(images.x[::-1].copy(), images.ids, images.labels, "reversed")
    cached_attack("pgd", tiny, other, tmp_path, max_iter=2, progress=False)
    assert len(entries(tmp_path)) == 8  # four distinct keys, two files each


def test_corrupt_or_partial_entries_are_regenerated(tiny, images, tmp_path):
    first = cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    h5 = next(tmp_path.glob("*.h5"))
    h5.write_bytes(h5.read_bytes()[:100])
    with pytest.warns(UserWarning, match="ignoring unusable attack cache entry"):
        again = cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    np.testing.assert_array_equal(again.x_adv, first.x_adv)
    js = next(tmp_path.glob("*.json"))
    record = json.loads(js.read_text())
    record["meta"]["params"]["eps"] = 0.5  # a stale entry under the right name
    js.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match="mismatch"):
        cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    js.unlink()  # arrays without their JSON: treated as missing
    cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    assert len(entries(tmp_path)) == 2


def test_interrupted_generation_leaves_no_partial_file(tiny, images, tmp_path, monkeypatch):
    def interrupted(tmp, arrays):
        with open(tmp, "wb") as f:
            f.write(b"half an HDF5 file")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "_write_arrays", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cached_attack("fgsm", tiny, images, tmp_path, progress=False)
    assert entries(tmp_path) == []


def test_attack_sets_apply_settings_then_overrides(tiny, images, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cache, "cached_attack", lambda name, *a, **k: calls.append((name, k)))
    cache.attack_sets(tiny, images, ["pgd", "cw_l2"], tmp_path, "paper", {"pgd": {"max_iter": 2}}, seed=3)
    (pgd, pgd_kwargs), (cw, cw_kwargs) = calls
    assert pgd == "pgd" and pgd_kwargs["max_iter"] == 2 and pgd_kwargs["eps_step"] == PAPER_PARAMS["pgd"]["eps_step"]
    assert cw == "cw_l2" and cw_kwargs["binary_search_steps"] == 9 and cw_kwargs["seed"] == 3
    with pytest.raises(ValueError, match="unknown attack_settings 'paperr'"):
        cache.attack_sets(tiny, images, ["pgd"], tmp_path, "paperr")


def test_black_box_queries_and_the_guarding_detector_are_cached(tiny, images, tmp_path, monkeypatch):
    params = {"max_iter": 1, "max_eval": 10, "init_eval": 5, "init_size": 3}
    detector = SaliencyDetector(tiny, theta=[0.1, 0.3])
    first = cached_attack("hopskipjump", tiny, images, tmp_path, detector=detector, progress=False, **params)
    assert first.queries is not None and first.queries.min() > 0
    cached_attack("hopskipjump", tiny, images, tmp_path, progress=False, **params)  # no detector: another key
    cached_attack("hopskipjump", tiny, images, tmp_path, detector=SaliencyDetector(tiny, theta=[0.1]),
                  progress=False, **params)
    assert len(entries(tmp_path)) == 6
    monkeypatch.setattr(cache, "run_attack", lambda *a, **k: pytest.fail("should have used the cache"))
    again = cached_attack("hopskipjump", tiny, images, tmp_path, detector=SaliencyDetector(tiny, theta=[0.1, 0.3]),
                          progress=False, **params)  # an equal detector: the same key
    np.testing.assert_array_equal(again.queries, first.queries)
    np.testing.assert_array_equal(again.x_adv, first.x_adv)


def test_detector_fingerprint_follows_settings_and_threshold(tiny, images):
    a = cache.detector_fingerprint(SaliencyDetector(tiny, theta=[0.1, 0.3], noise="zero_mean"))
    assert a["type"] == "SaliencyDetector" and a["settings"]["thetas"] == [0.1, 0.3]
    assert a["settings"]["noise"] == "zero_mean" and a["settings"]["overlay_order"] == "coarse"
    fitted = SaliencyDetector(tiny, theta=[0.1, 0.3], noise="zero_mean", decision="score").fit(images.x)
    assert cache.detector_fingerprint(fitted)["settings"]["threshold"] is not None
    squeezing = cache.detector_fingerprint(FeatureSqueezingDetector(tiny, ("median:2x2",), channel_order="bgr"))
    assert squeezing["settings"]["squeezers"] == ["median:2x2"] and squeezing["settings"]["channel_order"] == "bgr"
    assert cache.detector_fingerprint(None) is None


def test_adaptive_attacks_are_cached_under_their_settings(tiny, images, tmp_path):
    first = cached_attack("pgd", adaptive_bundle(tiny, [0.1, 0.3]), images, tmp_path, max_iter=2, progress=False)
    again = cached_attack("pgd", adaptive_bundle(tiny, [0.1, 0.3]), images, tmp_path, max_iter=2, progress=False)
    np.testing.assert_array_equal(again.x_adv, first.x_adv)
    cached_attack("pgd", adaptive_bundle(tiny, [0.1, 0.3], variant="gradcam"), images, tmp_path, max_iter=2,
                  progress=False)
    cached_attack("pgd", adaptive_bundle(tiny, [0.1]), images, tmp_path, max_iter=2, progress=False)
    assert len(entries(tmp_path)) == 6
