import hashlib
import warnings

import h5py
import keras
import numpy as np
import pytest
from conftest import flip_middle

from helpers import efficientnet_lite
from helpers.data import sample_images
from helpers.models import IMAGENET_MEAN_RGB, LITE_MODELS, WeightsUnavailableError, load_model
from helpers.torch_legacy import CheckpointError


def test_lite0_bundle_and_reference_predictions(lite0, photos):
    assert lite0.model.count_params() == 4_694_024
    assert lite0.input_size == (224, 224) and lite0.n_classes == 1000
    assert lite0.crop_fraction == pytest.approx(224 / 256)
    assert lite0.class_names[282] == "tiger cat"
    labels, conf = lite0.predict(photos.x)
    top3 = np.argsort(-lite0.logits(photos.x), axis=1)[:, :3]
    ids = list(photos.ids)
    # Reference predictions of the PyTorch model (shared/notes/facts.md).
    assert set(top3[ids.index("skimage/chelsea")]) == {282, 285, 281}
    assert labels[ids.index("skimage/coffee")] == 967
    assert conf[ids.index("skimage/coffee")] == pytest.approx(0.95, abs=0.01)


@pytest.mark.parametrize("name, size, n_params", [("efficientnet_lite1", 240, 5_470_344),
                                                   ("efficientnet_lite2", 260, 6_150_168)])
def test_lite1_and_lite2_bundles_and_known_photographs(name, size, n_params):
    bundle = load_model(name)
    assert bundle.model.count_params() == n_params  # every checkpoint tensor used, shapes checked on loading
    assert bundle.input_size == (size, size) and bundle.crop_fraction == pytest.approx(size / (size + 32))
    assert bundle.resize_method == "bicubic" and bundle.gradcam_layer == efficientnet_lite.GRADCAM_LAYER
    photos = sample_images(8, bundle.input_size, bundle.crop_fraction, bundle.resize_method)
    assert photos.x.shape == (8, size, size, 3)
    labels, conf = bundle.predict(photos.x)
    top3 = np.argsort(-bundle.logits(photos.x), axis=1)[:, :3]
    ids = list(photos.ids)
    assert set(top3[ids.index("skimage/chelsea")]) == {281, 282, 285}  # tabby, tiger cat, Egyptian cat
    assert labels[ids.index("skimage/coffee")] == 967 and conf[ids.index("skimage/coffee")] > 0.5  # espresso
    assert labels[ids.index("sklearn/china")] == 698  # palace


def test_lite_scaling_rules():
    assert efficientnet_lite.scaled_stages("lite0") == efficientnet_lite.STAGES  # Lite0 itself is unchanged
    # Lite2 (width 1.1, depth 1.2): channels rounded to multiples of 8, first and last stage not repeated more.
    assert [s[4] for s in efficientnet_lite.scaled_stages("lite2")] == [16, 24, 48, 88, 120, 208, 352]
    assert [s[0] for s in efficientnet_lite.scaled_stages("lite2")] == [1, 3, 3, 4, 4, 5, 1]
    assert [s[0] for s in efficientnet_lite.scaled_stages("lite1")] == [1, 3, 3, 4, 4, 5, 1]
    assert efficientnet_lite.round_filters(112, 1.1) == 120 and efficientnet_lite.round_filters(16, 1.1) == 16
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite variant 'lite3'.*'lite2'"):
        efficientnet_lite.build_efficientnet_lite("lite3")


def test_a_checkpoint_of_another_variant_is_rejected():
    with pytest.raises(ValueError, match="shape mismatch"):
        efficientnet_lite.load_torch_weights(efficientnet_lite.build_efficientnet_lite("lite2"),
                                             efficientnet_lite.weights_path("lite0"))


