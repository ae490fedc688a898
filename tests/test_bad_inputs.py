"""Bad input, as a new user would give it: one line per case.

Each ``Bad`` case calls a public helper with one thing wrong and asserts the error type and that
the message names the offending thing (a regular expression). Adding a case is adding one line to a
list. Cases whose right answer is a result, not an error (16-bit, palette or CMYK files; damaged caches),
and the cases of a single module (notebook parameters, score tables, ``set_params``) are in that module's
test file (test_data.py, test_cache.py, test_models.py, test_params.py, test_scores.py, test_detectors.py).
"""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest
from conftest import Bad, cases

from helpers.attacks import resolve_params, run_attack
from helpers.data import load_folder, load_images, sample_images
from helpers.detectors import FeatureSqueezingDetector, SaliencyDetector
from helpers.emphasis import emphasis_images
from helpers.metrics import threshold_at_fpr
from helpers.models import WeightsUnavailableError, load_model
from helpers.saliency import GradCAM
from helpers.squeeze import squeezer
from helpers.transforms import apply_noise

# Arrays: rank, channels, dtype, range, NaN/Inf, empty batch, size, lists; through several entry points.
ARRAYS = {
    "rank 3": Bad(lambda e: e.detector.detect(e.x[0]), ValueError, r"x must have rank 4 .*\(16, 16, 3\)"),
    "rank 5": Bad(lambda e: e.bundle.logits(e.x[None]), ValueError, r"rank 4"),
    "grayscale": Bad(lambda e: e.detector.detect(e.x[..., :1]), ValueError, r"1 channel \(grayscale\)"),
    "RGBA": Bad(lambda e: e.detector.detect(np.concatenate([e.x, e.x[..., :1]], -1)), ValueError, "RGBA"),
    "channels first": Bad(lambda e: e.bundle.logits(e.x.transpose(0, 3, 1, 2)), ValueError, "3 channels"),
    "bool dtype": Bad(lambda e: e.detector.detect(e.x > 100), TypeError, "numeric dtype.*bool"),
    "string dtype": Bad(lambda e: e.detector.detect(e.x.astype(str)), TypeError, "numeric dtype"),
    "object dtype": Bad(lambda e: e.detector.detect(e.x.astype(object)), TypeError, "numeric dtype.*object"),
    "negative values": Bad(lambda e: e.detector.detect(e.x - 10), ValueError, r"\[0, 255\].*range \[-9.9"),
    "above 255": Bad(lambda e: run_attack("fgsm", e.bundle, e.x * 2), ValueError, r"\[0, 255\]"),
    "[0, 1] units, detector": Bad(lambda e: e.detector.detect(e.x / 255), ValueError, r"\[0, 1\] data.*x \* 255"),
    "[0, 1] units, attack": Bad(lambda e: run_attack("fgsm", e.bundle, e.x / 255), ValueError, r"\[0, 1\] data"),
    "[0, 1] units, Grad-CAM": Bad(lambda e: GradCAM(e.bundle.model, "conv2")(e.x / 255), ValueError, r"\[0, 1\]"),
    "[0, 1] units, squeezing": Bad(lambda e: FeatureSqueezingDetector(e.bundle, ["median:2x2"], "label_change")
                                   .detect(e.x / 255), ValueError, r"\[0, 1\] data"),
    "NaN": Bad(lambda e: e.detector.detect(np.where(e.x > 250, np.nan, e.x)), ValueError, "NaN"),
    "Inf": Bad(lambda e: e.bundle.predict(np.where(e.x > 250, np.inf, e.x)), ValueError, "NaN or Inf"),
    "empty batch": Bad(lambda e: e.detector.detect(e.x[:0]), ValueError, "empty batch"),
    "empty batch, attack": Bad(lambda e: run_attack("pgd", e.bundle, e.x[:0]), ValueError, "empty batch"),
    "wrong size": Bad(lambda e: e.detector.detect(np.zeros((1, 32, 32, 3)) + 9), ValueError, "16x16 pixels"),
    "nested list": Bad(lambda e: e.detector.detect(e.x.tolist()), TypeError, "numpy array"),
    "noise on a list": Bad(lambda e: apply_noise(e.x.tolist(), "zero_mean"), TypeError, "numpy array"),
    "emphasis of [0, 1] data": Bad(lambda e: emphasis_images(e.x / 255, np.ones((3, 2, 2)), 0.1), ValueError,
                                   r"x_noised looks like \[0, 1\]"),
    "labels out of range": Bad(lambda e: run_attack("fgsm", e.bundle, e.x, np.array([0, 1, 9])), ValueError,
                               r"y must be class indices in \[0, 4\]"),
    "labels as floats": Bad(lambda e: run_attack("fgsm", e.bundle, e.x, np.array([0.0, 1, 2])), TypeError,
                            "y must hold integer"),
    "labels, wrong count": Bad(lambda e: run_attack("fgsm", e.bundle, e.x, np.array([0, 1])), ValueError,
                               r"y must have shape \(3,\)"),
}

