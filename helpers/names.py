"""The values the toolkit's choices take (noises, colour maps, models, saliency methods, adaptive options),
importable without TensorFlow.

The modules that implement each choice import its names from here, and so does the parameter check
(``helpers.params``), so that a command line can refuse a bad value before TensorFlow is imported.
``tests/test_names.py`` checks each tuple against what its implementing module accepts.
"""

NOISES = ("none", "color_reverse", "zero_mean")  # helpers.transforms
# helpers.transforms: the RGB mean the zero-mean noise removes, per reference
ZERO_MEAN_REFERENCES = {"imagenet": (123.68, 116.779, 103.939), "gray": (127.5, 127.5, 127.5)}
COLORMAPS = ("jet", "gray")  # helpers.emphasis
OVERLAY_ORDERS = ("coarse", "upsampled")  # helpers.emphasis
SALIENCY_METHODS = ("gradcam", "gradcam++", "xgradcam", "layercam")  # helpers.saliency
LITE_MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")  # offline, ImageNet weights only
MODEL_NAMES = (*LITE_MODELS, "vgg16", "resnet50")  # helpers.models
PREPROCESSING = ("caffe", "tf", "torch", "lite0", "none")  # helpers.models: what a .keras model wants as input
# helpers.models.load_model's keyword-only options (a .keras model's model_options)
MODEL_OPTIONS = ("preprocessing", "output", "class_names", "gradcam_layer", "crop_fraction")
VARIANTS = ("bpda", "gradcam")  # helpers.adaptive: how the saliency overlay is differentiated
EMPHASIS_CLIPS = ("exact", "straight_through")  # helpers.adaptive: how the emphasis image's clip is differentiated
LOSSES = ("ce", "dlr", "margin")  # helpers.adaptive.members: the adaptive ensemble's losses
ADAPTIVE_KINDS = ("ensemble", "transferred", "square")  # helpers.adaptive.members: the adaptive ensemble, and the
# attacks its checks compare it with