def cache_files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_weights_cache_is_created_with_a_checksum_and_reused(tmp_path, monkeypatch, photos, lite0):
    monkeypatch.setenv("SALIENCY_DETECTOR_CACHE", str(tmp_path))
    reference = lite0.logits(photos.x[:2])  # converted by the session fixture, maybe from another cache
    np.testing.assert_array_equal(load_model("efficientnet_lite0").logits(photos.x[:2]), reference)
    cached = tmp_path / "efficientnet_lite0.weights.h5"
    record = tmp_path / "efficientnet_lite0.weights.h5.sha256"
    assert record.read_text().strip() == hashlib.sha256(cached.read_bytes()).hexdigest()
    monkeypatch.setattr(efficientnet_lite, "load_torch_weights", lambda model: pytest.fail("should read the cache"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(load_model("efficientnet_lite0").logits(photos.x[:2]), reference)
    assert cache_files(tmp_path) == [".efficientnet_lite0.lock", cached.name, record.name]  # no temporary files


DAMAGE_TO_WEIGHTS_CACHE = {  # name: what it does to the cache folder; a damaged file is reported
    "flip 10 kB in the middle": lambda d: flip_middle(d / "efficientnet_lite0.weights.h5", 10_000),
    "truncate": lambda d: (d / "efficientnet_lite0.weights.h5").write_bytes(
        (d / "efficientnet_lite0.weights.h5").read_bytes()[:5_000_000]),
    "garbage": lambda d: (d / "efficientnet_lite0.weights.h5").write_bytes(b"corrupt"),
    "delete checksum": lambda d: (d / "efficientnet_lite0.weights.h5.sha256").unlink(),
    "delete weights": lambda d: (d / "efficientnet_lite0.weights.h5").unlink(),
}


@pytest.mark.parametrize("damage", DAMAGE_TO_WEIGHTS_CACHE)
def test_a_damaged_weights_cache_is_regenerated(tmp_path, monkeypatch, photos, lite0, damage):
    monkeypatch.setenv("SALIENCY_DETECTOR_CACHE", str(tmp_path))
    reference = lite0.logits(photos.x[:2])
    load_model("efficientnet_lite0")
    DAMAGE_TO_WEIGHTS_CACHE[damage](tmp_path)
    if damage.startswith("delete"):
        bundle = load_model("efficientnet_lite0")
    else:
        with pytest.warns(UserWarning, match=r"weights cache .*efficientnet_lite0.weights.h5 is unusable"):
            bundle = load_model("efficientnet_lite0")
    np.testing.assert_array_equal(bundle.logits(photos.x[:2]), reference)
    cached = tmp_path / "efficientnet_lite0.weights.h5"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == (tmp_path / f"{cached.name}.sha256").read_text().strip()
    expected = [".efficientnet_lite0.lock", cached.name, f"{cached.name}.sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == expected


def test_an_unwritable_weights_cache_warns_once_and_works_in_memory(tmp_path, monkeypatch, photos, lite0):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SALIENCY_DETECTOR_CACHE", str(blocker / "cache"))  # unwritable, even for root
    with pytest.warns(UserWarning, match=r"cannot write the weights cache .*a_file/cache.*in memory"):
        bundle = load_model("efficientnet_lite0")
    np.testing.assert_array_equal(bundle.logits(photos.x[:2]), lite0.logits(photos.x[:2]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once is enough
        load_model("efficientnet_lite0")


@pytest.mark.parametrize("name", LITE_MODELS)
def test_lite_models_accept_only_their_imagenet_weights(name):
    for weights in ("/some/file.h5", None, "imagenet21k"):
        with pytest.raises(ValueError, match=f"{name} .* weights must be 'imagenet', got {weights!r}"):
            load_model(name, weights)


def test_corrupt_torch_checkpoint_raises(tmp_path):
    bad = tmp_path / "lite0.pth"
    bad.write_bytes(efficientnet_lite.weights_path().read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match=str(bad)):
        efficientnet_lite.load_torch_weights(efficientnet_lite.build_efficientnet_lite("lite0"), bad)


def test_unknown_model_and_missing_preprocessing():
    with pytest.raises(ValueError, match="unknown model name 'vgg19'"):
        load_model("vgg19")
    with pytest.raises(ValueError, match="preprocessing"):
        load_model("mine.keras")


def test_vgg16_offline_gives_a_clear_error(tmp_path, monkeypatch):
    import keras.src.utils.file_utils as file_utils

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(WeightsUnavailableError, match="vgg16_weights_tf_dim_ordering_tf_kernels.h5"):
        load_model("vgg16")
    with pytest.raises(WeightsUnavailableError, match="not found"):
        load_model("vgg16", weights=tmp_path / "missing.h5")


def test_resnet50_from_a_local_legacy_weights_file(tmp_path, photos):
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    reference = keras.applications.ResNet50(weights=None, classifier_activation=None)
    path = tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels.h5"  # the format Keras downloads
    with h5py.File(path, "w") as f:
        save_weights_to_hdf5_group(f, reference)
    bundle = load_model("resnet50", weights=path)
    assert bundle.gradcam_layer == "conv5_block3_out" and bundle.n_classes == 1000
    x = photos.x[:2]
    caffe = x[..., ::-1] - np.array(IMAGENET_MEAN_RGB[::-1], np.float32)  # independent 'caffe' preprocessing
    np.testing.assert_allclose(bundle.logits(x), reference.predict(caffe, verbose=0), rtol=1e-4, atol=1e-4)
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"not hdf5")
    with pytest.raises(WeightsUnavailableError, match="corrupt.h5"):
        load_model("resnet50", weights=corrupt)


def test_saved_keras_model_with_softmax_output(tmp_path, rng):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="features")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    inner = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    path = tmp_path / "mine.keras"
    inner.save(path)
    bundle = load_model(str(path), preprocessing="tf", output="softmax", class_names=["a", "b", "c"])
    assert bundle.gradcam_layer == "features" and bundle.input_size == (32, 32)
    x = rng.uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    z = bundle.logits(x)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(p, inner.predict(x / 127.5 - 1, verbose=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="2 class names"):
        load_model(str(path), preprocessing="tf", class_names=["a", "b"])
    with pytest.raises(ValueError, match="unknown preprocessing"):
        load_model(str(path), preprocessing="bgr")
    with pytest.raises(WeightsUnavailableError, match="not found"):
        load_model(str(tmp_path / "other.keras"), preprocessing="tf")


def test_bundle_logits_validate_input(lite0):
    with pytest.raises(ValueError, match="224x224"):
        lite0.logits(np.zeros((1, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="empty batch"):
        lite0.predict(np.zeros((0, 224, 224, 3), np.float32))


def test_sample_photographs_are_prepared_for_the_bundle(lite0):
    s = sample_images(2, lite0.input_size, lite0.crop_fraction, lite0.resize_method)
    assert s.x.shape == (2, 224, 224, 3)