# Parameters: names, types and ranges for models, attacks, noises, theta, eps, fpr, n and batch size.
PARAMETERS = {
    "unknown model": Bad(lambda e: load_model("vgg19"), ValueError, "unknown model name 'vgg19'.*'vgg16'"),
    "lite0 with other weights": Bad(lambda e: load_model("efficientnet_lite0", "w.h5"), ValueError,
                                    "weights must be 'imagenet'"),
    "missing weights file": Bad(lambda e: load_model("vgg16", "/no/such.h5"), WeightsUnavailableError,
                                "/no/such.h5"),
    "missing .keras file": Bad(lambda e: load_model("/no/model.keras", preprocessing="tf"),
                               WeightsUnavailableError, "model file not found: /no/model.keras"),
    ".keras without preprocessing": Bad(lambda e: load_model("m.keras"), ValueError, "preprocessing=.*caffe"),
    "unknown preprocessing": Bad(lambda e: load_model("m.keras", preprocessing="imagenet"), ValueError,
                                 "unknown preprocessing 'imagenet'"),
    "unknown attack": Bad(lambda e: run_attack("jsma", e.bundle, e.x), ValueError, "unknown attack 'jsma'.*'fgsm'"),
    "unknown attack parameter": Bad(lambda e: resolve_params("fgsm", {"epsilon": 0.1}), ValueError,
                                    r"unknown parameter\(s\) \['epsilon'\] for attack 'fgsm'; valid: eps"),
    "eps as a string": Bad(lambda e: resolve_params("fgsm", {"eps": "0.01"}), TypeError, "fgsm eps must be a number"),
    "eps zero": Bad(lambda e: resolve_params("pgd", {"eps": 0.0}), ValueError, r"pgd eps must lie in \(0, inf\]"),
    "eps in grey levels": Bad(lambda e: resolve_params("bim", {"eps": 8}), ValueError, r"\[0, 1\] units.*2/255"),
    "max_iter a float": Bad(lambda e: resolve_params("pgd", {"max_iter": 2.5}), TypeError, "max_iter must be an int"),
    "max_iter zero": Bad(lambda e: resolve_params("cw_l2", {"max_iter": 0}), ValueError, "max_iter must be .* >= 1"),
    "targeted as a string": Bad(lambda e: resolve_params("cw_l2", {"targeted": "yes"}), TypeError,
                                "targeted must be True or False"),
    "negative confidence": Bad(lambda e: resolve_params("cw_l2", {"confidence": -1.0}), ValueError, "confidence"),
    "unknown noise": Bad(lambda e: SaliencyDetector(e.bundle, noise="blur"), ValueError,
                         "unknown noise 'blur'.*'color_reverse'"),
    "unknown zero-mean reference": Bad(lambda e: apply_noise(e.x, "zero_mean", "black"), ValueError,
                                       "unknown zero_mean_reference 'black'.*'imagenet'"),
    "unknown colour map": Bad(lambda e: SaliencyDetector(e.bundle, colormap="viridis"), ValueError,
                              "unknown colour map 'viridis'"),
    "unknown overlay order": Bad(lambda e: SaliencyDetector(e.bundle, overlay_order="late"), ValueError,
                                 "unknown overlay order 'late'"),
    "unknown decision": Bad(lambda e: SaliencyDetector(e.bundle, decision="vote"), ValueError, "unknown decision"),
    "unknown squeezer": Bad(lambda e: squeezer("blur:3"), ValueError, "unknown squeezer 'blur:3'"),
    "theta as a string": Bad(lambda e: SaliencyDetector(e.bundle, theta="0.1"), TypeError, "theta must be a number"),
    "theta above 1": Bad(lambda e: SaliencyDetector(e.bundle, theta=1.5), ValueError, r"theta must lie in \[0, 1\]"),
    "theta negative": Bad(lambda e: SaliencyDetector(e.bundle, theta=[0.1, -0.1]), ValueError, "theta must lie"),
    "theta NaN": Bad(lambda e: SaliencyDetector(e.bundle, theta=float("nan")), ValueError, "theta must lie"),
    "theta empty": Bad(lambda e: SaliencyDetector(e.bundle, theta=[]), ValueError, "non-empty sequence"),
    "theta 2-d": Bad(lambda e: SaliencyDetector(e.bundle, theta=[[0.1]]), ValueError, "1-d sequence"),
    "fpr as a string": Bad(lambda e: e.detector.fit(e.x, fpr="0.05"), TypeError, "fpr must be a number"),
    "fpr of 1": Bad(lambda e: threshold_at_fpr([0.1, 0.2], 1.0), ValueError, r"fpr must lie in \[0, 1\)"),
    "fpr negative": Bad(lambda e: threshold_at_fpr([0.1, 0.2], -0.1), ValueError, "fpr must lie"),
    "n as a word": Bad(lambda e: sample_images("two"), TypeError, "n must be an integer, got 'two'"),
    "n zero": Bad(lambda e: sample_images(0), ValueError, r"n must lie in \[1, "),
    "n above the photographs": Bad(lambda e: sample_images(10_000), ValueError, "n must lie in.*photographs"),
    "n above the folder": Bad(lambda e: load_folder(e.one_file["good.png"], n=5), ValueError,
                              "n=5 images requested but folder .* holds only 1"),
    "n a float": Bad(lambda e: load_folder(e.folder, n=2.0), TypeError, "n must be an integer"),
    "batch size zero": Bad(lambda e: e.detector.detect(e.x, batch_size=0), ValueError, "batch_size must be .* >= 1"),
    "batch size a float": Bad(lambda e: run_attack("fgsm", e.bundle, e.x, batch_size=1.5), TypeError, "batch_size"),
    "batch size True": Bad(lambda e: e.bundle.logits(e.x, batch_size=True), TypeError, "batch_size"),
    "unknown on_error": Bad(lambda e: load_folder(e.folder, on_error="ignore"), ValueError, "unknown on_error"),
    "unknown colour policy": Bad(lambda e: load_folder(e.folder, color_policy="gray"), ValueError,
                                 "unknown color_policy 'gray'"),
}

