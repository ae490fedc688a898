"""The vocabulary: every display name and the one rate format, against hand-written expectations."""

import math

import pandas as pd
import pytest

from helpers.labels import (
    BASELINE_LABEL,
    DetectorKey,
    attack_label,
    auc_text,
    method_label,
    model_label,
    noise_label,
    rate_text,
    squeezer_label,
)

JOINT = ("bit_depth:5", "median:2x2", "nlm:11-3-4")


def test_names_of_attacks_noises_models_and_squeezers():
    assert attack_label("cw_l2") == "C&W-L2" and attack_label("new") == "NEW"
    assert noise_label("color_reverse") == "colour reversing" and noise_label("none") == "no noise"
    assert model_label("efficientnet_lite2") == "EfficientNet-Lite2" and model_label("resnet50") == "ResNet50"
    assert model_label("my_model") == "my_model"
    assert [squeezer_label(s) for s in JOINT] == ["bit depth 5", "median 2×2", "non-local means 11-3-4"]
    assert squeezer_label("blur:3") == "blur:3" and squeezer_label("bit_depth") == "bit_depth"


def test_one_label_per_detector_configuration():
    assert DetectorKey("saliency", "color_reverse", 0.1).label == "saliency (colour reversing, θ = 0.1)"
    assert DetectorKey("saliency", "none", (0.1, 0.3)).label == "saliency (no noise, θ = 0.1, 0.3)"
    assert DetectorKey("saliency", "zero_mean", 0.3, saliency_method="layercam").label == \
        "LayerCAM saliency (zero mean, θ = 0.3)"
    assert DetectorKey("feature_squeezing", squeezers=("bit_depth:5",)).label == "bit depth 5"
    joint = DetectorKey("feature_squeezing", squeezers=JOINT)
    assert joint.label == "feature squeezing (bit depth 5, median 2×2, non-local means 11-3-4)"
    assert joint.squeezer == "bit_depth:5+median:2x2+nlm:11-3-4"
    assert DetectorKey("baseline").label == BASELINE_LABEL == "1 − max softmax (baseline)"


def test_a_key_from_a_table_row_is_the_key_it_was_written_from():
    joint = DetectorKey("feature_squeezing", squeezers=JOINT)
    assert DetectorKey.from_columns("feature_squeezing", "", math.nan, joint.squeezer, "") == joint
    saliency = DetectorKey("saliency", "zero_mean", 0.2)
    assert DetectorKey.from_columns("saliency", "zero_mean", 0.2, "", "gradcam") == saliency
    assert DetectorKey.from_columns("baseline") == DetectorKey("baseline")
    assert method_label("saliency", "none", 0.3) == "saliency (no noise, θ = 0.3)"
    assert method_label("feature_squeezing", squeezer=joint.squeezer) == joint.label
    assert len({saliency, DetectorKey("saliency", "zero_mean", 0.2)}) == 1  # frozen: a key of dicts and sets


def test_incomplete_keys_are_refused():
    with pytest.raises(ValueError, match="unknown detector 'lid'"):
        DetectorKey("lid")
    with pytest.raises(ValueError, match="needs a noise and a theta"):
        DetectorKey("saliency", "none")
    with pytest.raises(ValueError, match="at least one squeezer"):
        DetectorKey.from_columns("feature_squeezing", "", math.nan, "")


def test_one_rate_format_for_cells_and_sentences():
    assert rate_text(0.8, 0.49016, 0.94332, 10) == "80.0 [49, 94] (10)"
    assert rate_text(80.0, 49.016, 94.332, 10, percent=True) == "80.0 [49, 94] (10)"
    assert rate_text(math.nan, math.nan, math.nan, 0) == "– (0)"
    assert rate_text(0.5, 0.24, 0.76, 16, prose=True, n_photographs=8) == \
        "50.0% [24, 76] (n = 16 views of 8 photographs)"
    assert rate_text(0.5, 0.24, 0.76, 16, prose=True, n_photographs=16) == "50.0% [24, 76] (n = 16)"
    assert rate_text(0.25, 0.1, 0.5, 4, prose=True, n_photographs=pd.NA) == "25.0% [10, 50] (n = 4)"
    assert rate_text(math.nan, math.nan, math.nan, 8, prose=True) == "not measured"
    assert rate_text(math.nan, math.nan, math.nan, 8, note="not resolvable at n = 8") == "not resolvable at n = 8"
    assert auc_text(0.9234, 0.8, 0.97) == "0.92 [0.80, 0.97]"


def test_saliency_method_names_are_the_saliency_modules():
    from helpers.labels import SALIENCY_LABELS
    from helpers.saliency import SALIENCY_TITLES

    assert SALIENCY_LABELS == SALIENCY_TITLES
