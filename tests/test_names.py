"""helpers.names, the choices' values importable without TensorFlow, says what each implementing module accepts."""

import inspect

import numpy as np

from helpers import (
    attack_settings,
    attacks,
    efficientnet_lite,
    emphasis,
    models,
    names,
    saliency,
    transforms,
)
from helpers.adaptive import members, model, outcomes


def test_each_name_tuple_is_what_its_module_implements():
    assert tuple(saliency.SALIENCY_METHODS) == names.SALIENCY_METHODS
    assert tuple(f"efficientnet_{v}" for v in efficientnet_lite.VARIANTS) == names.LITE_MODELS
    keyword_only = [n for n, p in inspect.signature(models.load_model).parameters.items() if p.kind is p.KEYWORD_ONLY]
    assert list(names.MODEL_OPTIONS) == keyword_only
    assert (transforms.NOISES, transforms.ZERO_MEAN_REFERENCES) == (names.NOISES, names.ZERO_MEAN_REFERENCES)
    assert (emphasis.COLORMAPS, emphasis.OVERLAY_ORDERS) == (names.COLORMAPS, names.OVERLAY_ORDERS)
    assert (model.VARIANTS, model.EMPHASIS_CLIPS) == (names.VARIANTS, names.EMPHASIS_CLIPS)
    assert (outcomes.KINDS, members.LOSSES) == (names.ADAPTIVE_KINDS, names.LOSSES)
    assert set(attack_settings.ENSEMBLE_BUDGET_OF) == set(attack_settings.SETTINGS)
    assert set(attack_settings.ENSEMBLE_BUDGET_OF.values()) == set(attack_settings.ENSEMBLE_BUDGETS)
    assert attacks.SETTINGS is attack_settings.SETTINGS and set(attacks.ART_ATTACKS) <= set(attack_settings.ATTACKS)


def test_every_colormap_and_noise_runs():
    """The names are not only listed: each one is accepted by the code that implements it."""
    for name in names.COLORMAPS:
        assert emphasis.colormap_table(name).shape[-1] == 3
    x = np.full((1, 4, 4, 3), 100.0, np.float32)
    for noise in names.NOISES:
        for reference in names.ZERO_MEAN_REFERENCES:
            assert transforms.apply_noise(x, noise, reference).shape == x.shape