# Files: missing, empty, truncated, zero-byte, non-image, huge dimensions.
FILES = {
    "missing folder": Bad(lambda e: load_folder(e.tmp / "nope"), FileNotFoundError, "image folder not found.*nope"),
    "a file, not a folder": Bad(lambda e: load_folder(e.folder / "good.png"), ValueError, "is a file, not a folder"),
    "empty folder": Bad(lambda e: load_folder(e.tmp), ValueError, "no JPEG or PNG images in folder"),
    "zero-byte file": Bad(lambda e: load_folder(e.one_file["zero_bytes.jpg"]), ValueError,
                          "cannot read image .*zero_bytes.jpg"),
    "text named .jpg": Bad(lambda e: load_folder(e.one_file["not_an_image.jpg"]), ValueError,
                           "cannot read image .*not_an_image.jpg"),
    "truncated PNG": Bad(lambda e: load_folder(e.one_file["truncated.png"]), ValueError,
                         "cannot read image .*truncated.png"),
    "truncated JPEG": Bad(lambda e: load_folder(e.one_file["truncated.jpg"]), ValueError,
                          "cannot read image .*truncated.jpg.*truncated"),
    "huge dimensions": Bad(lambda e: load_folder(e.one_file["huge.png"]), ValueError,
                           r"cannot read image .*huge.png.*10000000000 pixels"),
    "one bad file among good ones": Bad(lambda e: load_folder(e.folder), ValueError, "cannot read image"),
    "grey refused on request": Bad(lambda e: load_folder(e.one_file["grey.png"], color_policy="error"), ValueError,
                                   r"grey.png: image mode L is not RGB \(color_policy='error'\)"),
}


@pytest.mark.parametrize("case", cases(ARRAYS) + cases(PARAMETERS) + cases(FILES))
def test_bad_input_gets_a_clear_error(env, case):
    with pytest.raises(case.error, match=case.match):
        case.call(env)


# Bad input refused before any work (no image scored, no model built), and the name set_params refuses.
def never_scores(detector):
    """The detector, failing the test if it scores anything (arguments are checked before any work)."""
    detector.evaluate = lambda *a, **k: pytest.fail("scored before checking its arguments")
    return detector


BEFORE_ANY_WORK = {
    "label 5000": Bad(lambda e: load_images(e.odd_folders["label 5000"], e.bundle, None), ValueError,
                      r"not classes of the model, which has 5 \(0..4\): \['good.png: 5000'\]"),
    "a file listed twice": Bad(lambda e: load_folder(e.odd_folders["listed twice"]), ValueError,
                               r"line 4: file 'good.png' is listed again \(first on line 2, label 3; here label 4\)"),
    "dangling link": Bad(lambda e: load_folder(e.odd_folders["dangling link"]), ValueError,
                         "cannot read image .*gone.png"),
    "decompression bomb": Bad(lambda e: load_folder(e.one_file["huge.png"]), ValueError,
                              r"huge.png.*PIL.Image.MAX_IMAGE_PIXELS = <pixels>"),
    "decision score, no fit": Bad(lambda e: never_scores(SaliencyDetector(e.bundle, decision="score")).detect(e.x),
                                  RuntimeError, "needs a threshold: call fit"),
    "fpr -0.1": Bad(lambda e: never_scores(SaliencyDetector(e.bundle)).fit(e.x, fpr=-0.1), ValueError,
                    r"fpr must lie in \[0, 1\), got -0.1"),
    "fpr 1.0": Bad(lambda e: never_scores(SaliencyDetector(e.bundle)).fit(e.x, fpr=1.0), ValueError, "fpr must lie"),
    "fpr 1.5": Bad(lambda e: never_scores(SaliencyDetector(e.bundle)).fit(e.x, fpr=1.5), ValueError, "fpr must lie"),
    "fpr NaN": Bad(lambda e: never_scores(SaliencyDetector(e.bundle)).fit(e.x, fpr=np.nan), ValueError, "got nan"),
    "fpr '0.05'": Bad(lambda e: never_scores(SaliencyDetector(e.bundle)).fit(e.x, fpr="0.05"), TypeError,
                      "fpr must be a number, got '0.05'"),
    "squeezing fpr -0.1": Bad(lambda e: never_scores(FeatureSqueezingDetector(e.bundle, ["median:2x2"]))
                              .fit(e.x, fpr=-0.1), ValueError, "fpr must lie"),
    "squeezing fpr 1.5": Bad(lambda e: never_scores(FeatureSqueezingDetector(e.bundle, ["median:2x2"]))
                             .fit(e.x, fpr=1.5), ValueError, "fpr must lie"),
    "a 1-byte weights file": Bad(lambda e: load_model("vgg16", weights=e.one_byte), WeightsUnavailableError,
                                 r"one_byte.h5 is not an HDF5 file .*1 bytes"),
    "set_params: unknown name": Bad(lambda e: SaliencyDetector(e.bundle).set_params(thetas=[0.3]), ValueError,
                                    r"no parameter\(s\) \['thetas'\]; settable: \['decision', 'theta'"),
}


@pytest.fixture
def guarded_env(env, odd_folders, monkeypatch):
    """``env`` with the odd folders, and a model constructor that fails the test if a model is built."""
    one_byte = env.tmp / "one_byte.h5"
    one_byte.write_bytes(b"g")
    monkeypatch.setattr(keras.applications, "VGG16", lambda *a, **k: pytest.fail("built the model first"))
    return SimpleNamespace(**vars(env), odd_folders=odd_folders, one_byte=one_byte)


@pytest.mark.parametrize("case", cases(BEFORE_ANY_WORK))
def test_bad_input_gets_a_clear_error_before_any_work(guarded_env, case):
    with pytest.raises(case.error, match=case.match):
        case.call(guarded_env)
